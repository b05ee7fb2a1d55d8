"""Story maintenance: after every ingest that indexed articles, and daily.

merge_stories (quiet stories go dormant, converged stories merge; each merge is logged as a
lineage line) and retry_failed_pages, then data_quality_checks, which fails loudly (red in the
UI, every problem in its log) when a check finds one.
"""

from __future__ import annotations

from datetime import timedelta

from _storyline_common import (
    ARTICLES,
    DEFAULT_ARGS,
    EMBED_POOL,
    START_DATE,
    log,
    log_summary,
    settings,
)
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowFailException


@dag(
    dag_id="story_maintenance",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 3 * * *", timezone="UTC"), assets=ARTICLES
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["storyline", "maintenance"],
    doc_md=__doc__,
)
def story_maintenance() -> None:
    @task(pool=EMBED_POOL, execution_timeout=timedelta(minutes=30))
    def merge_stories() -> dict[str, object]:
        from pipeline.stages import merge_stories as merge

        summary = merge(settings())
        for merge_record in summary["merges"]:
            log.info("lineage: story %(merged)s merged into %(into)s (score %(score)s, at %(at)s)", merge_record)
        log.info("merge summary: merges=%d, dormant=%d", len(summary["merges"]), summary["dormant"])
        return {"merges": len(summary["merges"]), "dormant": summary["dormant"]}

    @task(execution_timeout=timedelta(minutes=30))
    def retry_failed_pages() -> dict[str, object] | None:
        from pipeline.stages import retry_failed_pages as retry

        summary = retry(settings())
        if summary:
            log_summary("retry", summary)
        return summary

    # all_done: the checks report on the data even when a maintenance step failed; no retries,
    # a problem found is a finding, not a transient error.
    @task(trigger_rule="all_done", retries=0, execution_timeout=timedelta(minutes=10))
    def data_quality_checks() -> None:
        from pipeline.stages import data_quality_checks as checks

        problems = checks(settings())
        for problem in problems:
            log.error("data quality: %s", problem)
        if problems:
            raise AirflowFailException(
                f"{len(problems)} data-quality problem(s): {'; '.join(problems)}"
            )
        log.info("data quality: every check passed")

    [merge_stories(), retry_failed_pages()] >> data_quality_checks()


story_maintenance()
