"""The demo news site over real HTTP: feeds, quirks, conditional GET, publishing, pages, labels."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import date
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import feedparser
import httpx
import pytest

from pipeline.demo.content import load_articles, load_outlets
from pipeline.demo.labels import PEACE_TALKS_TOPIC, DemoArticleLabel, Expectation, load_labels
from pipeline.demo.site import DemoSite

LABELS = load_labels()
LABEL_BY_PATH = {label.path: label for label in LABELS}
OUTLETS = {outlet.slug: outlet for outlet in load_outlets()}
SCRIPT_TITLE_MARKERS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


class _PageFacts(HTMLParser):
    """What a test needs from a page: first <h1> text, meta properties, canonical link."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.h1 = ""
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.has_article = False
        self._in_h1 = False
        self._h1_done = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "h1" and not self._h1_done:
            self._in_h1 = True
        if tag == "meta" and "property" in values:
            self.meta[values["property"]] = values.get("content", "")
        if tag == "link" and values.get("rel") == "canonical":
            self.canonical = values["href"]
        if tag == "article":
            self.has_article = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self._in_h1:
            self._in_h1, self._h1_done = False, True

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1 += data


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite() as running:
        yield running


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def _parse_feed(client: httpx.Client, url: str) -> feedparser.FeedParserDict:
    response = client.get(url)
    assert response.status_code == 200
    # content-location lets feedparser resolve relative links against the feed URL.
    headers = {"content-location": url, "content-type": response.headers["content-type"]}
    return feedparser.parse(response.content, response_headers=headers)


def _labels_of(outlet: str) -> list[DemoArticleLabel]:
    return [label for label in LABELS if label.outlet == outlet]


def _all_entries(
    site: DemoSite, client: httpx.Client
) -> dict[str, list[feedparser.FeedParserDict]]:
    return {slug: _parse_feed(client, url).entries for slug, url in site.feed_urls().items()}


# --- feeds --------------------------------------------------------------------------------


@pytest.mark.parametrize("outlet", sorted(OUTLETS))
def test_every_feed_parses_with_one_item_per_labelled_entry(site, client, outlet):
    parsed = _parse_feed(client, site.url(OUTLETS[outlet].feed_path))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == {"rss": "rss20", "atom": "atom10"}[OUTLETS[outlet].feed_format]
    linked_paths = sorted(urlsplit(entry.link).path for entry in parsed.entries)
    assert linked_paths == sorted(label.path for label in _labels_of(outlet))


def test_exactly_one_item_has_no_date(site, client):
    undated = [
        entry.link
        for entries in _all_entries(site, client).values()
        for entry in entries
        if not entry.get("published_parsed") and not entry.get("updated_parsed")
    ]
    assert len(undated) == 1
    assert urlsplit(undated[0]).path.startswith("/science-desk/")


def test_relative_links_resolve_against_the_feed_url(site, client):
    feed_url = site.url("/harbor-post/feed.xml")
    raw = client.get(feed_url).text
    assert 'href="2025/05/' in raw
    assert f'href="{site.base_url}/harbor-post/2025' not in raw
    for entry in _parse_feed(client, feed_url).entries:
        assert entry.link.startswith(site.url("/harbor-post/2025/05/"))


def test_two_items_share_one_guid_with_different_links(site, client):
    entries = _parse_feed(client, site.url("/eastern-ledger/feed.xml")).entries
    by_guid = Counter(entry.id for entry in entries)
    shared = [guid for guid, count in by_guid.items() if count > 1]
    assert len(shared) == 1
    links = {entry.link for entry in entries if entry.id == shared[0]}
    assert len(links) == 2


def test_tracking_parameters_on_some_links(site, client):
    entries = _parse_feed(client, site.url("/meridian-wire/feed.xml")).entries
    tracked = [entry.link for entry in entries if "utm_source=rss&utm_medium=feed" in entry.link]
    assert 0 < len(tracked) < len(entries)


def test_html_title_is_escaped_markup_in_rss(site, client):
    url = site.url("/daily-lantern/feed.xml")
    assert "Markets &lt;em&gt;rally&lt;/em&gt;" in client.get(url).text
    titles = [entry.title for entry in _parse_feed(client, url).entries]
    assert any(title.startswith("Markets <em>rally</em>") for title in titles)


