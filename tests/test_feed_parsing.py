"""parse_feed, plain_text and load_registry on small feeds written for these tests."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.errors import ErrorClass, StorylineError
from pipeline.feeds import FUTURE_TOLERANCE, RegistryError, load_registry, parse_feed, plain_text
from pipeline.records import DateSource, FeedEntry, article_id

FEED_URL = "https://feeds.example.test/news/rss.xml"
NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)


def rss(items: str, *, encoding: str = "utf-8", declaration: bool = True) -> str:
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n' if declaration else ""
    return (
        f'{head}<rss version="2.0"><channel><title>Example desk</title>'
        f"<link>https://news.example.test/</link><description>Test feed</description>"
        f"{items}</channel></rss>"
    )


def item(
    title: str = "Harbour bridge reopens",
    link: str | None = "https://news.example.test/city/bridge",
    *,
    guid: str | None = None,
    pub_date: str | None = "Tue, 20 May 2025 09:30:00 GMT",
) -> str:
    parts = [f"<title>{title}</title>"]
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if pub_date is not None:
        parts.append(f"<pubDate>{pub_date}</pubDate>")
    return f"<item>{''.join(parts)}</item>"


def parse(document: str | bytes, *, content_type: str = "") -> list[FeedEntry]:
    body = document.encode("utf-8") if isinstance(document, str) else document
    return parse_feed(body, FEED_URL, content_type=content_type, now=NOW)


def parse_one(document: str | bytes, *, content_type: str = "") -> FeedEntry:
    (entry,) = parse(document, content_type=content_type)
    return entry


def failure_class(document: str | bytes, *, content_type: str = "") -> ErrorClass:
    with pytest.raises(StorylineError) as caught:
        parse(document, content_type=content_type)
    return caught.value.error_class


# Titles and text


def test_html_in_title_becomes_plain_text() -> None:
    title = "<![CDATA[<b>Council</b> votes <i>yes</i> on H<sub>2</sub>O plan]]>"
    entry = parse_one(rss(item(title)))
    assert entry.title == "Council votes yes on H2O plan"


def test_entities_are_decoded_and_whitespace_collapsed() -> None:
    entry = parse_one(rss(item("<![CDATA[Caf&eacute;   owners &amp; \n tenants &#8212; a deal]]>")))
    assert entry.title == "Caf\u00e9 owners & tenants \u2014 a deal"


def test_untitled_entry_is_named_by_its_url() -> None:
    entry = parse_one(rss(item("")))
    assert entry.title == entry.canonical_url == "https://news.example.test/city/bridge"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>First paragraph.</p><p>Second.</p>", "First paragraph. Second."),
        ("Area: 80 m<sup>2</sup>, <b>bright</b>ly lit", "Area: 80 m2, brightly lit"),
        ("Before<script>track('x');</script> after<style>p {}</style>", "Before after"),
        ("line<br/>break", "line break"),
        ("AT&amp;T &lt;3", "AT&T <3"),
        ("", ""),
    ],
)
def test_plain_text(markup: str, text: str) -> None:
    assert plain_text(markup) == text


def test_summary_is_plain_text() -> None:
    document = rss(
        "<item><title>Budget</title><link>https://news.example.test/budget</link>"
        "<description>&lt;p&gt;The &lt;b&gt;budget&lt;/b&gt; passed.&lt;/p&gt;"
        "&lt;script&gt;alert(1)&lt;/script&gt;</description></item>"
    )
    assert parse_one(document).summary == "The budget passed."


# Links and identity


def test_relative_link_is_resolved_against_the_feed_url() -> None:
    entry = parse_one(rss(item(link="../world/summit?utm_source=rss")))
    assert entry.url == "https://feeds.example.test/world/summit?utm_source=rss"
    assert entry.canonical_url == "https://feeds.example.test/world/summit"
    assert entry.id == article_id(entry.canonical_url)
    assert entry.feed_url == FEED_URL


def test_entry_without_link_is_dropped() -> None:
    document = rss(item("No page", link=None) + item("Has page"))
    assert [entry.title for entry in parse(document)] == ["Has page"]


def test_entry_with_non_http_link_is_dropped() -> None:
    document = rss(item("Mail us", link="mailto:desk@news.example.test") + item("Has page"))
    assert [entry.title for entry in parse(document)] == ["Has page"]


def test_missing_guid_falls_back_to_the_link() -> None:
    entry = parse_one(rss(item(link="https://news.example.test/a?utm_medium=feed")))
    assert entry.guid == "https://news.example.test/a"


def test_guid_is_kept_when_present() -> None:
    entry = parse_one(rss(item(guid="desk-2025-0042")))
    assert entry.guid == "desk-2025-0042"


def test_duplicate_entries_collapse_to_one_id() -> None:
    document = rss(
        item("First telling", link="https://news.example.test/story?utm_source=a")
        + item("Second telling", link="https://NEWS.example.test:443/story#top")
        + item("Other story", link="https://news.example.test/other")
    )
    entries = parse(document)
    assert [entry.title for entry in entries] == ["First telling", "Other story"]
    assert len({entry.id for entry in entries}) == 2


# Dates


def test_feed_date_is_used() -> None:
    entry = parse_one(rss(item(pub_date="Tue, 20 May 2025 09:30:00 +0200")))
    assert entry.published_at == datetime(2025, 5, 20, 7, 30, tzinfo=UTC)
    assert entry.date_source is DateSource.FEED


def test_missing_date_uses_first_seen() -> None:
    entry = parse_one(rss(item(pub_date=None)))
    assert entry.published_at == NOW
    assert entry.date_source is DateSource.FIRST_SEEN


def test_unparseable_date_uses_first_seen() -> None:
    entry = parse_one(rss(item(pub_date="sometime next week")))
    assert entry.date_source is DateSource.FIRST_SEEN


def test_future_date_is_clamped_and_flagged() -> None:
    entry = parse_one(rss(item(pub_date="Wed, 21 May 2025 12:00:00 GMT")))
    assert entry.published_at == NOW
    assert entry.date_source is DateSource.CLAMPED_FUTURE


def test_small_clock_skew_is_tolerated() -> None:
    ahead = NOW + FUTURE_TOLERANCE - timedelta(minutes=1)
    entry = parse_one(rss(item(pub_date=ahead.strftime("%a, %d %b %Y %H:%M:%S GMT"))))
    assert entry.published_at == ahead
    assert entry.date_source is DateSource.FEED


# Encodings


CP1252_TITLE = "Caf\u00e9 prices \u201cdouble\u201d to \u20ac5"


def test_windows_1252_declared_in_the_document_decodes() -> None:
    document = rss(item(CP1252_TITLE), encoding="windows-1252").encode("cp1252")
    assert parse_one(document).title == CP1252_TITLE


def test_windows_1252_declared_by_the_http_header_decodes() -> None:
    document = rss(item(CP1252_TITLE), declaration=False).encode("cp1252")
    entry = parse_one(document, content_type="application/rss+xml; charset=windows-1252")
    assert entry.title == CP1252_TITLE


# Not feeds, broken feeds, empty feeds


def test_html_page_is_not_a_feed() -> None:
    page = "<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>"
    assert failure_class(page, content_type="text/html; charset=utf-8") is ErrorClass.NOT_A_FEED


@pytest.mark.parametrize("body", [b"", b"   \n\t "])
def test_empty_body_is_not_a_feed(body: bytes) -> None:
    assert failure_class(body) is ErrorClass.NOT_A_FEED


def test_valid_feed_without_entries_is_empty_even_without_content_type() -> None:
    assert parse(rss("")) == []
    assert parse(rss(""), content_type="text/plain") == []


TRUNCATED = rss(
    item("One", link="https://news.example.test/1")
    + item("Two", link="https://news.example.test/2")
    + item("Three", link="https://news.example.test/3")
)


def test_feed_truncated_inside_an_entry_keeps_the_complete_entries() -> None:
    cut = TRUNCATED.index("news.example.test/3")
    assert [entry.title for entry in parse(TRUNCATED[:cut])] == ["One", "Two"]


def test_feed_truncated_before_any_entry_is_a_parse_error() -> None:
    assert failure_class(TRUNCATED[: TRUNCATED.index("<item>") - 3]) is ErrorClass.PARSE


def test_atom_feed() -> None:
    document = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Desk</title><id>urn:example:desk</id><updated>2025-05-20T08:00:00Z</updated>"
        '<entry><title type="html">Port &lt;b&gt;strike&lt;/b&gt; ends</title>'
        '<link rel="alternate" href="/port/strike"/><id>urn:example:1</id>'
        "<updated>2025-05-20T08:00:00Z</updated></entry></feed>"
    )
    entry = parse_one(document)
    assert (entry.title, entry.url, entry.guid) == (
        "Port strike ends",
        "https://feeds.example.test/port/strike",
        "urn:example:1",
    )
    assert entry.published_at == datetime(2025, 5, 20, 8, 0, tzinfo=UTC)


# JSON Feed


def json_feed(items: list[dict[str, object]]) -> bytes:
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "Desk", "items": items}
    ).encode("utf-8")


def test_json_feed_items_are_entries() -> None:
    body = json_feed(
        [
            {
                "id": "42",
                "url": "/city/tram?utm_campaign=x",
                "title": "Tram line <em>extended</em>",
                "content_html": "<p>The line grows.</p><script>x()</script>",
                "date_published": "2025-05-19T10:00:00+02:00",
            },
            {"id": "43", "content_text": "No link, no page to fetch."},
            {"id": "44", "external_url": "https://other.example.test/a", "title": "Linked"},
        ]
    )
    first, second = parse(b"\xef\xbb\xbf" + body, content_type="application/feed+json")
    assert (first.guid, first.url, first.title, first.summary) == (
        "42",
        "https://feeds.example.test/city/tram?utm_campaign=x",
        "Tram line extended",
        "The line grows.",
    )
    assert first.published_at == datetime(2025, 5, 19, 8, 0, tzinfo=UTC)
    assert first.date_source is DateSource.FEED
    assert second.url == "https://other.example.test/a"
    assert second.date_source is DateSource.FIRST_SEEN


def test_json_feed_rfc822_date_is_understood() -> None:
    body = json_feed(
        [
            {
                "id": "1",
                "url": "https://news.example.test/x",
                "date_published": "Mon, 19 May 2025 06:34:12 -0700",
            }
        ]
    )
    assert parse_one(body).published_at == datetime(2025, 5, 19, 13, 34, 12, tzinfo=UTC)


def test_json_that_is_not_a_feed_is_not_a_feed() -> None:
    assert failure_class(b'{"status": "ok", "items": []}') is ErrorClass.NOT_A_FEED


def test_broken_json_feed_is_a_parse_error() -> None:
    assert failure_class(json_feed([])[:-5]) is ErrorClass.PARSE


# Registry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_registry_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[feed]]\nname = "Desk"\nurl = "HTTPS://news.example.test/rss?rss=1"\n'
        'language = "de"\ntags = ["world", "politics"]\n\n'
        '[[feed]]\nurl = "http://other.example.test/atom.xml"\n',
    )
    first, second = load_registry(path)
    assert (first.name, first.url, first.language, first.tags) == (
        "Desk",
        "HTTPS://news.example.test/rss?rss=1",  # polled as written: no tracker stripping
        "de",
        ("world", "politics"),
    )
    assert (second.name, second.language, second.tags) == (
        "http://other.example.test/atom.xml",
        "en",
        (),
    )


def test_shipped_registry_loads() -> None:
    from pipeline.settings import Settings

    assert load_registry(Settings().registry)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[feed]\nurl = 'https://x.example.test/'", "not valid TOML"),
        ("title = 'no feeds here'\n", "lists no [[feed]] tables"),
        ("feed = []\n", "lists no [[feed]] tables"),
        ("feed = ['https://x.example.test/']\n", "feed #1 is not a table"),
        ("[[feed]]\nname = 'No URL'\n", "feed #1 has no http(s) url"),
        ("[[feed]]\nurl = 'https://'\n", "feed #1 has no http(s) url"),
        (
            "[[feed]]\nurl = 'https://ok.example.test/'\n[[feed]]\nurl = 'ftp://x.example.test/f'\n",
            "feed #2 has no http(s) url",
        ),
        ("[[feed]]\nurl = 'https://ok.example.test/'\ntags = 'world'\n", "tags must be a list"),
    ],
)
def test_registry_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RegistryError, match=re.escape(message)):
        load_registry(write(tmp_path, text))


def test_missing_registry(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="registry not found"):
        load_registry(tmp_path / "absent.toml")


def test_registry_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_bytes(b"[[feed]]\nurl = 'https://x.example.test/\xff'\n")
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry(path)
