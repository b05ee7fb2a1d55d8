"""Feed registry and feed documents: load the TOML registry, parse and normalise entries."""

from __future__ import annotations

import calendar
import hashlib
import html
import json
import re
import time
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser

from pipeline.errors import ErrorClass, StorylineError
from pipeline.records import DateSource, FeedEntry, FeedSource, article_id
from pipeline.urls import canonicalize_url

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
# Clock skew we tolerate before calling a publication time "in the future".
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_SUMMARY_CHARS = 5000
JSON_FEED_VERSION_PREFIX = "https://jsonfeed.org/version/"
# A UTF-8 byte order mark or whitespace may precede a JSON document.
_JSON_LEAD = b"\xef\xbb\xbf \t\r\n"
# Script and style bodies are code, not text.
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# Inline elements sit inside words ("m<sup>2</sup>"); every other tag separates words.
_INLINE_TAG = re.compile(
    r"</?(?:a|abbr|b|bdi|bdo|cite|code|del|dfn|em|i|ins|kbd|mark|q|s|samp|small|span|strong"
    r"|sub|sup|time|u|var|wbr)(?:\s[^>]*)?/?>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


class RegistryError(ValueError):
    """The registry file cannot be used (missing, not TOML, or an invalid feed)."""


def load_registry(path: Path) -> list[FeedSource]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"registry not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"registry {path} is not valid TOML: {exc}") from exc
    items = data.get("feed")
    if not isinstance(items, list) or not items:
        raise RegistryError(f"registry {path} lists no [[feed]] tables")
    sources: list[FeedSource] = []
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise RegistryError(f"registry {path}: feed #{index} is not a table")
        # Polled exactly as written: canonicalising would drop query parameters some feed
        # URLs need (e.g. "?rss=1"), and the catalog keys feeds by this string.
        url = str(item.get("url", "")).strip()
        parts = urlsplit(url)
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise RegistryError(f"registry {path}: feed #{index} has no http(s) url")
        tags = item.get("tags", [])
        if not isinstance(tags, list):
            raise RegistryError(f"registry {path}: feed #{index} tags must be a list")
        sources.append(
            FeedSource(
                name=str(item.get("name") or url),
                url=url,
                language=str(item.get("language", "en")),
                tags=tuple(str(tag) for tag in tags),
            )
        )
    return sources


def plain_text(markup: str) -> str:
    """Markup stripped, entities decoded, whitespace collapsed (titles and summaries)."""
    text = _INLINE_TAG.sub("", _SCRIPT.sub(" ", markup or ""))
    text = html.unescape(_TAG.sub(" ", text))
    return _SPACE.sub(" ", text).strip()


_MARKUP_TYPES = {"text/html", "application/xhtml+xml"}


def field_text(raw, key: str) -> str:
    """An entry's title or summary as plain text. Markup is stripped only where the feed says
    the field is HTML; a ``text`` field is literal, so "<script>" in it stays as text (and is
    escaped wherever it is shown)."""
    value = raw.get(key) or ""
    detail = raw.get(f"{key}_detail") or {}
    if detail.get("type", "text/html") in _MARKUP_TYPES:
        return plain_text(value)
    return _SPACE.sub(" ", value).strip()


def _looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def parse_feed(body: bytes, feed_url: str, *, content_type: str = "", now: datetime) -> list[FeedEntry]:
    """Parse an RSS, Atom, RDF or JSON Feed document into normalised entries.

    Raises not_a_feed / parse. Entries without a usable link are dropped; entries whose links
    canonicalise to the same URL collapse into the first.
    """
    if not body.strip():
        raise StorylineError(ErrorClass.NOT_A_FEED, "empty body")
    if body.lstrip(_JSON_LEAD).startswith(b"{"):
        raw_entries = _json_feed_entries(body)
    else:
        raw_entries = _xml_feed_entries(body, feed_url, content_type)
    entries: dict[str, FeedEntry] = {}
    for raw in raw_entries:
        entry = normalise_entry(raw, feed_url, now=now)
        if entry is not None:
            entries.setdefault(entry.id, entry)
    return list(entries.values())


def _xml_feed_entries(body: bytes, feed_url: str, content_type: str) -> list:
    headers = {"content-location": feed_url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    if not parsed.entries:
        if not parsed.version or _looks_like_html(body):
            raise StorylineError(
                ErrorClass.NOT_A_FEED, f"no feed found ({content_type or 'no content type'})"
            )
        # Content-type and encoding notes are informational: an empty but valid feed is fine.
        if parsed.bozo and not isinstance(
            parsed.bozo_exception, feedparser.ThingsNobodyCaresAboutButMe
        ):
            raise StorylineError(ErrorClass.PARSE, f"broken feed: {parsed.bozo_exception}")
    return parsed.entries


def _json_feed_entries(body: bytes) -> list[dict[str, object]]:
    """JSON Feed items (jsonfeed.org), shaped like the feedparser entries normalise_entry reads.

    feedparser 6.0 has no JSON Feed support, yet FEED_ACCEPT asks for application/feed+json.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # undecodable bytes, absurd nesting
        raise StorylineError(ErrorClass.PARSE, f"broken JSON feed: {exc}") from exc
    version = document.get("version") if isinstance(document, dict) else None
    if not str(version or "").startswith(JSON_FEED_VERSION_PREFIX):
        raise StorylineError(ErrorClass.NOT_A_FEED, "JSON document is not a JSON Feed")
    items = document.get("items")
    if not isinstance(items, list):
        raise StorylineError(ErrorClass.PARSE, "JSON Feed has no items list")
    return [
        {
            "id": str(item.get("id") or ""),
            "link": str(item.get("url") or item.get("external_url") or ""),
            "title": str(item.get("title") or ""),
            "summary": str(
                item.get("summary") or item.get("content_text") or item.get("content_html") or ""
            ),
            "published_parsed": _json_feed_date(item.get("date_published")),
            "updated_parsed": _json_feed_date(item.get("date_modified")),
        }
        for item in items
        if isinstance(item, dict)
    ]


def _json_feed_date(value: object) -> time.struct_time | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())  # RFC 3339, as the spec asks
    except ValueError:
        try:  # RFC 822 dates occur in the wild
            moment = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.utctimetuple()


def _entry_link(raw) -> str:
    link = raw.get("link")
    if link:
        return link
    for candidate in raw.get("links", []):
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            return candidate["href"]
    return ""


def _published(raw, now: datetime) -> tuple[datetime, DateSource]:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # `in` first: feedparser's get() maps a missing updated_parsed to published_parsed
        # with a DeprecationWarning, and we look at published_parsed ourselves anyway.
        value = raw.get(key) if key in raw else None
        if value:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            if moment > now + FUTURE_TOLERANCE:
                return now, DateSource.CLAMPED_FUTURE
            return moment, DateSource.FEED
    return now, DateSource.FIRST_SEEN


def normalise_entry(raw, feed_url: str, *, now: datetime) -> FeedEntry | None:
    """One feedparser entry -> FeedEntry; None when it has no usable link."""
    link = _entry_link(raw).strip()
    if not link:
        return None
    canonical = canonicalize_url(link, base=feed_url)
    if not canonical.startswith(("http://", "https://")):
        return None
    title = field_text(raw, "title")
    summary = field_text(raw, "summary")[:MAX_SUMMARY_CHARS]
    published, date_source = _published(raw, now)
    guid = (raw.get("id") or "").strip() or canonical or hashlib.sha256(
        f"{title}|{summary}".encode()
    ).hexdigest()
    return FeedEntry(
        id=article_id(canonical),
        feed_url=feed_url,
        guid=guid,
        url=urljoin(feed_url, link),
        canonical_url=canonical,
        title=title or canonical,
        summary=summary,
        published_at=published,
        date_source=date_source,
    )