def test_script_title_reaches_the_parser_verbatim(site, client):
    script_labels = [label for label in LABELS if SCRIPT_TITLE_MARKERS[0] in label.title]
    assert len(script_labels) == 1 and script_labels[0].topic == "other"
    label = script_labels[0]
    entries = _parse_feed(client, site.url(OUTLETS[label.outlet].feed_path)).entries
    titles = [entry.title for entry in entries if urlsplit(entry.link).path == label.path]
    assert titles == [label.title]
    assert all(marker in titles[0] for marker in SCRIPT_TITLE_MARKERS)


def test_amp_copy_is_listed_and_points_canonical_to_the_original(site, client):
    (amp,) = [label for label in LABELS if label.duplicate_of]
    original = next(label for label in LABELS if label.key == amp.duplicate_of)
    linked = {
        urlsplit(e.link).path
        for e in _parse_feed(client, site.url(f"/{amp.outlet}/feed.xml")).entries
    }
    assert {amp.path, original.path} <= linked
    facts = _PageFacts(client.get(site.url(amp.path)).text)
    assert facts.canonical == site.url(original.path) == site.url(amp.canonical_path)
    assert facts.h1 == original.title


def test_windows_1252_feed_decodes_correctly(site, client):
    url = site.url("/continental-review/feed.xml")
    response = client.get(url)
    assert response.headers["content-type"].endswith("charset=windows-1252")
    assert response.content.startswith(b'<?xml version="1.0" encoding="windows-1252"?>')
    assert "€".encode("cp1252") in response.content and "’".encode("cp1252") in response.content
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")
    parsed = _parse_feed(client, url)
    assert parsed.encoding == "windows-1252" and not parsed.bozo
    titles = {urlsplit(entry.link).path: entry.title for entry in parsed.entries}
    expected = {label.path: label.title for label in _labels_of("continental-review")}
    assert titles == expected
    assert any("€" in title for title in titles.values())


