"""News ingest: poll the due feeds, fetch and extract the new entries, index them into stories.

plan_feeds → poll_feeds (mapped, one task per batch of feeds, named after its feeds)
→ plan_fetch → fetch_pages (mapped over batches of entry ids) → index_articles (one task in
the `storyline_embed` pool; emits `storyline://articles` when it indexed something).

XComs carry only URLs, ids and counts: pages, text and vectors stay in the stores. A broken
feed or page never fails a task; it is recorded in the catalog, logged, and counted.
"""

from __future__ import annotations

from datetime import timedelta

from _storyline_common import (
    ARTICLES,
    DEFAULT_ARGS,
    EMBED_POOL,
    START_DATE,
    count_metrics,
    env_int,
    feeds_label,
    ingest_schedule,
    log,
    log_summary,
    settings,
)
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

FEED_BATCH_SIZE = env_int("STORYLINE_FEED_BATCH_SIZE", 10)


@dag(
    dag_id="news_ingest",
    schedule=ingest_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["storyline", "ingest"],
    doc_md=__doc__,
)
def news_ingest() -> None:
    @task(execution_timeout=timedelta(minutes=5))
    def plan_feeds() -> list[list[str]]:
        from pipeline.stages import plan_feed_batches

        return plan_feed_batches(settings(), batch_size=FEED_BATCH_SIZE)

    @task(map_index_template="{{ feeds_label }}", execution_timeout=timedelta(minutes=15))
    def poll_feeds(feed_urls: list[str]) -> dict[str, object]:
        from pipeline.stages import poll_batch

        get_current_context()["feeds_label"] = feeds_label(feed_urls)
        summary = poll_batch(settings(), feed_urls)
        for failure in summary.pop("failures"):
            log.warning("feed failed: %(feed)s [%(error_class)s] %(error)s", failure)
        log_summary("poll", summary)
        count_metrics(
            summary,
            {
                "feeds": "storyline.feeds.polled",
                "feeds_failed": "storyline.feeds.failed",
                "entries_new": "storyline.entries.new",
            },
        )
        return summary

    # none_failed: entries left pending by an earlier run are fetched even when no feed is due.
    @task(trigger_rule="none_failed", execution_timeout=timedelta(minutes=5))
    def plan_fetch() -> list[list[str]]:
        from pipeline.stages import plan_fetch_batches

        config = settings()
        return plan_fetch_batches(config, batch_size=config.fetch_batch_size)

    @task(map_index_template="{{ entries_label }}", execution_timeout=timedelta(minutes=20))
    def fetch_pages(entry_ids: list[str]) -> dict[str, object]:
        from pipeline.stages import fetch_batch

        get_current_context()["entries_label"] = f"{len(entry_ids)} entries"
        summary = fetch_batch(settings(), entry_ids)
        log_summary("fetch", summary)
        count_metrics(
            summary,
            {"extracted": "storyline.articles.extracted", "skipped": "storyline.articles.skipped"},
        )
        return summary

    @task(
        trigger_rule="none_failed",
        pool=EMBED_POOL,
        outlets=[ARTICLES],
        execution_timeout=timedelta(minutes=45),
    )
    def index_articles() -> dict[str, object]:
        from pipeline.stages import index_pending

        summary = index_pending(settings())
        log_summary("index", summary)
        count_metrics(
            summary,
            {
                "indexed": "storyline.articles.indexed",
                "stories_created": "storyline.stories.created",
                "stories_joined": "storyline.stories.joined",
            },
        )
        if not summary.get("indexed"):
            # Skipped, not succeeded: no asset event, so story maintenance is not woken for nothing.
            raise AirflowSkipException("nothing new to index")
        return summary

    polled = poll_feeds.expand(feed_urls=plan_feeds())
    fetch_plan = plan_fetch()
    polled >> fetch_plan
    fetch_pages.expand(entry_ids=fetch_plan) >> index_articles()


news_ingest()
