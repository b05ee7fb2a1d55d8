"""The DAG files parse cleanly, declare what the deployment relies on, and import fast."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.airflow_support import DAGS_FOLDER

DAG_FILES = ("news_ingest.py", "story_maintenance.py")
# The dag-processor drops a file after 30 s; 1 s leaves a wide margin for a 2-core machine.
IMPORT_BUDGET_SECONDS = 1.0


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import BundleDagBag

    # The bag the dag-processor and the task runner use: the folder goes on sys.path, so
    # the DAG files can share dags/_storyline_common.py.
    return BundleDagBag(dag_folder=DAGS_FOLDER, bundle_path=DAGS_FOLDER)


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == ["news_ingest", "story_maintenance"]


def test_news_ingest_declaration(dagbag) -> None:
    dag = dagbag.get_dag("news_ingest")
    assert dag.owner == "storyline"
    assert dag.tags == {"storyline", "ingest"}
    assert dag.schedule == "*/15 * * * *"
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    index = dag.get_task("index_articles")
    assert index.pool == "storyline_embed"
    assert [outlet.uri for outlet in index.outlets] == ["storyline://articles/"]
    assert dag.get_task("poll_feeds").map_index_template == "{{ feeds_label }}"


def test_story_maintenance_runs_on_the_asset_or_daily(dagbag) -> None:
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.get_dag("story_maintenance")
    assert dag.owner == "storyline"
    assert dag.tags == {"storyline", "maintenance"}
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.asset_condition.uri == "storyline://articles/"
    assert dag.timetable.timetable.expression == "30 3 * * *"
    assert dag.max_active_runs == 1
    checks = dag.get_task("data_quality_checks")
    assert checks.retries == 0
    assert checks.trigger_rule == "all_done"


def test_every_task_retries_with_backoff_and_has_a_timeout(dagbag) -> None:
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.execution_timeout is not None and task.execution_timeout <= timedelta(
                hours=1
            ), task
            if task.task_id != "data_quality_checks":
                assert task.retries >= 2, task
                assert task.retry_exponential_backoff == 2.0, task


def test_schedule_is_configurable(airflow_home, monkeypatch) -> None:
    from airflow.dag_processing.dagbag import BundleDagBag

    monkeypatch.setenv("STORYLINE_INGEST_SCHEDULE", "@hourly")
    bag = BundleDagBag(dag_folder=DAGS_FOLDER / "news_ingest.py", bundle_path=DAGS_FOLDER)
    assert bag.import_errors == {}
    assert bag.get_dag("news_ingest").schedule == "@hourly"


IMPORT_PROBE = """
import importlib.util, json, sys, time
sys.path.insert(0, sys.argv[1])
import airflow.sdk  # paid once by the dag-processor, not by each DAG file
already = set(sys.modules)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[2])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
heavy = sorted(m for m in ("torch", "sentence_transformers", "trafilatura", "qdrant_client",
                           "sqlalchemy", "pipeline.stages") if m in set(sys.modules) - already)
print(json.dumps({"seconds": time.perf_counter() - started, "heavy": heavy}))
"""


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_file_imports_fast_without_heavy_modules(airflow_home, dag_file: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(DAGS_FOLDER), str(DAGS_FOLDER / dag_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{dag_file}: imported in {measured['seconds']:.3f} s")
    assert measured["heavy"] == []
    assert measured["seconds"] < IMPORT_BUDGET_SECONDS
