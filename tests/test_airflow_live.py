"""The real Airflow: api-server, scheduler, dag-processor and triggerer on PostgreSQL metadata.

Runs are triggered and watched through the REST API with a token, as an operator would.
A second run with one feed broken on purpose shows that feed's error in its poll task's log
while the run, and the other feeds, succeed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.catalog import open_catalog
from pipeline.deploy import dev_password
from pipeline.records import EntryStatus
from tests.airflow_support import demo_registry_with, free_port, live_airflow, storyline_env
from tests.conftest import make_settings
from tests.support.fixture_server import FixtureServer, static
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 900.0
EXTRACTION_FAILURES = {"extract_crash", "extract_timeout"}
BROKEN_FEED_PATH = "/broken/feed.xml"


def poll_task_for(client, run_id: str, fragment: str) -> dict:
    """The mapped poll task whose UI name mentions `fragment`."""
    (found,) = [
        ti
        for ti in client.task_instances("news_ingest", run_id)
        if ti["task_id"] == "poll_feeds" and fragment in (ti["rendered_map_index"] or "")
    ]
    return found


def states_by_task(client, run_id: str) -> dict[str, set[str]]:
    states: dict[str, set[str]] = {}
    for ti in client.task_instances("news_ingest", run_id):
        states.setdefault(ti["task_id"], set()).add(ti["state"])
    return states


def test_live_airflow_runs_ingest_and_survives_a_broken_feed(tmp_path: Path) -> None:
    from pipeline.demo.site import DemoSite

    server_error = static(b"upstream exploded", "text/plain", status=500)
    with (
        DemoSite() as site,
        FixtureServer(routes={BROKEN_FEED_PATH: server_error}) as broken,
        fresh_postgres_database("storyline_airflow") as metadata_url,
    ):
        demo_registry = site.registry_path(tmp_path / "demo")
        registry = demo_registry_with(demo_registry, {}, tmp_path)
        env = storyline_env(tmp_path / "home", registry)
        with live_airflow(tmp_path / "airflow", metadata_url, env) as (config, client):
            client.set_paused("news_ingest", False)

            first = client.trigger("news_ingest")
            assert client.wait_for_run("news_ingest", first, RUN_TIMEOUT) == "success", (
                states_by_task(client, first)
            )
            first_states = states_by_task(client, first)
            assert first_states["poll_feeds"] == {"success"}
            assert first_states["fetch_pages"] == {"success"}
            assert first_states["index_articles"] == {"success"}
            assert (
                sum(
                    ti["task_id"] == "poll_feeds"
                    for ti in client.task_instances("news_ingest", first)
                )
                == 3
            )
            # The tasks really extracted and indexed (a task can succeed with every page failed).
            catalog = open_catalog(make_settings(tmp_path / "home"))
            try:
                entries = catalog.entries()
                crashed = [e.url for e in entries if e.error_class in EXTRACTION_FAILURES]
                assert not crashed, crashed
                assert catalog.count_entries(EntryStatus.INDEXED) > len(entries) // 2
            finally:
                catalog.dispose()

            # Break one feed: the registry now also lists a feed that answers 500.
            broken_url = broken.url(BROKEN_FEED_PATH)
            demo_registry_with(demo_registry, {"Broken on purpose": broken_url}, tmp_path)
            second = client.trigger("news_ingest")
            assert client.wait_for_run("news_ingest", second, RUN_TIMEOUT) == "success", (
                states_by_task(client, second)
            )
            assert broken.requests[BROKEN_FEED_PATH] >= 1
            failed_poll = poll_task_for(client, second, BROKEN_FEED_PATH)
            assert failed_poll["state"] == "success"
            log = client.task_log(
                "news_ingest",
                second,
                "poll_feeds",
                failed_poll["try_number"],
                failed_poll["map_index"],
            )
            assert f"feed failed: {broken_url} [http_5xx]" in log, log
            assert "feeds_failed=1" in log, log

            # No secret of the deployment in any log: process output or task logs.
            secrets = [*json.loads(config.secrets_file.read_text()).values(), dev_password(config)]
            for path in config.log_dir.rglob("*.log"):
                text = path.read_text(errors="replace")
                assert not [secret for secret in secrets if secret in text], path


def test_embedded_deployment_up_first_run_succeeds_down_stops_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make run` / `make stop` do: SQLite metadata, the demo site, a first run, stop."""
    from pipeline import deploy

    settings = make_settings(tmp_path / "home", registry=tmp_path / "unused.toml")
    monkeypatch.setenv("STORYLINE_HOST_MIN_DELAY", "0")
    try:
        deployment, first_run = deploy.up(
            settings, demo=True, api_port=free_port(), demo_port=free_port()
        )
        started = deploy.running(deployment.pid_dir)
        assert set(started) == {
            "api-server",
            "scheduler",
            "dag-processor",
            "triggerer",
            "demo-site",
        }
        assert deploy.status(settings)["health"]["scheduler"]["status"] == "healthy"
        with deploy.AirflowClient(
            deployment.url, deployment.username, deployment.password
        ) as client:
            client.login()
            assert client.wait_for_run("news_ingest", first_run, RUN_TIMEOUT) == "success", (
                states_by_task(client, first_run)
            )
    finally:
        stopped = deploy.down(settings)
    assert "scheduler" in stopped
    assert deploy.running(deployment.pid_dir) == {}
    for pid in started.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


