"""Maintenance stages: story merges and dormancy, page retries, data-quality checks."""

from __future__ import annotations

from datetime import timedelta

from pipeline.catalog import Catalog
from pipeline.catalog.store import utcnow
from pipeline.indexing import IndexStage
from pipeline.settings import Settings

# A page that failed this many times stays failed (and visible) until someone looks.
MAX_PAGE_ATTEMPTS = 8
# Data-quality thresholds.
EMPTY_EXTRACTION_RATE = 0.5
QUIET_DAY = timedelta(days=1)


def merge_stories(settings: Settings, catalog: Catalog, **stage_options: object) -> dict[str, object]:
    """Run the clusterer's merge pass (quiet stories go dormant first); returns the lineage."""
    stage = IndexStage(settings, catalog, **stage_options)
    before, merges = stage.merge_pass()
    dormant = [story_id for story_id, story in stage.clusterer.state.stories.items()
               if story.state.value == "dormant" and before[story_id][0].value != "dormant"]
    return {
        "merges": [
            {"merged": gone, "into": record.merged_into, "score": round(record.score, 4),
             "at": record.at.isoformat() if record.at else None}
            for gone, record in merges
        ],
        "dormant": len(dormant),
    }


def retry_failed_pages(settings: Settings, catalog: Catalog) -> dict[str, object]:
    """Failed pages whose back-off has passed go back in the queue (``new``, or ``fetched``
    when the page itself is stored and only extraction failed)."""
    retried = catalog.requeue_failed(utcnow(), MAX_PAGE_ATTEMPTS)
    return {"retried": retried, "given_up": catalog.count_failed(min_attempts=MAX_PAGE_ATTEMPTS)}


def data_quality_checks(settings: Settings, catalog: Catalog) -> list[str]:
    """Problems a person should look at; an empty list means every check passed."""
    problems: list[str] = []
    feeds = catalog.feeds()
    if feeds and all(feed.error_count > 0 for feed in feeds):
        classes = sorted({feed.error_class or "?" for feed in feeds})
        problems.append(f"every feed failed its last poll ({len(feeds)} feeds; {', '.join(classes)})")
    since = utcnow() - QUIET_DAY
    recent = catalog.page_outcomes_since(since)
    attempted = sum(recent.values())
    empty = recent.get("not_article", 0)
    if attempted >= 10 and empty / attempted > EMPTY_EXTRACTION_RATE:
        problems.append(
            f"extraction found no article in {empty} of {attempted} pages in the last day "
            f"(over {EMPTY_EXTRACTION_RATE:.0%})"
        )
    if catalog.count_entries_since(since) and not catalog.count_indexed_since(since):
        problems.append("feeds returned new entries in the last day but no article was indexed")
    return problems
