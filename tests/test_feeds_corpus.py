"""Real-world feeds (../shared/data/feeds): nothing crashes, and our entries agree with two
other parsers' published expectations, except for the documented differences below."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import pytest

from pipeline.errors import ErrorClass, StorylineError
from pipeline.feeds import parse_feed, plain_text
from pipeline.records import FeedEntry
from pipeline.urls import canonicalize_url

pytestmark = pytest.mark.corpus

FEED_URL = "https://feeds.example.test/feed.xml"
# Later than every date in the corpus, so no entry is clamped as "published in the future".
NOW = datetime(2030, 1, 1, tzinfo=UTC)
CLASSIFIED = {ErrorClass.NOT_A_FEED, ErrorClass.PARSE}
MIN_DOCUMENTS = 2_100  # the three sets hold ~2,200 documents; fewer means a broken glob
_DECLARED_CONTENT_TYPE = re.compile(r"Header:\s*Content-type:\s*([^\r\n]+)", re.IGNORECASE)


class Difference(StrEnum):
    """Justified ways in which the other parser's expectation differs from ours."""

    # feedparser follows RSS 2.0: a <guid> without isPermaLink="false" (or an http(s) Atom id)
    # is the entry's link; feed-rs reports no link. feed-rs's id loses the fragment's tail, so
    # these links are compared as canonical URLs (fragment dropped anyway).
    ID_IS_LINK = "id_is_link"
    # rss-parser keeps the HTML markup and character references of CDATA titles verbatim.
    MARKUP_IN_TITLE = "markup_in_title"
    # rss-parser decoded a windows-1252 feed as UTF-8: every non-UTF-8 byte became U+FFFD,
    # where we decode the real character.
    MISDECODED_TITLE = "misdecoded_title"


FEED_RS_DIFFERENCES = {
    "atom/atom_xml_base.xml": Difference.ID_IS_LINK,
    "rss2/rss_2.0_spec_1.xml": Difference.ID_IS_LINK,
}
RSS_PARSER_DIFFERENCES = {
    "craigslist.rss": Difference.MARKUP_IN_TITLE,
    "uolNoticias.rss": Difference.MISDECODED_TITLE,
}


@dataclass(frozen=True)
class Expected:
    """One entry as the other parser saw it."""

    title: str
    link: str
    guid: str


@pytest.fixture(scope="module")
def feeds_dir(data_dir: Path) -> Path:
    path = data_dir / "feeds"
    if not path.is_dir():
        pytest.skip(f"feed corpus not found at {path} (set STORYLINE_DATA_DIR)")
    return path


def _parse(path: Path, content_type: str = "") -> list[FeedEntry]:
    return parse_feed(path.read_bytes(), FEED_URL, content_type=content_type, now=NOW)


def _declared_content_type(body: bytes) -> str:
    """The Content-type a feedparser test document asks to be served with ("" if none)."""
    head = body[:4096]
    # UTF-16/32 documents carry their header comment in their own encoding.
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        match = _DECLARED_CONTENT_TYPE.search(head.decode(encoding, errors="ignore"))
        if match:
            return match.group(1).strip()
    return ""


def _documents(feeds_dir: Path) -> Iterator[tuple[Path, str]]:
    """Every input document of the three sets, with the content type to serve it with."""
    for path in sorted((feeds_dir / "feedparser-tests").rglob("*")):
        if path.suffix in {".xml", ".json"}:
            yield path, _declared_content_type(path.read_bytes())
    for path in sorted((feeds_dir / "feed-rs-fixtures" / "fixture").rglob("*")):
        if path.is_file() and not path.name.endswith(".serde.json"):
            yield path, ""
    for path in sorted((feeds_dir / "rss-parser-node" / "input").iterdir()):
        yield path, ""


def test_every_document_parses_or_fails_classified(feeds_dir: Path) -> None:
    failures: list[str] = []
    count = 0
    for path, content_type in _documents(feeds_dir):
        count += 1
        try:
            _parse(path, content_type)
        except StorylineError as exc:
            if exc.error_class not in CLASSIFIED:
                failures.append(f"{path.relative_to(feeds_dir)}: unexpected class {exc}")
        except Exception as exc:  # noqa: BLE001 - the point is to catch anything unclassified
            failures.append(f"{path.relative_to(feeds_dir)}: {type(exc).__name__}: {exc}")
    assert count >= MIN_DOCUMENTS, f"only {count} documents found under {feeds_dir}"
    assert failures == []


def test_known_non_feed_is_classified_not_a_feed(feeds_dir: Path) -> None:
    # rss-parser's "unrecognized" input is an HTML redirect page served in place of a feed.
    with pytest.raises(StorylineError) as caught:
        _parse(feeds_dir / "rss-parser-node" / "input" / "unrecognized.rss")
    assert caught.value.error_class is ErrorClass.NOT_A_FEED


def _url_form(url: str) -> str:
    """RFC 3986 syntax-based normalisation: case of scheme and host, empty path is "/"."""
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, parts.fragment)
    )


def _as_we_expect(theirs: list[Expected], difference: Difference | None) -> list[Expected]:
    """Their entries after our documented design: links resolved against the feed URL, entries
    without an http(s) link dropped, entries with the same canonical URL collapsed to the first."""
    by_canonical: dict[str, Expected] = {}
    for item in theirs:
        link = item.link.strip()
        if not link and difference is Difference.ID_IS_LINK:
            link = item.guid
        if not link:
            continue
        link = urljoin(FEED_URL, link)
        if not link.startswith(("http://", "https://")):
            continue
        if difference is Difference.MARKUP_IN_TITLE:
            title = plain_text(item.title)
        else:
            title = " ".join(item.title.split())
        by_canonical.setdefault(canonicalize_url(link), replace(item, title=title, link=link))
    return list(by_canonical.values())


