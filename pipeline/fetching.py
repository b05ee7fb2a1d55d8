"""Page stage: fetch each new entry's page, store it, extract the article, recognise duplicates.

Order of work for a batch of entry ids:
1. entries still ``new`` are fetched concurrently through the safe HTTP layer (robots,
   politeness, SSRF guard, caps); the raw HTML goes to the page store, the entry becomes
   ``fetched``. A page that refuses us (401/402/403/451, robots) falls back to the feed
   summary (``body_source="feed"``), so later stages still have the entry.
2. ``fetched`` entries (this batch's and any left by a killed run) are extracted in a worker
   pool with a hard per-page timeout; non-articles are ``skipped`` with a reason.
3. Each article passes the duplicate checks under one cross-process lock, then is stored and
   marked ``extracted`` in the same transaction.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Self

from pipeline.catalog import Catalog
from pipeline.catalog.store import utcnow
from pipeline.dedup import SyndicationIndex, body_hash, signature
from pipeline.errors import ErrorClass, StorylineError
from pipeline.extraction import Extracted, ExtractorPool, reconcile
from pipeline.http import HttpClient
from pipeline.pagestore import PageStore
from pipeline.records import EntryStatus
from pipeline.settings import Settings
from pipeline.urls import canonicalize_url

PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
# Statuses that mean "you may not read this page" rather than "it is broken".
REFUSED_STATUSES = {401, 402, 403, 451}
# Syndicated copies appear within days of the original.
SYNDICATION_WINDOW = timedelta(days=3)
# Fetched pages are recorded in groups as they arrive: one transaction per page cost more
# than the fetch, and a killed run downloads at most a group again.
FETCH_RECORD_GROUP = 8
RETRY_BASE = timedelta(minutes=15)
RETRY_MAX = timedelta(days=1)


@dataclass
class FetchSummary:
    pages: int = 0
    extracted: int = 0
    skipped: int = 0
    fallback_summary: int = 0
    duplicates: int = 0
    syndicated: int = 0
    errors: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "pages": self.pages,
            "extracted": self.extracted,
            "skipped": self.skipped,
            "fallback_summary": self.fallback_summary,
            "duplicates": self.duplicates,
            "syndicated": self.syndicated,
            "errors": dict(sorted(self.errors.items())),
        }


def retry_at(attempts: int, retry_after: float | None = None) -> datetime:
    """Exponential back-off, but never sooner than the server's Retry-After."""
    backoff = min(RETRY_BASE * (2 ** min(attempts, 10)), RETRY_MAX)
    return utcnow() + max(backoff, timedelta(seconds=retry_after or 0.0))


PAGE_STAGE_STATUSES = {EntryStatus.NEW.value, EntryStatus.FETCHED.value}


@dataclass
class _StageTools:
    """What a page stage keeps across batches: the HTTP client (its connections and robots.txt
    cache) and the extraction workers, which start up (seconds: spawn, imports) while the
    first pages download."""

    client: HttpClient
    extractors: ExtractorPool

    @classmethod
    def open(cls, settings: Settings, catalog: Catalog) -> _StageTools:
        client = HttpClient(settings, catalog.engine)  # first: if it fails, no worker is left behind
        extractors = ExtractorPool(workers=settings.extract_workers, timeout=settings.extract_timeout)
        return cls(client, extractors.__enter__())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()
        self.extractors.close()


@dataclass
class _Downloaded:
    """A batch whose new entries were downloaded: what `PageStage._finish` needs next."""

    entry_ids: list[str]
    to_fetch: list  # the entries that were new, in entry order
    summary: FetchSummary = field(default_factory=FetchSummary)
    failures: dict[str, StorylineError] = field(default_factory=dict)


