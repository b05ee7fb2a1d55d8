"""Crash safety: kill -9 each stage mid-batch, rerun, and end exactly where an uninterrupted
run ends; a locked vector store never leaves an article marked indexed that is not stored.

Real parts throughout: the demo site over HTTP, the `storyline` CLI in subprocesses (killed
with SIGKILL, children included), the SQLite catalog, the real model and the Edge store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.catalog import Catalog, open_catalog
from pipeline.catalog.schema import entries, feeds
from pipeline.demo.site import DemoSite
from pipeline.records import EntryStatus
from pipeline.settings import Settings
from pipeline.vectorstore import ARTICLES, STORIES, open_store
from tests.support.cli import STORYLINE, run_json, storyline_env

REPO_ROOT = Path(__file__).resolve().parents[1]
# Statuses a finished run may leave: nothing may stay `new` or `fetched`.
FINAL_STATUSES = {EntryStatus.INDEXED.value, EntryStatus.SKIPPED.value, EntryStatus.FAILED.value}


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    """One demo site for the reference and the killed runs: same URLs, so the same ids."""
    with DemoSite() as demo:
        yield demo


def env_for(site: DemoSite, home: Path) -> dict[str, str]:
    # One request at a time, spaced out, and small index batches: every stage lasts long
    # enough for a kill to land in the middle of it.
    return storyline_env(
        home, STORYLINE_REGISTRY=str(site.registry_path(home.parent)),
        STORYLINE_HOST_MIN_DELAY="0.15", STORYLINE_HOST_MAX_CONCURRENCY="1", STORYLINE_INDEX_BATCH_SIZE="4",
    )


def feed_state(catalog: Catalog) -> list[tuple]:
    return sorted((f.url, f.error_class, f.body_sha256, f.last_success_at is not None) for f in catalog.feeds())


def entry_state(catalog: Catalog) -> list[tuple]:
    return sorted((r.id, r.status, r.error_class, r.alias_of, r.page_sha256) for r in catalog.entries())


def article_state(catalog: Catalog) -> list[tuple]:
    return sorted(
        (a.id, a.canonical_url, a.title, a.body_sha256, a.body_source, a.syndicated_of, a.story_id, a.join_rule)
        for a in catalog.articles()
    )


def store_state(home: Path) -> tuple[list[str], list[str]]:
    store = open_store(Settings(home=home))
    return sorted(p.id for p in store.iterate(ARTICLES)), sorted(p.id for p in store.iterate(STORIES))


@pytest.fixture(scope="module")
def reference(site: DemoSite, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The uninterrupted run, stage by stage."""
    home = tmp_path_factory.mktemp("reference") / "home"
    env = env_for(site, home)
    catalog = open_catalog(Settings(home=home))
    states: dict[str, object] = {}
    run_json("poll", env=env)
    states["poll"] = (feed_state(catalog), entry_state(catalog))
    run_json("fetch", env=env)
    states["fetch"] = (entry_state(catalog), article_state(catalog))
    run_json("index", env=env)
    states["index"] = (entry_state(catalog), article_state(catalog), store_state(home))
    return states


def kill_when(args: list[str], env: dict[str, str], condition: Callable[[], bool], timeout: float = 300) -> None:
    """Start `storyline ARGS`, SIGKILL it and its children as soon as ``condition`` holds."""
    process = subprocess.Popen([STORYLINE, *args], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert process.poll() is None, "the stage finished before the kill could land"
            assert time.monotonic() < deadline, "the kill condition never held"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def count(catalog: Catalog, *conditions) -> int:
    with catalog.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(entries).where(*conditions)).scalar_one())


def count_polled(catalog: Catalog) -> int:
    with catalog.engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(feeds).where(feeds.c.last_attempt_at.is_not(None))).scalar_one())


