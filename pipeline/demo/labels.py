"""Ground truth for the demo site: what each feed entry is and what the pipeline should do with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pipeline.demo.content import DemoArticle, PageKind, is_robots_disallowed, load_articles

PEACE_TALKS_TOPIC = "ukraine-peace-talks"


class Expectation(StrEnum):
    ARTICLE = "article"  # the page yields the article body
    FALLBACK_SUMMARY = (
        "fallback_summary"  # page forbidden (403 or robots.txt): use the feed summary
    )
    SKIPPED = "skipped"  # the link is not an article (a section page)


@dataclass(frozen=True)
class DemoArticleLabel:
    key: str
    outlet: str
    path: str
    canonical_path: str
    title: str
    published: datetime
    story: str
    topic: str
    syndicated_of: str | None
    duplicate_of: str | None
    expect: Expectation


def _expectation(article: DemoArticle) -> Expectation:
    if article.kind is PageKind.INDEX:
        return Expectation.SKIPPED
    if article.paywalled or is_robots_disallowed(article):
        return Expectation.FALLBACK_SUMMARY
    return Expectation.ARTICLE


def load_labels() -> list[DemoArticleLabel]:
    """One label per feed entry of the demo site, newest first."""
    return [
        DemoArticleLabel(
            key=article.key,
            outlet=article.outlet,
            path=article.path,
            canonical_path=article.canonical_path,
            title=article.title,
            published=article.published,
            story=article.story,
            topic=article.topic,
            syndicated_of=article.syndicated_of,
            duplicate_of=article.duplicate_of,
            expect=_expectation(article),
        )
        for article in load_articles()
    ]
