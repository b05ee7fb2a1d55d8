"""Catalog access. Every status change is one transaction; inserts are idempotent."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Engine,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from pipeline.catalog.schema import articles, clusterer_meta, entries, feeds, stories
from pipeline.errors import ErrorClass, StorylineError
from pipeline.records import EntryStatus, FeedEntry, FeedSource
from pipeline.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Ids per IN (...) query: SQLite caps bound parameters (32,766 by default).
IN_CHUNK = 10_000


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FeedState:
    url: str
    name: str
    language: str
    tags: tuple[str, ...]
    etag: str | None
    last_modified: str | None
    validators_lie: bool
    body_sha256: str | None
    polls_since_unconditional: int
    error_count: int
    error_class: str | None
    poll_interval: float | None
    next_due_at: datetime
    last_success_at: datetime | None

    @classmethod
    def from_row(cls, row) -> FeedState:
        return cls(
            url=row.url,
            name=row.name,
            language=row.language,
            tags=tuple(t for t in row.tags.split(",") if t),
            etag=row.etag,
            last_modified=row.last_modified,
            validators_lie=row.validators_lie,
            body_sha256=row.body_sha256,
            polls_since_unconditional=row.polls_since_unconditional,
            error_count=row.error_count,
            error_class=row.error_class,
            poll_interval=row.poll_interval,
            next_due_at=row.next_due_at,
            last_success_at=row.last_success_at,
        )


def chronological(table: Table) -> tuple:
    """Oldest first, ties by id: the order online clustering and duplicate checks see."""
    return (table.c.published_at, table.c.id)


# The index stage's stream: entries by their feed's time (the first-seen time where the feed
# gives none), the order they arrive in. A page's own, earlier date (a re-dated old story)
# does not move its article back: the index stage may already have clustered past that date
# while later pages were still downloading, as every later run has.
STREAM_ORDER = chronological(entries)


# The page stage runs these for every page: built once, as building a Core statement cost
# more than SQLite took to run it (find_exact_duplicate: 0.68 ms built per call, 0.16 ms
# built once). Parameters are bound by name at execution.
_MARK_FETCHED = (
    update(entries)
    .where(entries.c.id == bindparam("entry_id"))
    .values(
        status=EntryStatus.FETCHED.value, page_sha256=bindparam("sha256"), final_url=bindparam("final"),
        error_class=None, error_message=None, attempts=entries.c.attempts + 1, updated_at=bindparam("now"),
    )
)
_DELETE_ARTICLE = delete(articles).where(articles.c.id == bindparam("article_id"))
_INSERT_ARTICLE = insert(articles)
_MARK_EXTRACTED = (
    update(entries)
    .where(entries.c.id == bindparam("entry_id"))
    .values(status=EntryStatus.EXTRACTED.value, error_class=None, error_message=None, alias_of=None,
            updated_at=bindparam("now"))
)
_EXACT_DUPLICATE = (
    select(
        articles.c.id, articles.c.published_at, articles.c.canonical_url,
        entries.c.canonical_url.label("entry_canonical_url"), entries.c.status,
    )
    .join(entries, entries.c.id == articles.c.id)
    .where(
        articles.c.id != bindparam("entry_id"),
        (articles.c.canonical_url == bindparam("canonical_url")) | (articles.c.body_sha256 == bindparam("body_sha256")),
    )
    .order_by(*chronological(articles))
    .limit(1)
)
# Without values(), the columns to set are the keys of each parameter set but article_id.
_UPDATE_ARTICLE = update(articles).where(articles.c.id == bindparam("article_id"))
_MARK_INDEXED = (
    update(entries)
    .where(entries.c.id == bindparam("entry_id"))
    .values(status=EntryStatus.INDEXED.value, updated_at=bindparam("now"))
)
_SIGNATURES = select(articles.c.id, articles.c.signature, articles.c.extracted_at).where(
    articles.c.signature.is_not(None)
)
_SIGNATURES_PUBLISHED = _SIGNATURES.where(articles.c.published_at.between(bindparam("start"), bindparam("end")))
_SIGNATURES_STORED_SINCE = _SIGNATURES.where(articles.c.extracted_at >= bindparam("since"))


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers proceed while one writer works; busy_timeout makes writers queue
    # instead of failing with "database is locked" when several processes share the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# How long a restarting PostgreSQL may stay unreachable before the run gives up.
RECONNECT_SECONDS = 60.0
# Transactions cut off by a server restart are run again this many times.
TRANSACTION_RETRIES = 3


class _RetryingConnect:
    def __init__(self) -> None:
        self.reached = False

    def __call__(self, dialect, _record, cargs, cparams):
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                connection = dialect.dbapi.connect(*cargs, **cparams)
            except dialect.dbapi.OperationalError:
                if not self.reached or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
                continue
            self.reached = True
            return connection


def retry_disconnects(method: Callable[P, T]) -> Callable[P, T]:
    """Run a one-transaction method again when the server dropped its connection mid-way
    (a PostgreSQL restart). Only for methods whose transaction is safe to repeat."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(TRANSACTION_RETRIES + 1):
            try:
                return method(*args, **kwargs)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == TRANSACTION_RETRIES:
                    raise
        raise AssertionError("unreachable")

    return wrapper