@pytest.mark.slow
def test_each_stage_killed_mid_batch_ends_as_an_uninterrupted_run(
    site: DemoSite, reference: dict[str, object], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = env_for(site, home)
    catalog = open_catalog(Settings(home=home))
    feeds_total = len(reference["poll"][0])

    # Poll: killed after some feeds are recorded, before all.
    kill_when(["poll", "--json"], env, lambda: count_polled(catalog) >= 1)
    assert count_polled(catalog) < feeds_total, "the kill must land mid-poll"
    run_json("poll", env=env)
    assert (feed_state(catalog), entry_state(catalog)) == reference["poll"]

    # Fetch: killed while pages are being downloaded.
    kill_when(["fetch", "--json"], env, lambda: count(catalog, entries.c.page_sha256.is_not(None)) >= 3)
    assert count(catalog, entries.c.status == EntryStatus.NEW.value) > 0, "the kill must land mid-fetch"

    # Extract: every page stored, killed while the pages are being extracted.
    def extracting() -> bool:
        return (count(catalog, entries.c.status == EntryStatus.NEW.value) == 0
                and count(catalog, entries.c.status == EntryStatus.FETCHED.value) > 0)

    kill_when(["fetch", "--json"], env, extracting)
    assert count(catalog, entries.c.status == EntryStatus.FETCHED.value) > 0, "the kill must land mid-extraction"
    run_json("fetch", env=env)
    assert (entry_state(catalog), article_state(catalog)) == reference["fetch"]

    # Index: killed after some batches are committed.
    total = count(catalog, entries.c.status == EntryStatus.EXTRACTED.value)
    kill_when(["index", "--json"], env, lambda: count(catalog, entries.c.status == EntryStatus.INDEXED.value) >= 8)
    assert count(catalog, entries.c.status == EntryStatus.INDEXED.value) < total, "the kill must land mid-index"
    run_json("index", env=env)
    final_entries, final_articles, final_store = reference["index"]
    assert entry_state(catalog) == final_entries
    assert article_state(catalog) == final_articles, "same stories, same ids, same join rules"
    assert store_state(home) == final_store, "same points, none duplicated or missing"
    assert {status for _, status, *_ in entry_state(catalog)} <= FINAL_STATUSES


@pytest.mark.slow
def test_storyline_run_killed_while_it_indexes_beside_fetching_ends_as_the_stages_in_turn(
    site: DemoSite, reference: dict[str, object], tmp_path: Path
) -> None:
    """`storyline run` indexes what is extracted while later pages still download; killed then,
    and run again, it ends where poll, fetch and index run one after the other end (those in
    the one batch the demo's 46 entries make; here in batches of 10)."""
    home = tmp_path / "home"
    env = env_for(site, home) | {"STORYLINE_FETCH_BATCH_SIZE": "10"}
    catalog = open_catalog(Settings(home=home))

    def indexing_while_fetching() -> bool:
        return (count(catalog, entries.c.status == EntryStatus.INDEXED.value) >= 4
                and count(catalog, entries.c.status == EntryStatus.NEW.value) > 0)

    kill_when(["run", "--json"], env, indexing_while_fetching)
    assert count(catalog, entries.c.status == EntryStatus.NEW.value) > 0, "the kill must land mid-fetch"
    run_json("run", env=env)
    final_entries, final_articles, final_store = reference["index"]
    assert entry_state(catalog) == final_entries
    assert article_state(catalog) == final_articles, "same stories, same ids, same join rules"
    assert store_state(home) == final_store, "same points, none duplicated or missing"


# -- the vector store locked by another process ---------------------------------------------------
HOLD_LOCK = """
import sys, time
from pathlib import Path
from pipeline.vectorstore.edge import LOCK_NAME
from pipeline.vectorstore.locking import FileLock
with FileLock(Path(sys.argv[1]) / LOCK_NAME, timeout=5):
    print("holding", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.slow
def test_index_with_the_store_locked_fails_cleanly_then_completes(site: DemoSite, tmp_path: Path) -> None:
    from pipeline.indexing import IndexStage
    from pipeline.vectorstore import LockTimeout

    home = tmp_path / "home"
    env = env_for(site, home)
    run_json("poll", env=env)
    run_json("fetch", env=env)
    settings = Settings(home=home, vector_lock_timeout=1.0, index_batch_size=4)
    catalog = open_catalog(settings)
    extracted = catalog.count_entries(EntryStatus.EXTRACTED)
    stage = IndexStage(settings, catalog)  # creates the collections, then releases the lock
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(settings.vectors_dir)], cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(LockTimeout):
            stage.run()
        assert catalog.count_entries(EntryStatus.INDEXED) == 0, "marked indexed without being stored"
        assert catalog.count_entries(EntryStatus.EXTRACTED) == extracted
    finally:
        holder.communicate("release\n", timeout=30)
    assert open_store(settings).count(ARTICLES) == 0
    # The lock is free again: a new run (as the scheduler's retry would) indexes everything.
    summary = IndexStage(settings, catalog).run()
    assert summary.indexed == extracted == catalog.count_entries(EntryStatus.INDEXED)
    assert open_store(settings).count(ARTICLES) == extracted


class EmbedderFailingOnCall:
    """The real embedder, failing on one call: fault injection for a runtime error mid-run,
    which the real model cannot be made to raise on demand."""

    def __init__(self, failing_call: int):
        from pipeline.embedding import get_embedder

        self._embedder = get_embedder(backend="torch")
        self.model_id, self.dimension = self._embedder.model_id, self._embedder.dimension
        self.batch_size = self._embedder.batch_size
        self.failing_call, self.calls = failing_call, 0

    def encode(self, texts, *, cores=None):
        self.calls += 1
        if self.calls == self.failing_call:
            raise RuntimeError("the model runtime failed")
        return self._embedder.encode(texts, cores=cores)


def test_an_embedding_failure_keeps_the_batches_before_it_and_a_rerun_completes(site: DemoSite, tmp_path: Path) -> None:
    """The index stage embeds the next batch while it stores the current one: a failure there
    must surface once the batches before it are stored, with nothing after it marked indexed."""
    from pipeline.indexing import IndexStage

    home = tmp_path / "home"
    run_json("poll", "--fetch", env=env_for(site, home))
    settings = Settings(home=home, index_batch_size=4, embed_backend="torch")
    catalog = open_catalog(settings)
    extracted = catalog.count_entries(EntryStatus.EXTRACTED)
    assert extracted > 12

    with pytest.raises(RuntimeError, match="model runtime failed"):
        IndexStage(settings, catalog, embedder=EmbedderFailingOnCall(3)).run()  # type: ignore[arg-type]
    assert catalog.count_entries(EntryStatus.INDEXED) == 8 == open_store(settings).count(ARTICLES)
    summary = IndexStage(settings, catalog).run()
    assert summary.indexed == extracted - 8
    assert catalog.count_entries(EntryStatus.INDEXED) == extracted == open_store(settings).count(ARTICLES)


# -- PostgreSQL restarted mid-run ---------------------------------------------------------------
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


class PrivatePostgres:
    """A throw-away PostgreSQL server in a temp dir on a free port: never the shared one."""

    def __init__(self, directory: Path):
        self.data = directory / "data"
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o777)
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, command: list[str]) -> None:
        # PostgreSQL refuses to run as root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + command, check=True, capture_output=True, timeout=120)

    def pg_ctl(self, *action: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                           "-l", str(self.data / "server.log"), "-w", *action])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    import shutil
    import tempfile

    if PG_BIN is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="storyline-private-pg-"))
    try:
        server = PrivatePostgres(directory)
        server.pg_ctl("start")
        try:
            yield server
        finally:
            server.pg_ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


SLOW_FEEDS = 24


def slow_feed(number: int):
    from tests.support.fixture_server import send

    body = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk {number}</title>'
        f"<item><title>Notice {number}</title><link>http://127.0.0.1/notice/{number}</link></item>"
        "</channel></rss>"
    ).encode()

    def route(handler) -> None:
        time.sleep(0.25)  # the run spends its time on the network, as real polls do
        send(handler, 200, body, "application/rss+xml")

    return route


def test_postgresql_restarted_mid_poll_the_run_retries_and_completes(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    import threading

    from pipeline.polling import poll_feeds
    from pipeline.records import FeedSource
    from tests.conftest import make_settings
    from tests.support.fixture_server import FixtureServer

    routes = {f"/feed{n}.xml": slow_feed(n) for n in range(SLOW_FEEDS)}
    with FixtureServer("127.0.0.1", routes) as server:
        settings = make_settings(tmp_path / "home", catalog_url=private_postgres.url)
        catalog = open_catalog(settings)
        catalog.sync_registry(FeedSource(f"feed {n}", server.url(f"/feed{n}.xml")) for n in range(SLOW_FEEDS))
        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["summary"] = poll_feeds(settings, catalog, catalog.feeds(), workers=2)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                outcome["error"] = exc

        poller = threading.Thread(target=run)
        poller.start()
        deadline = time.monotonic() + 60
        while server.requests.total() < 4:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        private_postgres.pg_ctl("-m", "fast", "restart")
        restarted_with = server.requests.total()
        poller.join(timeout=300)
    assert restarted_with < SLOW_FEEDS, "the restart must land mid-run"
    assert "error" not in outcome, f"the run died: {outcome.get('error')!r}"
    summary = outcome["summary"]
    assert summary.feeds_ok == SLOW_FEEDS, summary.as_dict()
    assert catalog.count_entries(EntryStatus.NEW) == SLOW_FEEDS
    assert all(feed.last_success_at is not None for feed in catalog.feeds())
