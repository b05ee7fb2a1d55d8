"""Stage entry points shared by the CLI and the Airflow DAGs.

Each takes settings and small, serialisable arguments (ids, URLs) and returns a small dict,
so an Airflow task can pass it through XCom unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.catalog import Catalog, open_catalog
from pipeline.catalog.store import utcnow
from pipeline.feeds import load_registry
from pipeline.polling import PollOutcome, poll_feeds
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.indexing import IndexStage


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


def merge_summaries(total: dict[str, object], part: dict[str, object]) -> dict[str, object]:
    """Add two stage summaries key by key (numbers add, error-class counts add per class)."""
    merged = dict(total)
    for key, value in part.items():
        if isinstance(value, dict):
            counts = dict(merged.get(key, {}))
            for name, count in value.items():
                counts[name] = counts.get(name, 0) + count
            merged[key] = dict(sorted(counts.items()))
        elif isinstance(value, int | float):
            merged[key] = merged.get(key, 0) + value
    return merged


# While pages are fetched, how long the index stage waits before looking for newly extracted
# articles again when it found none.
INDEX_MEANWHILE_POLL_SECONDS = 0.5


def fetch_and_index(
    settings: Settings,
    catalog: Catalog,
    entry_batches: Iterable[Sequence[str]],
    index_stage: IndexStage,
    *,
    on_fetched: Callable[[str], None] | None = None,
    on_indexed: Callable[[int], None] | None = None,
) -> tuple[dict[str, object], dict[str, object]]:
    """Fetch these batches and index everything extracted: (fetch totals, index totals).

    The two overlap. While pages are fetched, the index stage embeds on one core what is
    already extracted and arrived before every entry still waiting for its page: the page
    stage leaves part of the cores idle (its extraction workers and its storing wait on each
    other), and embedding on one core beside it uses that. Once the last page is stored, the
    rest is indexed on every core. So articles are clustered in the order the stages one
    after the other cluster them (the stream's order, ``STREAM_ORDER``). An error of the index
    stage surfaces once every page is stored; one of the page stage, once the index stage's
    run in hand has ended.
    """
    from pipeline.fetching import fetch_entry_batches

    fetching_done = threading.Event()

    def index_meanwhile() -> dict[str, object]:
        totals: dict[str, object] = {}
        while not fetching_done.is_set():
            # Everything extracted so far, so the clusterer's state is loaded a few times a run
            # rather than per batch; on one core until the last page is stored, then on all:
            # what is in hand then finishes on every core.
            summary = index_stage.run(on_done=on_indexed, cores=lambda: None if fetching_done.is_set() else 1,
                                      arrived_before=catalog.earliest_pending_arrival())
            totals = merge_summaries(totals, summary.as_dict())
            if not summary.articles:
                fetching_done.wait(INDEX_MEANWHILE_POLL_SECONDS)
        return totals

    fetched: dict[str, object] = {}
    with ThreadPoolExecutor(1, thread_name_prefix="index-meanwhile") as background:
        meanwhile = background.submit(index_meanwhile)
        try:
            for summary in fetch_entry_batches(settings, catalog, entry_batches, on_fetched):
                fetched = merge_summaries(fetched, summary.as_dict())
        finally:
            fetching_done.set()
        indexed = meanwhile.result()
    indexed = merge_summaries(indexed, index_stage.run(on_done=on_indexed).as_dict())
    return fetched, indexed


def index_pending(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    limit: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Embed, store and cluster every extracted article not yet indexed, in the stream's order."""
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
