"""Server-rendered Stories pages (Jinja2 with autoescape; no scripts, no external resources).

Every page takes ``base``, the URL path the pages are mounted at (``/storyline`` in Airflow),
so links work inside the UI's iframe and at the pages' own URL alike. The data are the dicts
of :mod:`pipeline.queries`, the same the JSON API returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import get_args
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.web.params import StoryState
from pipeline.web.timeline import build_timeline, parse_time, source_colors

# No script may run on these pages, whatever a feed puts in a title: a second wall behind escaping.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'"
)


def safe_url(url: object) -> str | None:
    """Only http(s) links leave these pages (a feed could hand us ``javascript:`` URLs)."""
    text = str(url or "")
    return text if urlsplit(text).scheme in ("http", "https") else None


def short_time(value: object) -> str:
    moment = parse_time(value)
    return moment.strftime("%b %d, %H:%M") if moment else "—"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["short_time"] = short_time
    return env


def mark_new(articles: Sequence[Mapping[str, object]], since: datetime | None) -> list[dict[str, object]]:
    """The articles with ``new`` set when they were indexed at or after ``since``."""
    marked = []
    for article in articles:
        indexed = parse_time(article.get("indexed_at"))
        marked.append({**article, "new": bool(since and indexed and indexed >= since)})
    return marked


def _story_view(story: Mapping[str, object], articles: Sequence[Mapping[str, object]],
                since: datetime | None) -> dict[str, object]:
    marked = mark_new(articles, since)
    colors = source_colors(str(a.get("source") or "unknown") for a in marked)
    return {
        "story": story,
        "articles": marked,
        "colors": colors,
        "timeline": build_timeline(marked, colors),
        "new_count": sum(1 for a in marked if a["new"]),
    }


def render_tracked(base: str, lineups: Sequence[Mapping[str, object]], since: datetime | None,
                   since_reason: str) -> str:
    views = []
    for lineup in lineups:
        view: dict[str, object] = {"lineup": lineup}
        if lineup.get("story"):
            view |= _story_view(lineup["story"], lineup.get("coverage", []), since)
            view["related"] = [
                {"relation": related} | _story_view(related["story"], related["articles"], since)
                for related in lineup.get("related", [])
            ]
        views.append(view)
    return environment().get_template("tracked.html").render(
        base=base, page="tracked", tracked=views, since=since, since_reason=since_reason
    )


def render_stories(base: str, stories: Sequence[Mapping[str, object]], state: str) -> str:
    return environment().get_template("stories.html").render(
        base=base, page="stories", stories=stories, state=state, states=get_args(StoryState)
    )


def render_story(base: str, story: Mapping[str, object], since: datetime | None) -> str:
    view = _story_view(story, story.get("articles", []), since)
    return environment().get_template("story.html").render(base=base, page="story", since=since, **view)


def render_search(base: str, form: Mapping[str, object], hits: Sequence[Mapping[str, object]] | None,
                  error: str | None = None) -> str:
    colors = source_colors(str(h.get("source") or "unknown") for h in hits or [])
    return environment().get_template("search.html").render(
        base=base, page="search", form=form, hits=hits, colors=colors, error=error
    )
