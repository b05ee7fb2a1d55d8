"""`dag.test()` of news_ingest, in process, against the demo news site.

Real parts end to end: the demo site on a loopback port, the catalog (SQLite under a temporary
STORYLINE_HOME), the HTTP layer, extraction, the real embedding model and vector store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.catalog import open_catalog
from pipeline.records import EntryStatus
from pipeline.settings import Settings
from tests.airflow_support import DAGS_FOLDER, storyline_env


@pytest.fixture
def demo_env(airflow_home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pipeline.demo.site import DemoSite

    with DemoSite() as site:
        registry = site.registry_path(tmp_path)
        for key, value in storyline_env(tmp_path / "home", registry).items():
            monkeypatch.setenv(key, value)
        yield site


def run_news_ingest():
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=DAGS_FOLDER / "news_ingest.py", bundle_path=DAGS_FOLDER)
    return bag.get_dag("news_ingest").test()


def task_instances(run, task_id: str) -> list:
    return sorted(
        (ti for ti in run.get_task_instances() if ti.task_id == task_id),
        key=lambda ti: ti.map_index,
    )


def xcoms(run, task_id: str) -> list[dict]:
    return [
        ti.xcom_pull(task_ids=task_id, map_indexes=ti.map_index)
        for ti in task_instances(run, task_id)
    ]


def assert_seed_lineup(settings: Settings) -> None:
    """Every ceasefire-talks demo article in the seed's lineup (story or related), nothing else."""
    from pipeline.demo.labels import PEACE_TALKS_TOPIC, load_labels
    from pipeline.queries import Queries

    if not Path("../shared/seed").is_dir():
        return  # the seed is part of ../shared; the lineup is covered where it exists
    catalog = open_catalog(settings)
    try:
        lineup = Queries(settings, catalog).lineup()
    finally:
        catalog.dispose()
    shown = lineup["coverage"] + [a for related in lineup["related"] for a in related["articles"]]
    paths = {"/" + a["url"].split("/", 3)[3].split("?", 1)[0] for a in shown}
    labels = [l for l in load_labels() if l.expect.value != "skipped" and not l.duplicate_of]
    assert {l.path for l in labels if l.topic == PEACE_TALKS_TOPIC} <= paths
    assert not {l.path for l in labels if l.topic != PEACE_TALKS_TOPIC} & paths


def run_story_maintenance():
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=DAGS_FOLDER / "story_maintenance.py", bundle_path=DAGS_FOLDER)
    return bag.get_dag("story_maintenance").test()


def test_story_maintenance_merges_retries_and_fails_loudly_on_bad_data(demo_env) -> None:
    settings = Settings()
    assert run_news_ingest().state == "success"
    healthy = run_story_maintenance()
    assert {ti.task_id: ti.state for ti in healthy.get_task_instances()} == {
        "merge_stories": "success", "retry_failed_pages": "success", "data_quality_checks": "success",
    }
    # Every feed now fails: the checks task must go red, the other steps still run.
    catalog = open_catalog(settings)
    try:
        from sqlalchemy import update

        from pipeline.catalog.schema import feeds

        with catalog.engine.begin() as connection:
            connection.execute(update(feeds).values(error_count=3, error_class="http_5xx"))
    finally:
        catalog.dispose()
    broken = run_story_maintenance()
    states = {ti.task_id: ti.state for ti in broken.get_task_instances()}
    assert states == {"merge_stories": "success", "retry_failed_pages": "success", "data_quality_checks": "failed"}
    assert broken.state == "failed"


def test_news_ingest_end_to_end_then_a_second_run_adds_nothing(demo_env) -> None:
    settings = Settings()
    first = run_news_ingest()
    assert first.state == "success"

    polls = task_instances(first, "poll_feeds")
    feed_urls = sorted(demo_env.feed_urls().values())
    assert len(polls) == -(-len(feed_urls) // 2)  # batches of STORYLINE_FEED_BATCH_SIZE=2
    assert {ti.state for ti in polls} == {"success"}
    # Each mapped task is named after its feeds in the UI.
    labels = [ti.rendered_map_index for ti in polls]
    for url in feed_urls:
        assert sum(url.split("://", 1)[1] in label for label in labels) == 1, (url, labels)

    poll_summaries = xcoms(first, "poll_feeds")
    assert sum(summary["feeds_ok"] for summary in poll_summaries) == len(feed_urls)
    assert sum(summary["feeds_failed"] for summary in poll_summaries) == 0
    entries_new = sum(summary["entries_new"] for summary in poll_summaries)

    fetch_summaries = xcoms(first, "fetch_pages")
    assert {ti.state for ti in task_instances(first, "fetch_pages")} == {"success"}
    assert sum(summary["extracted"] for summary in fetch_summaries) > 0

    (index,) = task_instances(first, "index_articles")
    assert index.state == "success"
    index_summary = index.xcom_pull(task_ids="index_articles")
    assert index_summary["stories_created"] > 0

    catalog = open_catalog(settings)
    try:
        entries = catalog.count_entries()
        assert entries == entries_new
        assert catalog.count_entries(EntryStatus.NEW) == 0  # every entry was attempted
        assert index_summary["indexed"] == len(catalog.articles()) > 0
        assert catalog.articles_to_index() == []
    finally:
        catalog.dispose()
    assert_seed_lineup(settings)

    # Nothing is due right after a successful poll and nothing is pending: the second run
    # polls nothing, fetches nothing, indexes nothing (and so emits no asset event).
    second = run_news_ingest()
    assert second.state == "success"
    for task_id in ("poll_feeds", "fetch_pages", "index_articles"):
        assert [ti.state for ti in task_instances(second, task_id)] == ["skipped"], task_id
    catalog = open_catalog(settings)
    try:
        assert catalog.count_entries() == entries
    finally:
        catalog.dispose()