def _titles_match(ours: str, theirs: str, difference: Difference | None) -> bool:
    if difference is Difference.MISDECODED_TITLE:
        return len(ours) == len(theirs) and all(
            mine == other or other == "\ufffd" for mine, other in zip(ours, theirs, strict=True)
        )
    return ours == theirs


def _mismatches(
    ours: list[FeedEntry], theirs: list[Expected], difference: Difference | None
) -> list[str]:
    expected = _as_we_expect(theirs, difference)
    problems = []
    if len(ours) != len(expected):
        problems.append(f"{len(ours)} entries, expected {len(expected)}")
    for index, (entry, want) in enumerate(zip(ours, expected, strict=False)):
        # An untitled entry is named by its URL.
        want_title = want.title or entry.canonical_url
        if not _titles_match(entry.title, want_title, difference):
            problems.append(f"entry {index}: title {entry.title!r} != {want_title!r}")
        if difference is Difference.ID_IS_LINK:
            got, wanted = entry.canonical_url, canonicalize_url(want.link)
        else:
            got, wanted = _url_form(entry.url), _url_form(want.link)
        if got != wanted:
            problems.append(f"entry {index}: link {got!r} != {wanted!r}")
    return problems


def _feed_rs_cases(feeds_dir: Path) -> list[tuple[str, Path, list[Expected]]]:
    root = feeds_dir / "feed-rs-fixtures" / "fixture"
    cases = []
    for expectation in sorted(root.rglob("*.serde.json")):
        stem = expectation.name.removesuffix(".serde.json")
        (document,) = [
            path
            for path in expectation.parent.glob(f"{stem}.*")
            if not path.name.endswith(".serde.json")
        ]
        theirs = []
        for item in json.loads(expectation.read_text(encoding="utf-8"))["entries"]:
            alternates = [
                link["href"] for link in item["links"] if link.get("rel") in (None, "alternate")
            ]
            theirs.append(
                Expected(
                    title=(item.get("title") or {}).get("content") or "",
                    link=alternates[0] if alternates else "",
                    guid=item.get("id") or "",
                )
            )
        cases.append((str(document.relative_to(root)), document, theirs))
    return cases


def _read_json_either_encoding(path: Path) -> object:
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:  # the expectation of an ISO-8859-1 feed is stored in ISO-8859-1
        return json.loads(raw.decode("latin-1"))


def _rss_parser_cases(feeds_dir: Path) -> list[tuple[str, Path, list[Expected]]]:
    root = feeds_dir / "rss-parser-node"
    cases = []
    for expectation in sorted((root / "output").glob("*.json")):
        (document,) = (root / "input").glob(f"{expectation.stem}.*")
        items = _read_json_either_encoding(expectation)["feed"].get("items", [])
        theirs = [
            Expected(
                title=item.get("title") or "",
                link=item.get("link") or "",
                guid=item.get("guid") or item.get("id") or "",
            )
            for item in items
        ]
        cases.append((document.name, document, theirs))
    return cases


def _check_against(
    cases: list[tuple[str, Path, list[Expected]]], differences: dict[str, Difference]
) -> None:
    assert cases, "no expectation files found"
    assert set(differences) <= {name for name, _, _ in cases}, "a listed difference has no file"
    failures: list[str] = []
    for name, document, theirs in cases:
        difference = differences.get(name)
        try:
            ours = _parse(document)
        except StorylineError as exc:
            failures.append(f"{name}: {exc}")
            continue
        failures += [f"{name}: {problem}" for problem in _mismatches(ours, theirs, difference)]
        if difference is not None and not _mismatches(ours, theirs, None):
            failures.append(f"{name}: listed as {difference} but matches without it")
    assert failures == []


def test_entries_match_feed_rs_expectations(feeds_dir: Path) -> None:
    _check_against(_feed_rs_cases(feeds_dir), FEED_RS_DIFFERENCES)


def test_entries_match_rss_parser_expectations(feeds_dir: Path) -> None:
    _check_against(_rss_parser_cases(feeds_dir), RSS_PARSER_DIFFERENCES)


def test_wellformed_entry_counts_match_feedparser_minus_unlinked(feeds_dir: Path) -> None:
    """Every entry feedparser reports survives, unless it has no link or repeats a link; and
    no well-formed document is called broken (most have no entries at all)."""
    failures: list[str] = []
    documents_with_entries = 0
    for path in sorted((feeds_dir / "feedparser-tests" / "wellformed").rglob("*.xml")):
        body = path.read_bytes()
        content_type = _declared_content_type(body)
        try:
            ours = len(_parse(path, content_type))
        except StorylineError as exc:
            if exc.error_class is ErrorClass.PARSE:
                failures.append(f"{path.relative_to(feeds_dir)}: {exc}")
            ours = 0
        headers = {"content-location": FEED_URL}
        if content_type:
            headers["content-type"] = content_type
        reference = feedparser.parse(body, response_headers=headers)
        if not reference.entries:
            continue
        documents_with_entries += 1
        linked = {
            canonicalize_url(entry["link"]) for entry in reference.entries if entry.get("link")
        }
        expected = len({url for url in linked if url.startswith(("http://", "https://"))})
        if ours != expected:
            failures.append(f"{path.relative_to(feeds_dir)}: {ours} entries, expected {expected}")
    assert documents_with_entries > 500, f"only {documents_with_entries} documents with entries"
    assert failures == []