# --- HTTP behaviour -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/science-desk/feed.xml", "/meridian-wire/2025/05/19/trump-putin-call-two-hours.html"]
)
def test_conditional_get_gives_304_without_body(site, client, path):
    first = client.get(site.url(path))
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = client.get(site.url(path), headers={"If-None-Match": etag})
    by_date = client.get(site.url(path), headers={"If-Modified-Since": last_modified})
    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert (by_date.status_code, by_date.content) == (304, b"")
    stale = client.get(site.url(path), headers={"If-None-Match": '"not-the-current-tag"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_gzip_only_when_accepted(site, client):
    url = site.url("/eastern-ledger/feed.xml")
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < int(plain.headers["content-length"])
    assert zipped.content == plain.content  # httpx decompresses


def test_requests_are_counted_per_path(site, client):
    path = "/daily-lantern/feed.xml"
    before = site.requests[path]
    client.get(site.url(path) + "?utm_source=test")
    client.head(site.url(path))
    client.get(site.url("/no/such/page.html"))
    assert site.requests[path] == before + 2
    assert site.requests["/no/such/page.html"] >= 1


def test_publish_releases_exactly_one_item():
    # Not the newest item: Last-Modified must still move forward when it is released.
    key = "science-desk/why-storm-perrin-struck-in-may"
    with DemoSite(withheld={key}) as site, httpx.Client(timeout=10) as client:
        feed_url = site.url("/science-desk/feed.xml")
        page_path = next(label.path for label in LABELS if label.key == key)
        before = client.get(feed_url)
        assert client.get(site.url(page_path)).status_code == 404
        before_links = {e.link for e in _parse_feed(client, feed_url).entries}

        site.publish(key)

        after = client.get(feed_url, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(
            before.headers["last-modified"]
        )
        since_before = client.get(
            feed_url, headers={"If-Modified-Since": before.headers["last-modified"]}
        )
        assert since_before.status_code == 200
        after_links = {e.link for e in _parse_feed(client, feed_url).entries}
        assert after_links - before_links == {site.url(page_path)} and before_links < after_links
        assert client.get(site.url(page_path)).status_code == 200
        with pytest.raises(KeyError):
            site.publish(key)


def test_unknown_withheld_key_is_rejected():
    with pytest.raises(ValueError, match="unknown demo article"):
        DemoSite(withheld={"no-such-outlet/no-such-article"})


def test_registry_lists_every_feed(site, tmp_path):
    registry = tomllib.loads(site.registry_path(tmp_path).read_text(encoding="utf-8"))
    assert {feed["url"] for feed in registry["feed"]} == set(site.feed_urls().values())
    assert all(
        feed["name"] and feed["language"] == "en" and feed["tags"] for feed in registry["feed"]
    )


# --- pages ------------------------------------------------------------------------------------


def test_every_page_answers_and_shows_its_title(site, client):
    statuses = Counter()
    for label in LABELS:
        response = client.get(site.url(label.path))
        statuses[response.status_code] += 1
        facts = _PageFacts(response.text)
        assert facts.h1 == label.title, label.key
        if response.status_code != 200:
            continue
        assert facts.canonical == site.url(label.canonical_path), label.key
        if label.expect is Expectation.SKIPPED:
            assert not facts.has_article
            assert len(re.findall(r"<li><a href=", response.text)) >= 2
        else:
            assert facts.has_article
            assert facts.meta["og:title"] == label.title
            assert facts.meta["og:url"] == site.url(label.canonical_path)
            assert facts.meta["article:published_time"] == label.published.isoformat()
    assert statuses == {200: len(LABELS) - 1, 403: 1}
    (paywalled,) = [
        label for label in LABELS if client.get(site.url(label.path)).status_code == 403
    ]
    assert paywalled.expect is Expectation.FALLBACK_SUMMARY


def test_robots_txt_disallows_exactly_the_one_fallback_entry(site, client):
    robots = RobotFileParser()
    robots.parse(client.get(site.url("/robots.txt")).text.splitlines())
    blocked = [
        label for label in LABELS if not robots.can_fetch("StorylineBot", site.url(label.path))
    ]
    assert len(blocked) == 1 and blocked[0].expect is Expectation.FALLBACK_SUMMARY
    assert client.get(site.url(blocked[0].path)).status_code == 200


# --- content and labels -------------------------------------------------------------------------


def _shingles(text: str, size: int = 5) -> set[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text.lower())
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def _jaccard(left: set, right: set) -> float:
    return len(left & right) / len(left | right)


def test_labels_cover_the_required_mix():
    assert 44 <= len(LABELS) <= 56
    assert (
        len({label.key for label in LABELS}) == len({label.path for label in LABELS}) == len(LABELS)
    )
    peace = [label for label in LABELS if label.topic == PEACE_TALKS_TOPIC]
    assert len(peace) >= 18 and {label.outlet for label in peace} == set(OUTLETS)
    for story in (
        "trump-putin-call",
        "russian-memorandum",
        "istanbul-talks",
        "prisoner-exchange",
        "drone-attack",
        "europe-reaction",
    ):
        assert all(label.topic == PEACE_TALKS_TOPIC for label in LABELS if label.story == story)
        assert sum(label.story == story for label in LABELS) >= 2, story
    other_stories = Counter(label.story for label in LABELS if label.topic == "other")
    assert sum(2 <= count <= 5 for count in other_stories.values()) >= 4
    assert all(date(2025, 5, 8) <= label.published.date() <= date(2025, 5, 27) for label in LABELS)
    assert Counter(label.expect for label in LABELS) == {
        Expectation.ARTICLE: len(LABELS) - 3,
        Expectation.FALLBACK_SUMMARY: 2,
        Expectation.SKIPPED: 1,
    }


def test_article_bodies_have_news_length():
    for article in load_articles():
        if article.body:
            assert 220 <= sum(len(p.split()) for p in article.body) <= 450, article.key


def test_wire_story_is_syndicated_nearly_verbatim_by_three_outlets():
    articles = {article.key: article for article in load_articles()}
    copies = [article for article in articles.values() if article.syndicated_of]
    originals = {copy.syndicated_of for copy in copies}
    assert len(copies) == 3 and len(originals) == 1
    original = articles[originals.pop()]
    assert original.outlet == "meridian-wire" and original.topic == PEACE_TALKS_TOPIC
    assert len({copy.outlet for copy in copies} | {original.outlet}) == 4
    original_shingles = _shingles(" ".join(original.body))
    for copy in copies:
        similarity = _jaccard(_shingles(" ".join(copy.body)), original_shingles)
        assert 0.75 <= similarity < 1.0, (copy.key, similarity)
        assert copy.title != original.title
    unrelated = [a for a in articles.values() if a.body and a.story != original.story]
    assert max(_jaccard(_shingles(" ".join(a.body)), original_shingles) for a in unrelated) < 0.1
