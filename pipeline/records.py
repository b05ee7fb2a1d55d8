"""Typed records passed between stages: feed entry -> page -> article -> indexed article -> story."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Namespace for deterministic ids: uuid5(STORYLINE_NAMESPACE, canonical_url).
STORYLINE_NAMESPACE = uuid.UUID("6f1c1c55-2f4e-5b1a-9d0e-5d7a1e0c4b11")


def article_id(canonical_url: str) -> str:
    return str(uuid.uuid5(STORYLINE_NAMESPACE, canonical_url))


class EntryStatus(StrEnum):
    NEW = "new"
    FETCHED = "fetched"
    EXTRACTED = "extracted"
    INDEXED = "indexed"
    FAILED = "failed"
    SKIPPED = "skipped"


class DateSource(StrEnum):
    FEED = "feed"
    CLAMPED_FUTURE = "clamped_future"
    FIRST_SEEN = "first_seen"


@dataclass(frozen=True)
class FeedSource:
    """One feed of the registry."""

    name: str
    url: str
    language: str = "en"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedEntry:
    """A normalised feed item, ready for the catalog."""

    id: str
    feed_url: str
    guid: str
    url: str
    canonical_url: str
    title: str
    summary: str
    published_at: datetime
    date_source: DateSource = DateSource.FEED


@dataclass(frozen=True)
class Page:
    """A fetched article page; the HTML itself lives compressed in the page store."""

    entry_id: str
    url: str
    final_url: str
    content_type: str
    html_sha256: str
    fetched_at: datetime


@dataclass(frozen=True)
class Article:
    """A clean article: body and metadata, from the page (or the feed summary as fallback)."""

    id: str
    url: str
    canonical_url: str
    title: str
    text: str
    source: str
    language: str | None
    published_at: datetime
    author: str | None = None
    updated_at: datetime | None = None
    sitename: str | None = None
    description: str | None = None
    body_source: str = "page"  # "page" or "feed"
    syndicated_of: str | None = None


@dataclass(frozen=True)
class IndexedArticle:
    article: Article
    story_id: str
    similarity: float
    rule: str


@dataclass
class Story:
    id: str
    label: str
    first_seen: datetime
    last_seen: datetime
    size: int = 0
    sources: set[str] = field(default_factory=set)
    state: str = "active"