KILL_DEADLINE = 300.0


def demo_pages_served(site) -> int:
    return sum(n for path, n in site.requests.items() if path.endswith((".html", "/")))


def running_task_pid(client, run_id: str, task_id: str) -> int | None:
    for ti in client.task_instances("news_ingest", run_id):
        if ti["task_id"] == task_id and ti["state"] == "running" and ti["pid"]:
            return ti["pid"]
    return None


def test_a_task_killed_mid_batch_is_retried_and_the_run_ends_as_if_uninterrupted(tmp_path: Path) -> None:
    """kill -9 of the running fetch task's process: Airflow retries it and the catalog ends
    exactly as an uninterrupted run of the same stages leaves it."""
    import signal
    import time

    from pipeline.demo.site import DemoSite
    from tests.test_celery_live import in_process_run, outcome_of

    with DemoSite() as site, fresh_postgres_database("storyline_airflow_kill") as metadata_url:
        registry = site.registry_path(tmp_path / "demo")
        expected = in_process_run(tmp_path / "reference", registry)
        env = {
            **storyline_env(tmp_path / "home", registry),
            # One fetch task over every page, slow enough to be caught mid-batch.
            "STORYLINE_FETCH_BATCH_SIZE": "100",
            "STORYLINE_HOST_MIN_DELAY": "0.5",
            "STORYLINE_HOST_MAX_CONCURRENCY": "1",
        }
        with live_airflow(tmp_path / "airflow", metadata_url, env) as (_, client):
            client.set_paused("news_ingest", False)
            run_id = client.trigger("news_ingest")
            pages_before = demo_pages_served(site)
            deadline = time.monotonic() + KILL_DEADLINE
            pid = None
            while time.monotonic() < deadline:
                pid = running_task_pid(client, run_id, "fetch_pages")
                if pid and demo_pages_served(site) - pages_before >= 5:
                    break
                time.sleep(0.2)
            assert pid, "fetch_pages never ran"
            os.kill(pid, signal.SIGKILL)

            assert client.wait_for_run("news_ingest", run_id, RUN_TIMEOUT) == "success", (
                states_by_task(client, run_id)
            )
            (fetch,) = [
                ti for ti in client.task_instances("news_ingest", run_id) if ti["task_id"] == "fetch_pages"
            ]
            assert fetch["try_number"] >= 2, fetch

        catalog = open_catalog(make_settings(tmp_path / "home"))
        try:
            assert outcome_of(catalog) == expected
        finally:
            catalog.dispose()

