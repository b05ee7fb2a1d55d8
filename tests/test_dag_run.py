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
