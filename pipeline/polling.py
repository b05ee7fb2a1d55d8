"""Feed polling: conditional GET, parse, record new entries, schedule the next poll."""

from __future__ import annotations

import hashlib
import itertools
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from pipeline.catalog import Catalog, FeedState
from pipeline.catalog.store import utcnow
from pipeline.errors import ErrorClass, StorylineError
from pipeline.feeds import FEED_ACCEPT, parse_feed
from pipeline.http import HttpClient
from pipeline.records import DateSource, FeedEntry
from pipeline.settings import Settings

# Without enough dated entries to measure a feed's rhythm, poll it hourly (within the clamp).
DEFAULT_INTERVAL = 3600.0


class PollStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"


@dataclass(frozen=True)
class PollOutcome:
    feed_url: str
    status: PollStatus
    entries_seen: int = 0
    new_ids: tuple[str, ...] = ()
    error_class: ErrorClass | None = None
    error_message: str = ""


@dataclass
class PollSummary:
    feeds: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    entries_seen: int = 0
    entries_new: int = 0
    errors: Counter = field(default_factory=Counter)

    def add(self, outcome: PollOutcome) -> None:
        self.feeds += 1
        self.entries_seen += outcome.entries_seen
        self.entries_new += len(outcome.new_ids)
        if outcome.status is PollStatus.OK:
            self.feeds_ok += 1
        elif outcome.status is PollStatus.NOT_MODIFIED:
            self.feeds_not_modified += 1
        else:
            self.feeds_failed += 1
            self.errors[outcome.error_class.value] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "feeds": self.feeds,
            "feeds_ok": self.feeds_ok,
            "feeds_not_modified": self.feeds_not_modified,
            "feeds_failed": self.feeds_failed,
            "entries_seen": self.entries_seen,
            "entries_new": self.entries_new,
            "errors": dict(sorted(self.errors.items())),
        }


def _clamp(value: float, settings: Settings) -> float:
    return min(max(value, settings.poll_min_interval), settings.poll_max_interval)


def adaptive_interval(entries: Sequence[FeedEntry], previous: float | None, settings: Settings) -> float:
    """Median gap between the feed's recent publication times, clamped to the allowed range."""
    times = sorted(e.published_at.timestamp() for e in entries if e.date_source is DateSource.FEED)[-20:]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times) if later > earlier]
    if not gaps:
        return _clamp(previous or DEFAULT_INTERVAL, settings)
    return _clamp(statistics.median(gaps), settings)


def error_backoff(error_count: int, retry_after: float | None, settings: Settings) -> float:
    """Exponential back-off after consecutive errors; never infinite, so no feed dies for good."""
    delay = settings.poll_min_interval * (2 ** min(error_count, 16))
    return min(max(delay, retry_after or 0.0), settings.poll_error_backoff_max)


def poll_feed(client: HttpClient, catalog: Catalog, feed: FeedState, settings: Settings) -> PollOutcome:
    now = utcnow()
    unconditional = feed.validators_lie or feed.polls_since_unconditional + 1 >= settings.unconditional_every
    headers: dict[str, str] = {}
    if not unconditional:
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
    try:
        result = client.fetch(feed.url, max_bytes=settings.max_feed_bytes, headers=headers, accept=FEED_ACCEPT)
        interval = feed.poll_interval or DEFAULT_INTERVAL
        if result.not_modified:
            catalog.record_poll(
                feed.url, attempted_at=now, next_due_at=now + timedelta(seconds=_clamp(interval, settings))
            )
            return PollOutcome(feed.url, PollStatus.NOT_MODIFIED)
        entries = parse_feed(result.body, feed.url, content_type=result.headers.get("content-type", ""), now=now)
    except StorylineError as exc:
        delay = error_backoff(feed.error_count, exc.retry_after, settings)
        catalog.record_poll(
            feed.url, attempted_at=now, next_due_at=now + timedelta(seconds=delay),
            error=(exc.error_class, exc.message),
        )
        return PollOutcome(feed.url, PollStatus.FAILED, error_class=exc.error_class, error_message=exc.message)

    body_sha256 = hashlib.sha256(result.body).hexdigest()
    etag = result.headers.get("etag")
    last_modified = result.headers.get("last-modified")
    # A server whose validators stay the same while the body changed would have answered 304
    # to a conditional request: it lies, so this feed is fetched unconditionally from now on.
    same_validators = (etag and etag == feed.etag) or (
        last_modified and last_modified == feed.last_modified
    )
    body_changed = feed.body_sha256 and body_sha256 != feed.body_sha256
    lies = True if unconditional and body_changed and same_validators else None
    interval = adaptive_interval(entries, feed.poll_interval, settings)
    new_ids = catalog.record_poll(
        feed.url,
        attempted_at=now,
        next_due_at=now + timedelta(seconds=interval),
        poll_interval=interval,
        etag=etag,
        last_modified=last_modified,
        body_sha256=body_sha256,
        validators_lie=lies,
        unconditional=unconditional,
        new_entries=entries,
    )
    return PollOutcome(feed.url, PollStatus.OK, entries_seen=len(entries), new_ids=tuple(new_ids))


def poll_feeds(
    settings: Settings,
    catalog: Catalog,
    feeds: Sequence[FeedState],
    *,
    workers: int = 4,
    on_done: Callable[[PollOutcome], None] | None = None,
) -> PollSummary:
    """Poll the given feeds concurrently (politeness per host still holds); one summary."""
    summary = PollSummary()
    with HttpClient(settings, catalog.engine) as client, ThreadPoolExecutor(max(1, workers)) as pool:
        for outcome in pool.map(lambda feed: _poll_safely(client, catalog, feed, settings), feeds):
            summary.add(outcome)
            if on_done is not None:
                on_done(outcome)
    return summary


def _poll_safely(client: HttpClient, catalog: Catalog, feed: FeedState, settings: Settings) -> PollOutcome:
    try:
        return poll_feed(client, catalog, feed, settings)
    except Exception as exc:  # noqa: BLE001 - one broken feed must never stop the run
        message = f"{type(exc).__name__}: {exc}"
        now = utcnow()
        catalog.record_poll(
            feed.url, attempted_at=now,
            next_due_at=now + timedelta(seconds=error_backoff(feed.error_count, None, settings)),
            error=(ErrorClass.PARSE, message),
        )
        return PollOutcome(feed.url, PollStatus.FAILED, error_class=ErrorClass.PARSE, error_message=message)
