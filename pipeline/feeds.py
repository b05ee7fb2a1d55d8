"""Feed registry and feed documents: load the TOML registry, parse and normalise entries."""

from __future__ import annotations

import calendar
import hashlib
import html
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

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
        url = str(item.get("url", "")).strip()
        if not url.startswith(("http://", "https://")):
            raise RegistryError(f"registry {path}: feed #{index} has no http(s) url")
        tags = item.get("tags", [])
        if not isinstance(tags, list):
            raise RegistryError(f"registry {path}: feed #{index} tags must be a list")
        sources.append(
            FeedSource(
                name=str(item.get("name") or url),
                url=canonicalize_url(url),
                language=str(item.get("language", "en")),
                tags=tuple(str(tag) for tag in tags),
            )
        )
    return sources


def plain_text(markup: str) -> str:
    """Markup stripped, entities decoded, whitespace collapsed (titles and summaries)."""
    text = html.unescape(_TAG.sub(" ", markup or ""))
    return _SPACE.sub(" ", text).strip()


def _looks_like_html(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def parse_feed(body: bytes, feed_url: str, *, content_type: str = "", now: datetime) -> list[FeedEntry]:
    """Parse a feed document into normalised entries (raises not_a_feed / parse)."""
    if not body.strip():
        raise StorylineError(ErrorClass.NOT_A_FEED, "empty body")
    headers = {"content-location": feed_url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    if not parsed.entries:
        if not parsed.version or _looks_like_html(body):
            raise StorylineError(
                ErrorClass.NOT_A_FEED, f"no feed found ({content_type or 'no content type'})"
            )
        if parsed.bozo:
            raise StorylineError(ErrorClass.PARSE, f"broken feed: {parsed.bozo_exception}")
        return []
    entries: dict[str, FeedEntry] = {}
    for raw in parsed.entries:
        entry = normalise_entry(raw, feed_url, now=now)
        if entry is not None:
            entries.setdefault(entry.id, entry)
    return list(entries.values())


def _entry_link(raw) -> str:  # noqa: ANN001
    link = raw.get("link")
    if link:
        return link
    for candidate in raw.get("links", []):
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            return candidate["href"]
    return ""


def _published(raw, now: datetime) -> tuple[datetime, DateSource]:  # noqa: ANN001
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(key)
        if value:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            if moment > now + FUTURE_TOLERANCE:
                return now, DateSource.CLAMPED_FUTURE
            return moment, DateSource.FEED
    return now, DateSource.FIRST_SEEN


def normalise_entry(raw, feed_url: str, *, now: datetime) -> FeedEntry | None:  # noqa: ANN001
    """One feedparser entry -> FeedEntry; None when it has no usable link."""
    link = _entry_link(raw).strip()
    if not link:
        return None
    canonical = canonicalize_url(link, base=feed_url)
    if not canonical.startswith(("http://", "https://")):
        return None
    title = plain_text(raw.get("title", ""))
    summary = plain_text(raw.get("summary", ""))[:MAX_SUMMARY_CHARS]
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
