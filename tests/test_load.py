"""Load: planning over a large catalog, and a 10,000-article backlog through the index stage.

Speed is recorded, not asserted (timings belong to benchmarks; the numbers are in
docs/RELIABILITY.md). What is asserted: planning returns exactly the due feeds and pending
entries in order, and the backlog is indexed completely, in the stream's order, with the
peak memory of the indexing process reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from pipeline.catalog import open_catalog
from pipeline.catalog.schema import articles, entries, feeds
from pipeline.catalog.store import STREAM_ORDER
from pipeline.records import EntryStatus
from tests.conftest import make_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
FEEDS = 5_000
ENTRIES = 500_000
BACKLOG = 10_000
START = datetime(2025, 1, 1, tzinfo=UTC)
INSERT_CHUNK = 20_000


def entry_status(n: int) -> str:
    """One in ten entries waits for its page (one in fifty of them was fetched by a killed run)."""
    if n % 10:
        return EntryStatus.INDEXED.value
    return EntryStatus.FETCHED.value if n % 50 == 0 else EntryStatus.NEW.value


def feed_url(n: int) -> str:
    return f"http://feeds{n % 50}.example.org/feed/{n}.xml"


def bulk_catalog(home: Path) -> Path:
    """A SQLite catalog with FEEDS feeds (half of them due) and ENTRIES entries, and its registry."""
    settings = make_settings(home)
    catalog = open_catalog(settings)
    now = datetime.now(UTC)
    with catalog.engine.begin() as connection:
        connection.execute(insert(feeds), [
            {"url": feed_url(n), "name": f"Feed {n}", "language": "en", "tags": "", "validators_lie": False,
             "polls_since_unconditional": 0, "error_count": 0, "active": True,
             "next_due_at": now + timedelta(hours=1 if n % 2 else -1)}
            for n in range(FEEDS)
        ])
        for start in range(0, ENTRIES, INSERT_CHUNK):
            connection.execute(insert(entries), [
                {"id": f"{n:036d}", "feed_url": feed_url(n % FEEDS), "guid": str(n),
                 "url": f"http://news.example.org/{n}", "canonical_url": f"http://news.example.org/{n}",
                 "title": f"Entry {n}", "summary": "", "date_source": "feed", "status": entry_status(n),
                 # Publication order differs from id order, so the ordering is really checked.
                 "published_at": START + timedelta(seconds=(n * 7919) % ENTRIES), "attempts": 0,
                 "first_seen_at": now, "updated_at": now}
                for n in range(start, min(start + INSERT_CHUNK, ENTRIES))
            ])
    catalog.dispose()
    registry = home / "registry.toml"
    registry.write_text("".join(f'[[feed]]\nname = "Feed {n}"\nurl = "{feed_url(n)}"\n\n' for n in range(FEEDS)))
    return registry


# Runs in a subprocess so its peak RSS is the planning's own, not the test runner's.
PLAN = """
import json, sys, time
from tests.support.memory import peak_rss_mib
from pathlib import Path
from pipeline.settings import Settings
from pipeline.stages import plan_feed_batches, plan_fetch_batches
settings = Settings(home=Path(sys.argv[1]))
started = time.perf_counter()
feed_batches = plan_feed_batches(settings, registry=Path(sys.argv[2]), batch_size=10)
feeds_seconds = time.perf_counter() - started
started = time.perf_counter()
fetch_batches = plan_fetch_batches(settings, batch_size=25)
fetch_seconds = time.perf_counter() - started
print(json.dumps({
    "feed_batches": feed_batches, "fetch_batches": fetch_batches,
    "feeds_seconds": feeds_seconds, "fetch_seconds": fetch_seconds,
    "peak_rss_mib": peak_rss_mib(),
}))
"""


def run_measured(script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", script, *args], check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow
def test_planning_a_run_over_5000_feeds_and_500k_entries(tmp_path: Path) -> None:
    home = tmp_path / "home"
    registry = bulk_catalog(home)
    measured = run_measured(PLAN, str(home), str(registry))
    print(
        f"plan_feed_batches {measured['feeds_seconds']:.2f} s, plan_fetch_batches "
        f"{measured['fetch_seconds']:.2f} s, peak RSS {measured['peak_rss_mib']:.0f} MiB"
    )
    due = [url for batch in measured["feed_batches"] for url in batch]
    assert sorted(due) == sorted(feed_url(n) for n in range(FEEDS) if n % 2 == 0)
    assert all(len(batch) <= 10 for batch in measured["feed_batches"])
    pending = [entry_id for batch in measured["fetch_batches"] for entry_id in batch]
    expected = sorted(
        (n for n in range(ENTRIES) if n % 10 == 0), key=lambda n: ((n * 7919) % ENTRIES, n)
    )
    assert pending == [f"{n:036d}" for n in expected], "every pending entry once, oldest first"
    assert all(len(batch) <= 25 for batch in measured["fetch_batches"])


def bulk_backlog(home: Path) -> None:
    """BACKLOG short extracted articles about 100 recurring subjects, not yet indexed."""
    settings = make_settings(home)
    catalog = open_catalog(settings)
    now = datetime.now(UTC)
    subjects = [f"subject{s}" for s in range(100)]
    rows = []
    for n in range(BACKLOG):
        subject = subjects[(n * 37) % len(subjects)]
        rows.append({
            "id": str(uuid.UUID(int=n + 1)), "published_at": START + timedelta(minutes=(n * 7919) % BACKLOG),
            "title": f"{subject} council votes on plan {n % 7}",
            "text": f"The {subject} council met on day {n % 31} and voted on plan {n % 7}. "
                    f"Residents of {subject} asked questions about costs and timing.",
        })
    with catalog.engine.begin() as connection:
        connection.execute(insert(entries), [
            {"id": r["id"], "feed_url": "http://example.org/feed", "guid": r["id"], "url": f"http://example.org/{r['id']}",
             "canonical_url": f"http://example.org/{r['id']}", "title": r["title"], "summary": "",
             "published_at": r["published_at"], "date_source": "feed", "status": EntryStatus.EXTRACTED.value,
             "attempts": 1, "first_seen_at": now, "updated_at": now}
            for r in rows
        ])
        connection.execute(insert(articles), [
            {"id": r["id"], "url": f"http://example.org/{r['id']}", "canonical_url": f"http://example.org/{r['id']}",
             "title": r["title"], "text": r["text"], "source": f"Outlet {uuid.UUID(r['id']).int % 20}", "language": "en",
             "published_at": r["published_at"], "body_source": "page", "body_sha256": r["id"],
             "extracted_at": now}
            for r in rows
        ])
    catalog.dispose()


INDEX = """
import json, sys
from tests.support.memory import peak_rss_mib
from pathlib import Path
from pipeline.catalog import open_catalog
from pipeline.settings import Settings
from pipeline.stages import index_pending
settings = Settings(home=Path(sys.argv[1]), index_batch_size=256)
after_batch = []
summary = index_pending(settings, catalog=open_catalog(settings), on_done=lambda _: after_batch.append(peak_rss_mib()))
print(json.dumps(summary | {"first_batch_peak_rss_mib": after_batch[0], "peak_rss_mib": peak_rss_mib()}))
"""


@pytest.mark.slow
def test_a_backlog_of_10000_articles_is_indexed_in_order_in_bounded_memory(tmp_path: Path) -> None:
    from pipeline.settings import Settings
    from pipeline.vectorstore import ARTICLES, open_store

    home = tmp_path / "home"
    bulk_backlog(home)
    measured = run_measured(INDEX, str(home))
    growth = measured["peak_rss_mib"] - measured["first_batch_peak_rss_mib"]
    print(
        f"indexed {measured['indexed']} articles, peak RSS {measured['peak_rss_mib']:.0f} MiB, "
        f"{growth:.0f} MiB above the peak after the first batch"
    )
    assert measured["indexed"] == BACKLOG
    catalog = open_catalog(Settings(home=home))
    assert catalog.count_entries(EntryStatus.INDEXED) == BACKLOG
    assert open_store(Settings(home=home)).count(ARTICLES) == BACKLOG
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            select(articles.c.id, articles.c.indexed_at).join(entries, entries.c.id == articles.c.id)
            .order_by(*STREAM_ORDER)
        ).all()
        stories = connection.execute(select(func.count(func.distinct(articles.c.story_id)))).scalar_one()
    indexed_at = [row.indexed_at for row in rows]
    assert indexed_at == sorted(indexed_at), "articles are indexed in the stream's order"
    assert len(set(indexed_at)) >= BACKLOG // 256, "in batches, not all at once"
    assert 0 < stories < BACKLOG
    # Bounded: the model and runtime, loaded for the first batch, dominate; the other 38
    # batches add little on top (their vectors are 15 MiB). Absolute sizes vary by machine.
    assert growth < 256, measured
