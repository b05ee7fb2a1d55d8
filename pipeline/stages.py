"""Stage entry points shared by the CLI and the Airflow DAGs.

Each takes settings and small, serialisable arguments (ids, URLs) and returns a small dict,
so an Airflow task can pass it through XCom unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.catalog import Catalog, open_catalog
from pipeline.catalog.store import utcnow
from pipeline.feeds import load_registry
from pipeline.polling import PollOutcome, poll_feeds
from pipeline.settings import Settings


def batches(items: Sequence[str], size: int) -> list[list[str]]:
    size = max(1, size)
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def plan_feed_batches(
    settings: Settings,
    *,
    registry: Path | None = None,
    batch_size: int = 10,
    all_feeds: bool = False,
    catalog: Catalog | None = None,
) -> list[list[str]]:
    """Sync the registry into the catalog; the due feeds (or all) in batches of URLs."""
    catalog = catalog or open_catalog(settings)
    catalog.sync_registry(load_registry(registry or settings.registry))
    due = catalog.feeds(due_before=None if all_feeds else utcnow())
    return batches([feed.url for feed in due], batch_size)


def poll_batch(
    settings: Settings,
    feed_urls: Sequence[str],
    *,
    catalog: Catalog | None = None,
    on_done: Callable[[PollOutcome], None] | None = None,
) -> dict[str, object]:
    """Poll these feeds once; the summary plus one line per failed feed."""
    catalog = catalog or open_catalog(settings)
    wanted = set(feed_urls)
    feeds = [feed for feed in catalog.feeds() if feed.url in wanted]
    failures: list[dict[str, str]] = []

    def record(outcome: PollOutcome) -> None:
        if outcome.error_class is not None:
            failures.append(
                {"feed": outcome.feed_url, "error_class": outcome.error_class.value, "error": outcome.error_message}
            )
        if on_done is not None:
            on_done(outcome)

    summary = poll_feeds(settings, catalog, feeds, on_done=record)
    return summary.as_dict() | {"failures": failures}