class Catalog:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # pre_ping replaces pooled connections a server restart killed; the connect retry
            # rides out the restart itself (only once the server has been reached, so a wrong
            # URL still fails at once).
            self.engine = create_engine(url, pool_pre_ping=True)
            event.listen(self.engine, "do_connect", _RetryingConnect())

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when several processes start at once."""
        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
        with self.exclusive("migrate"), self.engine.begin() as connection:
            if MigrationContext.configure(connection).get_current_revision() != head:
                command.upgrade(_alembic_config(connection), "head")

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """A cross-process lock named ``name``: every process sharing this catalog waits on it."""
        if self.is_sqlite:
            with open(Path(self.url.split("///", 1)[1] + f".{name}.lock"), "w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()

    # -- feeds ----------------------------------------------------------------------------
    def sync_registry(self, sources: Iterable[FeedSource]) -> None:
        """Add new feeds (due now), refresh names/tags, deactivate feeds no longer listed."""
        now = utcnow()
        sources = list(sources)
        listed = {source.url for source in sources}
        with self.engine.begin() as connection:
            known = {row.url for row in connection.execute(select(feeds.c.url))}
            for source in sources:
                values = {
                    "name": source.name,
                    "language": source.language,
                    "tags": ",".join(source.tags),
                    "active": True,
                }
                if source.url in known:
                    connection.execute(update(feeds).where(feeds.c.url == source.url).values(values))
                else:
                    connection.execute(
                        insert(feeds).values(
                            url=source.url,
                            validators_lie=False,
                            polls_since_unconditional=0,
                            error_count=0,
                            next_due_at=now,
                            **values,
                        )
                    )
            connection.execute(
                update(feeds).where(feeds.c.url.not_in(listed)).values(active=False)
            )

    @retry_disconnects
    def feeds(self, *, due_before: datetime | None = None) -> list[FeedState]:
        query = select(feeds).where(feeds.c.active.is_(True)).order_by(feeds.c.next_due_at)
        if due_before is not None:
            query = query.where(feeds.c.next_due_at <= due_before)
        with self.engine.connect() as connection:
            return [FeedState.from_row(row) for row in connection.execute(query)]

    def feed(self, url: str) -> FeedState:
        with self.engine.connect() as connection:
            row = connection.execute(select(feeds).where(feeds.c.url == url)).one()
        return FeedState.from_row(row)

    @retry_disconnects
    def record_poll(
        self,
        url: str,
        *,
        attempted_at: datetime,
        next_due_at: datetime,
        poll_interval: float | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        body_sha256: str | None = None,
        validators_lie: bool | None = None,
        unconditional: bool = False,
        error: tuple[ErrorClass, str] | None = None,
        new_entries: Sequence[FeedEntry] = (),
    ) -> list[str]:
        """Store one poll's outcome and its new entries in one transaction; return new ids."""
        values: dict[str, object] = {"last_attempt_at": attempted_at, "next_due_at": next_due_at}
        if error is None:
            values |= {
                "last_success_at": attempted_at,
                "error_class": None,
                "error_message": None,
                "error_count": 0,
                "polls_since_unconditional": (
                    0 if unconditional else feeds.c.polls_since_unconditional + 1
                ),
            }
            if poll_interval is not None:
                values["poll_interval"] = poll_interval
            if body_sha256 is not None:
                values |= {"etag": etag, "last_modified": last_modified, "body_sha256": body_sha256}
            if validators_lie is not None:
                values["validators_lie"] = validators_lie
        else:
            error_class, message = error
            values |= {
                "error_class": error_class.value,
                "error_message": message[:2000],
                "error_count": feeds.c.error_count + 1,
            }
        with self.engine.begin() as connection:
            connection.execute(update(feeds).where(feeds.c.url == url).values(values))
            return self._insert_entries(connection, new_entries, attempted_at)

    # -- entries --------------------------------------------------------------------------
    def _insert_entries(
        self, connection: Connection, new: Sequence[FeedEntry], now: datetime
    ) -> list[str]:
        if not new:
            return []
        existing: set[str] = set()
        ids = [entry.id for entry in new]
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            existing.update(connection.execute(select(entries.c.id).where(entries.c.id.in_(chunk))).scalars())
        rows: dict[str, dict[str, object]] = {}
        for entry in new:
            if entry.id in existing or entry.id in rows:
                continue
            rows[entry.id] = {
                "id": entry.id,
                "feed_url": entry.feed_url,
                "guid": entry.guid,
                "url": entry.url,
                "canonical_url": entry.canonical_url,
                "title": entry.title,
                "summary": entry.summary,
                "published_at": entry.published_at,
                "date_source": entry.date_source.value,
                "status": EntryStatus.NEW.value,
                "attempts": 0,
                "first_seen_at": now,
                "updated_at": now,
            }
        if rows:
            # One executemany: a statement per row cost ~4 ms each (400 s for a 100k-entry feed).
            connection.execute(insert(entries), list(rows.values()))
        return list(rows)

    def known_entry_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        if not ids:
            return set()
        with self.engine.connect() as connection:
            return set(connection.execute(select(entries.c.id).where(entries.c.id.in_(ids))).scalars())

    @retry_disconnects
    def entries(
        self, *, status: EntryStatus | None = None, ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list:
        query = select(entries).order_by(*chronological(entries))
        if status is not None:
            query = query.where(entries.c.status == status.value)
        if ids is not None:
            query = query.where(entries.c.id.in_(list(ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    @retry_disconnects
    def pending_page_ids(self, limit: int | None = None) -> list[str]:
        """Ids of entries waiting for their page (``new``, or ``fetched`` by a killed run),
        oldest first. Ids only: loading whole rows of a large backlog to plan it cost GBs."""
        query = (
            select(entries.c.id)
            .where(entries.c.status.in_([EntryStatus.NEW.value, EntryStatus.FETCHED.value]))
            .order_by(*chronological(entries))
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def earliest_pending_arrival(self) -> datetime | None:
        """The stream time (``STREAM_ORDER``) of the oldest entry still waiting for the page stage."""
        query = select(func.min(entries.c.published_at)).where(
            entries.c.status.in_([EntryStatus.NEW.value, EntryStatus.FETCHED.value])
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    @retry_disconnects
    def count_entries(self, status: EntryStatus | None = None) -> int:
        query = select(func.count()).select_from(entries)
        if status is not None:
            query = query.where(entries.c.status == status.value)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def set_status(
        self,
        entry_id: str,
        status: EntryStatus,
        *,
        error: tuple[ErrorClass | str, str] | None = None,
        count_attempt: bool = False,
        connection: Connection | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status.value, "updated_at": utcnow()}
        if error is not None:
            error_class, message = error
            values |= {"error_class": str(error_class), "error_message": message[:2000]}
        else:
            values |= {"error_class": None, "error_message": None}
        if count_attempt:
            values["attempts"] = entries.c.attempts + 1
        statement = update(entries).where(entries.c.id == entry_id).values(values)
        if connection is not None:
            connection.execute(statement)
        else:
            with self.engine.begin() as own:
                own.execute(statement)

    # -- pages and articles -------------------------------------------------------------------
    @retry_disconnects
    def mark_fetched(self, pages: Sequence[tuple[str, str, str]]) -> None:
        """Entries whose page is in the page store, as (entry id, page sha256, final URL); one
        transaction for the group."""
        if not pages:
            return
        now = utcnow()
        with self.engine.begin() as connection:
            connection.execute(_MARK_FETCHED, [
                {"entry_id": entry_id, "sha256": sha256, "final": final, "now": now}
                for entry_id, sha256, final in pages
            ])

    @retry_disconnects
    def mark_failed(self, entry_id: str, error: StorylineError, retry_at: datetime) -> None:
        """A page that may work later (timeouts, 5xx, a crashed extractor): retried after back-off."""
        with self.engine.begin() as connection:
            connection.execute(
                update(entries)
                .where(entries.c.id == entry_id)
                .values(
                    status=EntryStatus.FAILED.value, error_class=error.error_class.value,
                    error_message=error.message[:2000], attempts=entries.c.attempts + 1,
                    next_attempt_at=retry_at, updated_at=utcnow(),
                )
            )

    @retry_disconnects
    def mark_skipped(self, entry_id: str, error_class: ErrorClass, reason: str, *, alias_of: str | None = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(entries)
                .where(entries.c.id == entry_id)
                .values(
                    status=EntryStatus.SKIPPED.value, error_class=error_class.value,
                    error_message=reason[:2000], alias_of=alias_of, updated_at=utcnow(),
                )
            )

    @retry_disconnects
    def store_article(self, values: dict[str, object]) -> None:
        """Insert (or replace) the article and mark its entry extracted, in one transaction."""
        with self.engine.begin() as connection:
            connection.execute(_DELETE_ARTICLE, {"article_id": values["id"]})
            connection.execute(_INSERT_ARTICLE, values)
            connection.execute(_MARK_EXTRACTED, {"entry_id": values["id"], "now": utcnow()})

    def find_exact_duplicate(self, entry_id: str, canonical_url: str, body_sha256: str):
        """The earliest other stored article with the same canonical URL or the same body, as
        (id, published_at, canonical_url, entry_canonical_url, status), or None."""
        with self.engine.connect() as connection:
            return connection.execute(_EXACT_DUPLICATE, {
                "entry_id": entry_id, "canonical_url": canonical_url, "body_sha256": body_sha256,
            }).first()

    @retry_disconnects
    def supersede_article(self, old_id: str, new_id: str) -> None:
        """Make `old_id` a duplicate of `new_id` (not yet stored): its article row goes, its entry
        and everything that pointed at it point at `new_id`. One transaction; the caller stores
        `new_id` next, under the same lock."""
        with self.engine.begin() as connection:
            connection.execute(delete(articles).where(articles.c.id == old_id))
            connection.execute(
                update(articles).where(articles.c.syndicated_of == old_id).values(syndicated_of=new_id)
            )
            connection.execute(
                update(entries).where(entries.c.alias_of == old_id).values(alias_of=new_id)
            )
            connection.execute(
                update(entries)
                .where(entries.c.id == old_id)
                .values(
                    status=EntryStatus.SKIPPED.value, error_class=ErrorClass.DUPLICATE.value,
                    error_message=f"same article as {new_id}", alias_of=new_id, updated_at=utcnow(),
                )
            )

    def signatures(self, *, published: tuple[datetime, datetime] | None = None,
                   stored_since: datetime | None = None) -> list:
        """(id, signature, extracted_at) of the articles published in [start, end], or stored
        at or after a time (every article's with neither)."""
        if published is not None and stored_since is not None:
            raise ValueError("signatures: published or stored_since, not both")
        query, parameters = _SIGNATURES, {}
        if published is not None:
            query, parameters = _SIGNATURES_PUBLISHED, {"start": published[0], "end": published[1]}
        elif stored_since is not None:
            query, parameters = _SIGNATURES_STORED_SINCE, {"since": stored_since}
        with self.engine.connect() as connection:
            return list(connection.execute(query, parameters))

    def last_stored_at(self) -> datetime | None:
        with self.engine.connect() as connection:
            return connection.execute(select(func.max(articles.c.extracted_at))).scalar()

    def syndication_rows(self, start: datetime, end: datetime, ids: Iterable[str], *,
                         with_copies: bool = False) -> list:
        """(id, published_at, syndicated_of) of the articles published in [start, end] whose id
        is one of ``ids`` (and, ``with_copies``, of those marked as copies of one of them)."""
        ids = list(ids)
        wanted = articles.c.id.in_(ids)
        if with_copies:
            wanted = wanted | articles.c.syndicated_of.in_(ids)
        query = select(articles.c.id, articles.c.published_at, articles.c.syndicated_of).where(
            articles.c.published_at.between(start, end), wanted
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def set_syndicated_of(self, ids: Sequence[str], original: str | None) -> None:
        if ids:
            with self.engine.begin() as connection:
                connection.execute(
                    update(articles).where(articles.c.id.in_(list(ids))).values(syndicated_of=original)
                )

    def indexed_articles(self) -> list:
        """Every indexed article, in the stream's order (what `reindex` embeds again)."""
        query = (
            select(articles)
            .join(entries, entries.c.id == articles.c.id)
            .where(entries.c.status == EntryStatus.INDEXED.value)
            .order_by(*STREAM_ORDER)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    @retry_disconnects
    def set_story_vectors(self, values: dict[str, dict[str, object]]) -> None:
        """Story id -> the columns that hold its vectors (centroid_sum, vector_count, members),
        in one transaction."""
        with self.engine.begin() as connection:
            for story_id, columns in values.items():
                connection.execute(update(stories).where(stories.c.id == story_id).values(**columns))

    def articles(self, ids: Sequence[str] | None = None) -> list:
        query = select(articles).order_by(*chronological(articles))
        if ids is not None:
            query = query.where(articles.c.id.in_(list(ids)))
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    # -- stories --------------------------------------------------------------------------------
    def articles_to_index(self, limit: int | None = None, *, arrived_before: datetime | None = None) -> list:
        """Extracted, not yet indexed articles in the stream's order, all or those whose feed
        entry is dated before a time."""
        query = (
            select(articles)
            .join(entries, entries.c.id == articles.c.id)
            .where(entries.c.status == EntryStatus.EXTRACTED.value)
            .order_by(*STREAM_ORDER)
        )
        if arrived_before is not None:
            query = query.where(entries.c.published_at < arrived_before)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def stories(self, *, states: Sequence[str] | None = None, ids: Sequence[str] | None = None,
                split_from: str | None = None) -> list:
        query = select(stories).order_by(stories.c.last_seen.desc(), stories.c.id)
        if states is not None:
            query = query.where(stories.c.state.in_(list(states)))
        if ids is not None:
            query = query.where(stories.c.id.in_(list(ids)))
        if split_from is not None:
            query = query.where(stories.c.split_from == split_from)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def clusterer_meta(self) -> dict[str, str]:
        with self.engine.connect() as connection:
            return {row.key: row.value for row in connection.execute(select(clusterer_meta))}

    @retry_disconnects
    def commit_index_batch(
        self,
        story_rows: Sequence[dict[str, object]],
        article_updates: Sequence[dict[str, object]],
        meta: dict[str, str],
        merged: Sequence[tuple[str, str]] = (),
        moved: dict[str, str] | None = None,
    ) -> None:
        """Persist one indexed batch atomically: stories, each article's story and explanation,
        entry status ``indexed``, merges (articles follow their story), then the articles
        splits ``moved`` (article id -> its story now) and clusterer counters."""
        now = utcnow()
        with self.engine.begin() as connection:
            if story_rows:
                connection.execute(delete(stories).where(stories.c.id.in_([r["id"] for r in story_rows])))
                connection.execute(insert(stories), [dict(row, updated_at=now) for row in story_rows])
            # One executemany per set of columns: a statement built per article cost more than
            # running it.
            by_columns: dict[tuple[str, ...], list[dict[str, object]]] = {}
            for update_values in article_updates:
                values = {"article_id": update_values["id"], "indexed_at": now}
                values |= {key: value for key, value in update_values.items() if key != "id"}
                by_columns.setdefault(tuple(sorted(values)), []).append(values)
            for group in by_columns.values():
                connection.execute(_UPDATE_ARTICLE, group)
            if article_updates:
                connection.execute(_MARK_INDEXED, [{"entry_id": u["id"], "now": now} for u in article_updates])
            for gone, keep in merged:
                connection.execute(update(articles).where(articles.c.story_id == gone).values(story_id=keep))
            if moved:
                connection.execute(_UPDATE_ARTICLE, [
                    {"article_id": article_id, "story_id": story_id} for article_id, story_id in moved.items()
                ])
            if meta:
                connection.execute(delete(clusterer_meta).where(clusterer_meta.c.key.in_(list(meta))))
                connection.execute(insert(clusterer_meta), [{"key": k, "value": v} for k, v in meta.items()])

    def article_id_for_url(self, canonical_url: str) -> str | None:
        """The stored article behind a canonical URL: its own page, or an entry aliased to it."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(articles.c.id).where(articles.c.canonical_url == canonical_url).limit(1)
            ).scalar()
            if found is None:
                entry = connection.execute(
                    select(entries.c.id, entries.c.alias_of).where(entries.c.canonical_url == canonical_url)
                ).first()
                found = (entry.alias_of or entry.id) if entry else None
        return found

    def articles_of_story(self, story_id: str) -> list:
        query = select(articles).where(articles.c.story_id == story_id).order_by(*chronological(articles))
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def article_ids_of_stories(self, story_ids: Sequence[str]) -> list[str]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(select(articles.c.id).where(articles.c.story_id.in_(list(story_ids)))).scalars()
            )

    # -- maintenance ----------------------------------------------------------------------------
    def requeue_failed(self, now: datetime, max_attempts: int) -> int:
        """Failed entries past their back-off and under ``max_attempts`` go back in the queue."""
        due = (
            (entries.c.status == EntryStatus.FAILED.value)
            & (entries.c.next_attempt_at <= now)
            & (entries.c.attempts < max_attempts)
        )
        with self.engine.begin() as connection:
            refetch = connection.execute(
                update(entries).where(due & entries.c.page_sha256.is_(None))
                .values(status=EntryStatus.NEW.value, updated_at=now)
            ).rowcount
            reextract = connection.execute(
                update(entries).where(due & entries.c.page_sha256.is_not(None))
                .values(status=EntryStatus.FETCHED.value, updated_at=now)
            ).rowcount
        return refetch + reextract

    def count_failed(self, *, min_attempts: int) -> int:
        query = select(func.count()).select_from(entries).where(
            entries.c.status == EntryStatus.FAILED.value, entries.c.attempts >= min_attempts
        )
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def page_outcomes_since(self, since: datetime) -> dict[str, int]:
        """Pages handled since ``since``: extracted/indexed articles, and skips by reason."""
        query = (
            select(entries.c.status, entries.c.error_class, func.count())
            .where(entries.c.updated_at >= since, entries.c.page_sha256.is_not(None))
            .group_by(entries.c.status, entries.c.error_class)
        )
        outcomes: dict[str, int] = {}
        with self.engine.connect() as connection:
            for status, error_class, count in connection.execute(query):
                key = error_class if status == EntryStatus.SKIPPED.value else status
                outcomes[key] = outcomes.get(key, 0) + count
        return outcomes

    def count_entries_since(self, since: datetime) -> int:
        query = select(func.count()).select_from(entries).where(entries.c.first_seen_at >= since)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def count_indexed_since(self, since: datetime) -> int:
        query = select(func.count()).select_from(articles).where(articles.c.indexed_at >= since)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())


def open_catalog(settings: Settings | None = None, *, migrate: bool = True) -> Catalog:
    settings = settings or Settings()
    catalog = Catalog(settings.resolved_catalog_url)
    if migrate:
        catalog.migrate()
    return catalog
