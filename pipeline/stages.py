"""Stage entry points shared by the CLI and the Airflow DAGs.

Each takes settings and small, serialisable arguments (ids, URLs) and returns a small dict,
so an Airflow task can pass it through XCom unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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


def plan_fetch_batches(
    settings: Settings, *, batch_size: int = 25, limit: int | None = None, catalog: Catalog | None = None
) -> list[list[str]]:
    """Entries waiting for their page (``new``, or ``fetched`` by a run that was killed)."""
    catalog = catalog or open_catalog(settings)
    return batches(catalog.pending_page_ids(limit), batch_size)


def fetch_batch(
    settings: Settings,
    entry_ids: Sequence[str],
    *,
    catalog: Catalog | None = None,
    on_done: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Fetch, extract and de-duplicate these entries; the summary of the batch."""
    from pipeline.fetching import fetch_entries

    catalog = catalog or open_catalog(settings)
    return fetch_entries(settings, catalog, entry_ids, on_done).as_dict()


def fetch_batches(
    settings: Settings,
    entry_batches: Iterable[Sequence[str]],
    *,
    catalog: Catalog | None = None,
    on_done: Callable[[str], None] | None = None,
) -> Iterator[dict[str, object]]:
    """:func:`fetch_batch` for each batch in turn, all served by one pool of extractors."""
    from pipeline.fetching import fetch_entry_batches

    catalog = catalog or open_catalog(settings)
    for summary in fetch_entry_batches(settings, catalog, entry_batches, on_done):
        yield summary.as_dict()


def index_pending(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    limit: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Embed, store and cluster every extracted article not yet indexed, in publication order."""
    from pipeline.indexing import IndexStage

    catalog = catalog or open_catalog(settings)
    return IndexStage(settings, catalog).run(limit, on_done).as_dict()


def merge_stories(settings: Settings, *, catalog: Catalog | None = None) -> dict[str, object]:
    """The merge pass: quiet stories go dormant, converged stories merge (with lineage)."""
    from pipeline.maintenance import merge_stories as merge

    return merge(settings, catalog or open_catalog(settings))


def retry_failed_pages(settings: Settings, *, catalog: Catalog | None = None) -> dict[str, object]:
    from pipeline.maintenance import retry_failed_pages as retry

    return retry(settings, catalog or open_catalog(settings))


def data_quality_checks(settings: Settings, *, catalog: Catalog | None = None) -> list[str]:
    from pipeline.maintenance import data_quality_checks as checks

    return checks(settings, catalog or open_catalog(settings))
