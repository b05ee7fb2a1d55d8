"""The catalog on SQLite and on the machine's real PostgreSQL (fresh database per session)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect

from pipeline.catalog import Catalog, open_catalog
from pipeline.catalog.store import utcnow
from pipeline.errors import ErrorClass
from pipeline.records import DateSource, EntryStatus, FeedEntry, FeedSource, article_id
from pipeline.settings import Settings

FEED = "http://news.example.test/feed.xml"


def entry(slug: str, hours: int = 0) -> FeedEntry:
    url = f"http://news.example.test/{slug}.html"
    return FeedEntry(
        id=article_id(url), feed_url=FEED, guid=slug, url=url, canonical_url=url,
        title=f"Title {slug}", summary="", date_source=DateSource.FEED,
        published_at=datetime(2025, 5, 19, 12, tzinfo=UTC) + timedelta(hours=hours),
    )


def test_migrations_create_the_schema_and_are_idempotent(catalog: Catalog) -> None:
    catalog.migrate()  # second time: nothing to do
    tables = set(inspect(catalog.engine).get_table_names())
    assert {"feeds", "entries", "host_politeness", "host_slots", "alembic_version"} <= tables


def test_the_migrations_build_exactly_the_schema_the_code_declares(catalog: Catalog) -> None:
    """Alembic's own comparison of the migrated database with `schema.metadata`: a column or
    index added to one and not the other shows up here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pipeline.catalog.schema import metadata

    with catalog.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_registry_sync_adds_updates_and_deactivates(catalog: Catalog) -> None:
    catalog.sync_registry([FeedSource("A", FEED, tags=("world",)), FeedSource("B", FEED + "?b")])
    assert {f.name for f in catalog.feeds()} == {"A", "B"}
    catalog.sync_registry([FeedSource("A renamed", FEED, language="uk")])
    (only,) = catalog.feeds()
    assert (only.name, only.language, only.tags) == ("A renamed", "uk", ())


def test_repolling_never_duplicates_entries(catalog: Catalog) -> None:
    catalog.sync_registry([FeedSource("A", FEED)])
    now = utcnow()
    first = catalog.record_poll(FEED, attempted_at=now, next_due_at=now, new_entries=[entry("a", 1), entry("b", 2)])
    again = catalog.record_poll(
        FEED, attempted_at=now, next_due_at=now, new_entries=[entry("b", 2), entry("c", 0), entry("c", 0)]
    )
    assert sorted(first) == sorted([entry("a").id, entry("b").id])
    assert again == [entry("c").id]
    assert catalog.count_entries() == 3
    assert [row.guid for row in catalog.entries()] == ["c", "a", "b"]  # publication order


def test_status_changes_and_errors(catalog: Catalog) -> None:
    catalog.sync_registry([FeedSource("A", FEED)])
    now = utcnow()
    catalog.record_poll(FEED, attempted_at=now, next_due_at=now, new_entries=[entry("a"), entry("b")])
    catalog.set_status(entry("a").id, EntryStatus.FETCHED, count_attempt=True)
    catalog.set_status(entry("b").id, EntryStatus.FAILED, error=(ErrorClass.HTTP_4XX, "HTTP 404"), count_attempt=True)
    (a,) = catalog.entries(status=EntryStatus.FETCHED)
    (b,) = catalog.entries(status=EntryStatus.FAILED)
    assert a.id == entry("a").id and a.attempts == 1 and a.error_class is None
    assert (b.error_class, b.attempts) == ("http_4xx", 1)
    assert a.published_at.tzinfo is not None


def test_poll_errors_count_up_and_success_resets(catalog: Catalog) -> None:
    catalog.sync_registry([FeedSource("A", FEED)])
    now = utcnow()
    for _ in range(3):
        catalog.record_poll(FEED, attempted_at=now, next_due_at=now + timedelta(hours=1),
                            error=(ErrorClass.TIMEOUT, "slow"))
    feed = catalog.feed(FEED)
    assert (feed.error_class, feed.error_count) == ("timeout", 3)
    assert catalog.feeds(due_before=now) == []
    catalog.record_poll(FEED, attempted_at=now, next_due_at=now, etag='"v1"', body_sha256="ab" * 32)
    feed = catalog.feed(FEED)
    assert (feed.error_class, feed.error_count, feed.etag, feed.polls_since_unconditional) == (None, 0, '"v1"', 1)


def test_naive_datetimes_are_refused(catalog: Catalog) -> None:
    catalog.sync_registry([FeedSource("A", FEED)])
    with pytest.raises(Exception, match="naive"):
        catalog.record_poll(FEED, attempted_at=datetime(2025, 1, 1), next_due_at=utcnow())


def store(catalog: Catalog, item: FeedEntry, published_at: datetime) -> None:
    catalog.store_article({
        "id": item.id, "url": item.url, "canonical_url": item.canonical_url, "title": item.title,
        "text": "body", "source": "A", "published_at": published_at, "body_source": "page",
        "body_sha256": item.id.replace("-", "").ljust(64, "0"), "extracted_at": utcnow(),
    })


def test_the_index_stream_runs_in_feed_order_and_stops_before_any_pending_entry(catalog: Catalog) -> None:
    """A page re-dated to its own earlier day keeps its feed's place in the stream; and what
    arrived before every entry still waiting for its page is exactly what no later page can
    precede, however the runs are cut."""
    catalog.sync_registry([FeedSource("A", FEED)])
    now = utcnow()
    first, redated, pending = entry("first", 1), entry("redated", 2), entry("pending", 3)
    catalog.record_poll(FEED, attempted_at=now, next_due_at=now, new_entries=[first, redated, pending])
    store(catalog, first, first.published_at)
    store(catalog, redated, datetime(2025, 5, 10, tzinfo=UTC))

    assert [row.id for row in catalog.articles_to_index()] == [first.id, redated.id]
    assert catalog.earliest_pending_arrival() == pending.published_at
    waiting = catalog.articles_to_index(arrived_before=catalog.earliest_pending_arrival())
    assert [row.id for row in waiting] == [first.id, redated.id]

    earlier = entry("earlier", 0)  # a late entry the feed dates before both stored ones
    catalog.record_poll(FEED, attempted_at=now, next_due_at=now, new_entries=[earlier])
    assert catalog.articles_to_index(arrived_before=catalog.earliest_pending_arrival()) == []
    catalog.set_status(earlier.id, EntryStatus.FETCHED)  # fetched, not yet extracted: still pending
    assert catalog.articles_to_index(arrived_before=catalog.earliest_pending_arrival()) == []


def _migrate_in_process(url: str) -> None:
    Catalog(url).migrate()


def test_concurrent_first_migrations_do_not_collide(catalog_settings: Settings) -> None:
    url = catalog_settings.resolved_catalog_url
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_migrate_in_process, args=(url,)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert "entries" in inspect(open_catalog(catalog_settings).engine).get_table_names()
