"""Pieces shared by the Storyline DAG files.

The dag-processor re-imports DAG files every ~30 s, so this module stays cheap: airflow.sdk,
the standard library and nothing else at the top. The pipeline (torch, trafilatura, qdrant,
SQLAlchemy) is imported inside the task bodies that need it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow.sdk import Asset

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger("storyline.dags")

OWNER = "storyline"
START_DATE = datetime(2025, 1, 1, tzinfo=UTC)
ARTICLES = Asset(name="storyline_articles", uri="storyline://articles")
# Created by `storyline airflow up` (pipeline.deploy) with one slot: one model in memory at a time.
EMBED_POOL = "storyline_embed"
LABEL_MAX_CHARS = 240  # the UI's rendered_map_index column holds 250

# Retries with exponential back-off for every task (most of them touch the network).
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def ingest_schedule() -> str | None:
    """`STORYLINE_INGEST_SCHEDULE`: a cron expression or preset; `none` for manual runs only."""
    value = os.environ.get("STORYLINE_INGEST_SCHEDULE", "*/15 * * * *").strip()
    return None if value.lower() == "none" else value


def settings() -> Settings:
    """The pipeline settings of this task process (STORYLINE_* environment variables)."""
    from pipeline.settings import Settings

    return Settings()


def feeds_label(feed_urls: Sequence[str]) -> str:
    """A mapped poll task's name in the UI: the feeds it polls, shortened to fit."""
    names = [(urlsplit(url).netloc + urlsplit(url).path).removesuffix("/") for url in feed_urls]
    label = ", ".join(names)
    if len(label) <= LABEL_MAX_CHARS:
        return label
    shown: list[str] = []
    for name in names:
        if len(", ".join([*shown, name])) > LABEL_MAX_CHARS - 12:
            break
        shown.append(name)
    return f"{', '.join(shown)} (+{len(names) - len(shown)} more)"


def count_metrics(summary: Mapping[str, object], metric_by_key: Mapping[str, str]) -> None:
    """Add this task's counts to the StatsD/OpenTelemetry counters named in `metric_by_key`."""
    from airflow.sdk.observability import stats

    for key, metric in metric_by_key.items():
        stats.incr(metric, count=int(summary.get(key) or 0))


def log_summary(stage: str, summary: Mapping[str, object]) -> None:
    counts = ", ".join(f"{key}={value}" for key, value in summary.items())
    log.info("%s summary: %s", stage, counts)
