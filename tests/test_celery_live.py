"""The production topology on one machine: CeleryExecutor with two workers, Redis, PostgreSQL.

Started for real: api-server, scheduler, dag-processor, triggerer (pipeline.deploy, the code
`make run` uses) and two Celery workers (`airflow celery worker`, Celery hostnames
`worker-a@…` and `worker-b@…`). The broker is the machine's Redis (one database of its own,
flushed before and after); the Airflow metadata, the Celery result backend and the Storyline
catalog are fresh PostgreSQL databases. `news_ingest` is triggered on the demo site through
the REST API; the test asserts that tasks ran on both workers (each worker's own log names
the task instances it executed) and that entries, articles and the story partition equal an
in-process run of the same stages on the same site (what a LocalExecutor run does).

The vector store stays embedded (Qdrant Edge under STORYLINE_HOME) because no Qdrant server
can run on this machine; both workers share its directory through the store's cross-process
lock. Everything started is stopped by pid, also when the test fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.catalog import Catalog, open_catalog
from pipeline.deploy import AirflowConfig, celery_env, start_celery_worker
from tests.airflow_support import live_airflow, storyline_env
from tests.conftest import make_settings
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 900.0
WORKER_READY_TIMEOUT = 180.0
WORKERS = ("worker-a", "worker-b")
REDIS_URL = "redis://127.0.0.1:6379"
# A database number of the shared Redis that no other test or service of ours uses.
BROKER_DB = 11
EXECUTING = "Executing workload in Celery"


@dataclass(frozen=True)
class Outcome:
    """What an ingest leaves in the catalog, comparable between two catalogs of one site."""

    entry_status: dict[str, str]
    syndicated_of: dict[str, str | None]
    stories: set[frozenset[str]]


def outcome_of(catalog: Catalog) -> Outcome:
    articles = catalog.articles()
    members: dict[str, set[str]] = {}
    for article in articles:
        members.setdefault(article.story_id, set()).add(article.id)
    return Outcome(
        entry_status={entry.id: entry.status for entry in catalog.entries()},
        syndicated_of={article.id: article.syndicated_of for article in articles},
        stories={frozenset(group) for group in members.values()},
    )


def in_process_run(home: Path, registry: Path) -> Outcome:
    """The DAG's stages, one after the other, in this process, into a SQLite catalog."""
    from pipeline.stages import (
        fetch_batch,
        index_pending,
        plan_feed_batches,
        plan_fetch_batches,
        poll_batch,
    )

    settings = make_settings(home, registry=registry)
    for feed_urls in plan_feed_batches(settings):
        poll_batch(settings, feed_urls)
    for entry_ids in plan_fetch_batches(settings):
        fetch_batch(settings, entry_ids)
    index_pending(settings)
    catalog = open_catalog(settings)
    try:
        return outcome_of(catalog)
    finally:
        catalog.dispose()


@contextmanager
def redis_broker(db: int) -> Iterator[str]:
    """The machine's Redis, database `db` only: emptied before and after the test."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
    client.flushdb()
    try:
        yield f"{REDIS_URL}/{db}"
    finally:
        client.flushdb()
        client.close()


def worker_log(config: AirflowConfig, name: str) -> str:
    return (config.log_dir / "processes" / f"{name}.log").read_text(errors="replace")


def wait_for_workers(config: AirflowConfig, names: tuple[str, ...]) -> None:
    """Until every worker has told Celery it is ready to take tasks."""
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    waiting = set(names)
    while waiting and time.monotonic() < deadline:
        waiting = {
            name
            for name in waiting
            if not any(
                f"{name}@" in line and "ready." in line
                for line in worker_log(config, name).splitlines()
            )
        }
        time.sleep(1.0)
    assert not waiting, f"Celery workers not ready after {WORKER_READY_TIMEOUT:.0f}s: {waiting}"


def test_two_celery_workers_share_a_run_and_match_the_in_process_result(tmp_path: Path) -> None:
    from pipeline.catalog.schema import host_politeness
    from pipeline.demo.site import DemoSite
    from pipeline.settings import Settings
    from pipeline.vectorstore import ARTICLES, open_store

    with (
        DemoSite() as site,
        fresh_postgres_database("storyline_celery_meta") as metadata_url,
        fresh_postgres_database("storyline_celery_catalog") as catalog_url,
        redis_broker(BROKER_DB) as broker_url,
    ):
        registry = site.registry_path(tmp_path / "demo")
        expected = in_process_run(tmp_path / "reference", registry)
        assert expected.stories, "the reference run indexed nothing"

        home = tmp_path / "home"
        env = {
            **storyline_env(home, registry),
            "STORYLINE_CATALOG_URL": catalog_url,
            # Small batches: many mapped fetch tasks to spread over the workers.
            "STORYLINE_FETCH_BATCH_SIZE": "4",
            **celery_env(broker_url, f"db+{metadata_url}"),
        }
        with live_airflow(tmp_path / "airflow", metadata_url, env) as (config, client):
            for name in WORKERS:
                start_celery_worker(config, name)
            wait_for_workers(config, WORKERS)
            client.set_paused("news_ingest", False)
            run_id = client.trigger("news_ingest")
            state = client.wait_for_run("news_ingest", run_id, RUN_TIMEOUT)
            task_instances = client.task_instances("news_ingest", run_id)
            assert state == "success", [(ti["task_id"], ti["state"]) for ti in task_instances]

            executed = [ti for ti in task_instances if ti["start_date"] is not None]
            logs = {name: worker_log(config, name) for name in WORKERS}
            ran_on = {
                ti["id"]: {
                    name
                    for name, log in logs.items()
                    if any(ti["id"] in line for line in log.splitlines() if EXECUTING in line)
                }
                for ti in executed
            }

        assert all(len(workers) == 1 for workers in ran_on.values()), ran_on
        assert {name for workers in ran_on.values() for name in workers} == set(WORKERS), ran_on

        catalog = Catalog(catalog_url)
        try:
            assert outcome_of(catalog) == expected
            with catalog.engine.connect() as connection:
                hosts = set(connection.scalars(select(host_politeness.c.host)))
        finally:
            catalog.dispose()
        # Politeness state lives in the shared PostgreSQL catalog, where both workers met.
        assert site.base_url.removeprefix("http://") in hosts, hosts
        indexed = sum(status == "indexed" for status in expected.entry_status.values())
        assert open_store(Settings(home=home)).count(ARTICLES) == indexed