class _Spans:
    """Disjoint time spans, merged as they are added: a re-dated article far in the past adds
    its own window, not everything between it and the windows read so far."""

    def __init__(self) -> None:
        self._spans: list[tuple[datetime, datetime]] = []  # sorted, disjoint

    def __bool__(self) -> bool:
        return bool(self._spans)

    def missing(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The parts of [start, end] no span covers."""
        gaps, cursor = [], start
        for low, high in self._spans:
            if high < cursor:
                continue
            if low > end:
                break
            if low > cursor:
                gaps.append((cursor, low))
            cursor = max(cursor, high)
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def add(self, start: datetime, end: datetime) -> None:
        merged: list[tuple[datetime, datetime]] = []
        for low, high in sorted([*self._spans, (start, end)]):
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        self._spans = merged


class PageStage:
    def __init__(self, settings: Settings, catalog: Catalog):
        self.settings = settings
        self.catalog = catalog
        self.pages = PageStore(settings.pages_dir)
        self.feed_names = {feed.url: feed.name for feed in catalog.feeds()}
        self.feed_languages = {feed.url: feed.language for feed in catalog.feeds()}
        # One LSH index for the stage, grown as articles are stored (by this process or any
        # other): reading every signature in the window for each stored article made a run
        # quadratic in the feed volume.
        self._signatures = SyndicationIndex()
        self._signatures_read = _Spans()  # the publication times whose signatures are read
        self._last_stored_at: datetime | None = None
        self._tools: _StageTools | None = None

    def __enter__(self) -> Self:
        """Keep one set of tools for every batch run in this block."""
        self._tools = _StageTools.open(self.settings, self.catalog)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._tools is not None:
            self._tools.__exit__()
            self._tools = None

    def run(self, entry_ids: Sequence[str], on_done: Callable[[str], None] | None = None) -> FetchSummary:
        rows = self.catalog.entries(ids=list(entry_ids))
        if not any(row.status in PAGE_STAGE_STATUSES for row in rows):
            return FetchSummary()
        if self._tools is not None:
            return self._finish(self._download_batch(self._tools.client, rows), self._tools, on_done)
        with _StageTools.open(self.settings, self.catalog) as tools:
            return self._finish(self._download_batch(tools.client, rows), tools, on_done)

    def run_batches(self, batches: Iterable[Sequence[str]],
                    on_done: Callable[[str], None] | None = None) -> Iterator[FetchSummary]:
        """One summary per batch, in order, inside this stage's ``with`` block. The next batch
        downloads while this one is extracted and stored: extraction runs in other processes,
        so the downloads take the time the main process would otherwise wait for them."""
        if self._tools is None:
            raise RuntimeError("run_batches runs inside `with PageStage(...)`")
        tools = self._tools

        def download(entry_ids: Sequence[str]) -> _Downloaded:
            return self._download_batch(tools.client, self.catalog.entries(ids=list(entry_ids)))

        pending = iter(batches)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="download-ahead") as ahead:
            first = next(pending, None)
            upcoming = ahead.submit(download, first) if first is not None else None
            while upcoming is not None:
                batch = upcoming.result()
                following = next(pending, None)
                upcoming = ahead.submit(download, following) if following is not None else None
                yield self._finish(batch, tools, on_done)

    def _finish(self, batch: _Downloaded, tools: _StageTools,
                on_done: Callable[[str], None] | None) -> FetchSummary:
        """The failed downloads, then extraction of the batch's fetched pages (this batch's and
        any left by a killed run). Every store runs here, in the caller's thread."""
        for row in batch.to_fetch:
            if row.id in batch.failures:
                self._after_fetch_error(row, batch.failures[row.id], batch.summary)
                if on_done is not None:
                    on_done(row.id)
        fetched = [
            row for row in self.catalog.entries(ids=batch.entry_ids)
            if row.status == EntryStatus.FETCHED.value
        ]
        if fetched:
            self._extract(tools.extractors, fetched, batch.summary, on_done)
        return batch.summary

    # -- fetch ----------------------------------------------------------------------------
    def _fetch(self, client: HttpClient, row) -> tuple[str, str] | StorylineError:
        try:
            result = client.fetch(
                row.url, max_bytes=self.settings.max_page_bytes, check_robots=True, accept=PAGE_ACCEPT
            )
            if result.content_type not in HTML_TYPES:
                raise StorylineError(ErrorClass.NOT_HTML, f"content type {result.content_type}")
            return self.pages.put(result.body), result.final_url
        except StorylineError as exc:
            return exc

    def _download_batch(self, client: HttpClient, rows: Sequence) -> _Downloaded:
        """Download the batch's new entries and record their pages in groups in the order the
        downloads complete (in entry order, one slow page held every later page unrecorded).
        Failures are kept for `_finish`, which handles them in entry order: a refused page's
        feed summary is stored and so takes part in the duplicate checks, whose outcome must
        not depend on timing."""
        batch = _Downloaded([row.id for row in rows], [row for row in rows if row.status == EntryStatus.NEW.value])
        if not batch.to_fetch:
            return batch
        with ThreadPoolExecutor(4) as pool:
            futures = {pool.submit(self._fetch, client, row): row for row in batch.to_fetch}
            completed = ((futures[future], future.result()) for future in as_completed(futures))
            while group := list(itertools.islice(completed, FETCH_RECORD_GROUP)):
                pages = [(row.id, *outcome) for row, outcome in group if not isinstance(outcome, StorylineError)]
                self.catalog.mark_fetched(pages)
                batch.summary.pages += len(pages)
                batch.failures.update(
                    (row.id, outcome) for row, outcome in group if isinstance(outcome, StorylineError))
        return batch

    def _after_fetch_error(self, row, error: StorylineError, summary: FetchSummary) -> None:
        summary.errors[error.error_class.value] += 1
        refused = error.error_class is ErrorClass.ROBOTS or error.status in REFUSED_STATUSES
        if refused and row.summary.strip():
            self._store(row, title=row.title, text=row.summary, body_source="feed", extracted=None, summary=summary)
            summary.fallback_summary += 1
        elif error.error_class is ErrorClass.NOT_HTML:
            self.catalog.mark_skipped(row.id, error.error_class, error.message)
            summary.skipped += 1
        else:
            self.catalog.mark_failed(row.id, error, retry_at(row.attempts, error.retry_after))

    # -- extract --------------------------------------------------------------------------
    def _extract(self, extractors: ExtractorPool, rows: Sequence, summary: FetchSummary, on_done) -> None:
        """Extract in the workers while storing what they return, in keep order, so that of
        duplicates within the batch the copy to keep is stored first: pages go out in
        publication order, and a page is stored once every page published before or at the
        same time is back (pages published together, an article and its AMP copy, are then
        stored in keep order)."""
        by_time = sorted(rows, key=lambda row: (row.published_at, row.id))
        items = [(row.id, self.pages.get(row.page_sha256), row.final_url or row.url) for row in by_time]
        results: dict[str, Extracted | StorylineError] = {}

        def store_order(row) -> tuple:
            result = results[row.id]
            page_canonical = result.canonical_url if isinstance(result, Extracted) else None
            canonical = canonicalize_url(page_canonical) if page_canonical else row.canonical_url
            return keep_order(row.published_at, canonical, row.canonical_url, row.id)

        waiting = deque(
            list(same_time) for _, same_time in itertools.groupby(by_time, key=lambda row: row.published_at)
        )
        for key, result in extractors.extract_many(items):
            results[key] = result
            while waiting and all(row.id in results for row in waiting[0]):
                for row in sorted(waiting.popleft(), key=store_order):
                    self._store_result(row, results[row.id], summary)
                    if on_done is not None:
                        on_done(row.id)

    def _store_result(self, row, result: Extracted | StorylineError, summary: FetchSummary) -> None:
        if isinstance(result, StorylineError):
            summary.errors[result.error_class.value] += 1
            self.catalog.mark_failed(row.id, result, retry_at(row.attempts))
        elif not result.is_article:
            self.catalog.mark_skipped(row.id, ErrorClass.NOT_ARTICLE, result.skip_reason or "not an article")
            summary.skipped += 1
        else:
            title, _, _ = reconcile(row.title, row.published_at, result)
            self._store(row, title=title, text=result.text, body_source="page", extracted=result, summary=summary)

    # -- duplicates and storage -----------------------------------------------------------
    def _store(self, row, *, title: str, text: str, body_source: str, extracted: Extracted | None,
               summary: FetchSummary) -> None:
        published_at, updated_at = row.published_at, None
        if extracted is not None:
            _, published_at, updated_at = reconcile(row.title, row.published_at, extracted)
        page_canonical = extracted.canonical_url if extracted and extracted.canonical_url else None
        canonical = canonicalize_url(page_canonical) if page_canonical else row.canonical_url
        body_sha256 = body_hash(text)
        sig = signature(text)
        with self.catalog.exclusive("dedup"):
            stored = self.catalog.find_exact_duplicate(row.id, canonical, body_sha256)
            if stored is not None:
                summary.duplicates += 1
                mine = keep_order(published_at, canonical, row.canonical_url, row.id)
                theirs = keep_order(stored.published_at, stored.canonical_url, stored.entry_canonical_url, stored.id)
                # Which copy is kept must not depend on which parallel task stored first; only an
                # indexed copy stays regardless, because its vector and story are already out.
                if stored.status == EntryStatus.INDEXED.value or theirs < mine:
                    self.catalog.mark_skipped(row.id, ErrorClass.DUPLICATE, f"same article as {stored.id}", alias_of=stored.id)
                    return
                self.catalog.supersede_article(stored.id, row.id)
            syndicated_of = self._syndication(row.id, published_at, sig)
            self.catalog.store_article(
                {
                    "id": row.id,
                    "url": row.url,
                    "canonical_url": canonical,
                    "title": title or row.title,
                    "text": text,
                    "description": extracted.description if extracted else None,
                    "author": extracted.author if extracted else None,
                    "sitename": extracted.sitename if extracted else None,
                    "source": self.feed_names.get(row.feed_url, row.feed_url),
                    "language": (extracted.language if extracted else None) or self.feed_languages.get(row.feed_url),
                    "published_at": published_at,
                    "updated_at": updated_at,
                    "body_source": body_source,
                    "body_sha256": body_sha256,
                    "signature": sig,
                    "syndicated_of": syndicated_of,
                    "extracted_at": self._stored_at(),
                }
            )
        if body_source == "page":
            summary.extracted += 1
        if syndicated_of is not None:
            summary.syndicated += 1

    def _syndication(self, article_id: str, published_at: datetime, sig: bytes) -> str | None:
        """The original this article copies, or None. The original of a group of copies is its
        earliest published member, whatever order they arrive in: if this article is earlier
        than the group's current original, the group is re-pointed at it."""
        start, end = published_at - SYNDICATION_WINDOW, published_at + SYNDICATION_WINDOW
        self._read_signatures(start, end)
        candidates = [match for match in self._signatures.matches(sig) if match != article_id]
        # The catalog has the last word: a match may have been superseded since, or be
        # published outside this article's window.
        matched = self.catalog.syndication_rows(start, end, candidates) if candidates else []
        if not matched:
            return None
        originals = {row.syndicated_of or row.id for row in matched}
        members = [
            row for row in self.catalog.syndication_rows(start, end, originals, with_copies=True)
            if row.id != article_id
        ]
        earliest = min(
            [(row.published_at, row.id) for row in members] + [(published_at, article_id)]
        )[1]
        self.catalog.set_syndicated_of([row.id for row in members if row.id != earliest], earliest)
        if earliest == article_id:
            return None
        self.catalog.set_syndicated_of([earliest], None)
        return earliest

    def _read_signatures(self, start: datetime, end: datetime) -> None:
        """Bring the LSH index up to date for a window: the signatures published in the parts
        of it not read before, and every signature stored since the last read. Runs under the
        dedup lock, so every other process's store has committed."""
        if not self._signatures_read:
            self._last_stored_at = self.catalog.last_stored_at()
            rows = []
        else:
            # None: the catalog held no article at the last read, so every stored one is new.
            rows = self.catalog.signatures(stored_since=self._last_stored_at)
        if self._signatures_read.missing(start, end):
            # A window further: pages arrive in about publication order, so the next pages'
            # windows are read too (one read per window of publication time, not per page).
            end += SYNDICATION_WINDOW
            for span in self._signatures_read.missing(start, end):
                rows += self.catalog.signatures(published=span)
            self._signatures_read.add(start, end)
        for row in rows:
            self._signatures.insert(row.id, row.signature)
            self._last_stored_at = max(self._last_stored_at or row.extracted_at, row.extracted_at)

    def _stored_at(self) -> datetime:
        """Now, or the latest store time the catalog holds if another process's clock is ahead:
        store times never go backwards, so reading "stored since the last read" misses
        nothing whatever the clocks of the processes sharing the catalog say."""
        return max(utcnow(), self._last_stored_at) if self._last_stored_at else utcnow()


def keep_order(published_at: datetime, canonical_url: str, entry_canonical_url: str,
               article_id: str) -> tuple:
    """Of exact duplicates the earliest published is kept; at equal times the page that names
    itself canonical (not the AMP or print copy), then the smallest id."""
    return (published_at, canonical_url != entry_canonical_url, article_id)


def fetch_entries(settings: Settings, catalog: Catalog, entry_ids: Sequence[str],
                  on_done: Callable[[str], None] | None = None) -> FetchSummary:
    return PageStage(settings, catalog).run(entry_ids, on_done)


def fetch_entry_batches(settings: Settings, catalog: Catalog, batches: Iterable[Sequence[str]],
                        on_done: Callable[[str], None] | None = None) -> Iterator[FetchSummary]:
    """One summary per batch, all batches served by one stage and one pool of extractors (a
    pool per batch spent about a second per batch starting workers)."""
    with PageStage(settings, catalog) as stage:
        yield from stage.run_batches(batches, on_done)
