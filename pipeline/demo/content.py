"""The demo site's content: outlets and articles read from the TOML files under ``content/``.

One file per article, ``content/<outlet>/<slug>.toml``; its key is ``<outlet>/<slug>``.
Syndicated copies name their original (``syndicated_of``) and describe their small edits
instead of repeating its text, so the copies stay near-duplicates by construction.
"""

from __future__ import annotations

import html
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

CONTENT_DIR = Path(__file__).resolve().parent / "content"
AMP_SEGMENT = "amp"


class PageKind(StrEnum):
    ARTICLE = "article"
    AMP = "amp"  # a second URL for an article; its page points rel=canonical to the original
    INDEX = "index"  # a section page: a list of headlines, not an article


class FeedFormat(StrEnum):
    RSS = "rss"
    ATOM = "atom"


@dataclass(frozen=True)
class Outlet:
    slug: str
    name: str
    tagline: str
    feed_format: FeedFormat
    feed_encoding: str
    language: str
    tags: tuple[str, ...]
    date_format: str
    relative_links: bool = False
    robots_disallow: str | None = None
    body_insert_every: int = 0

    @property
    def home_path(self) -> str:
        return f"/{self.slug}/"

    @property
    def feed_path(self) -> str:
        return f"/{self.slug}/feed.xml"


@dataclass(frozen=True)
class DemoArticle:
    key: str
    outlet: str
    kind: PageKind
    path: str
    canonical_path: str
    title: str
    title_html: str  # the headline as markup (escaped title unless the file gives markup)
    has_title_markup: bool
    published: datetime
    updated: datetime | None
    author: str
    section: str
    story: str
    topic: str
    summary: str
    body: tuple[str, ...]
    guid: str | None  # None: the feed uses the article URL
    feed_date: bool  # False: the feed item carries no date at all
    tracking: bool  # the feed link carries utm_* parameters
    paywalled: bool
    syndicated_of: str | None
    duplicate_of: str | None


@dataclass(frozen=True)
class Comment:
    name: str
    ago: str
    text: str


def _standard_path(outlet: str, published: datetime, slug: str) -> str:
    return f"/{outlet}/{published:%Y/%m/%d}/{slug}.html"


def _amp_path(path: str, outlet: str) -> str:
    prefix = f"/{outlet}/"
    return f"{prefix}{AMP_SEGMENT}/{path.removeprefix(prefix)}"


def _syndicated_body(original: tuple[str, ...], data: dict[str, Any]) -> tuple[str, ...]:
    dropped = set(data.get("drop_paragraphs", []))
    paragraphs = [text for index, text in enumerate(original) if index not in dropped]
    for old, new in data.get("edits", []):
        paragraphs = [text.replace(old, new) for text in paragraphs]
    return (*data.get("prepend", []), *paragraphs, *data.get("append", []))


def _article(key: str, data: dict[str, Any], body: tuple[str, ...]) -> DemoArticle:
    outlet, slug = key.split("/")
    kind = PageKind(data.get("kind", PageKind.ARTICLE))
    path = data.get("path") or _standard_path(outlet, data["published"], slug)
    title_markup = data.get("title_html")
    return DemoArticle(
        key=key,
        outlet=outlet,
        kind=kind,
        path=path,
        canonical_path=path,
        title=data["title"],
        title_html=title_markup or html.escape(data["title"], quote=False),
        has_title_markup=title_markup is not None,
        published=data["published"],
        updated=data.get("updated"),
        author=data["author"],
        section=data["section"],
        story=data["story"],
        topic=data["topic"],
        summary=data["summary"],
        body=body,
        guid=data.get("guid"),
        feed_date=data.get("feed_date", True),
        tracking=data.get("tracking", False),
        paywalled=data.get("paywalled", False),
        syndicated_of=data.get("syndicated_of"),
        duplicate_of=None,
    )


def _amp_copy(article: DemoArticle) -> DemoArticle:
    return replace(
        article,
        key=f"{article.outlet}/{AMP_SEGMENT}/{article.key.split('/')[1]}",
        kind=PageKind.AMP,
        path=_amp_path(article.path, article.outlet),
        guid=None,
        duplicate_of=article.key,
    )


@lru_cache(maxsize=1)
def load_outlets() -> tuple[Outlet, ...]:
    with (CONTENT_DIR / "outlets.toml").open("rb") as handle:
        raw = tomllib.load(handle)["outlet"]
    return tuple(
        Outlet(
            **{
                **entry,
                "feed_format": FeedFormat(entry["feed_format"]),
                "tags": tuple(entry["tags"]),
            }
        )
        for entry in raw
    )


@lru_cache(maxsize=1)
def load_articles() -> tuple[DemoArticle, ...]:
    """Every feed entry of the site (articles, the AMP copy, the section page), newest first."""
    raw: dict[str, dict[str, Any]] = {}
    for outlet in load_outlets():
        for file in sorted((CONTENT_DIR / outlet.slug).glob("*.toml")):
            with file.open("rb") as handle:
                raw[f"{outlet.slug}/{file.stem}"] = tomllib.load(handle)
    articles: list[DemoArticle] = []
    for key, data in raw.items():
        original = data.get("syndicated_of")
        if original:
            body = _syndicated_body(tuple(raw[original]["body"]), data)
        else:
            body = tuple(data.get("body", ()))
        article = _article(key, data, body)
        articles.append(article)
        if data.get("amp"):
            articles.append(_amp_copy(article))
    return tuple(sorted(articles, key=lambda item: item.published, reverse=True))


@lru_cache(maxsize=1)
def load_comment_pools() -> dict[str, tuple[Comment, ...]]:
    with (CONTENT_DIR / "comments.toml").open("rb") as handle:
        pools = tomllib.load(handle)["pool"]
    return {name: tuple(Comment(**entry) for entry in entries) for name, entries in pools.items()}


def is_robots_disallowed(article: DemoArticle) -> bool:
    return any(
        outlet.robots_disallow and article.path.startswith(outlet.robots_disallow)
        for outlet in load_outlets()
    )
