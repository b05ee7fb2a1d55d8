"""Airflow overhead: `news_ingest` wall time with nothing new and with 100 new articles.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.airflow_bench [--feeds 50] [--new 100]

The four Airflow processes of the embedded deployment (pipeline.deploy, what `make run`
starts: LocalExecutor, SQLite metadata) ingest a generated demo-style site over loopback with
``--feeds`` feed URLs. Runs are triggered by hand, one at a time:

1. initial load (every article but the ``--new`` held back);
2. nothing new: every feed is due (poll interval clamped to 1 s) and answers 304;
3. ``--new`` articles released: their feeds change, and they are fetched and indexed.

Wall time is trigger → terminal state seen by the API (polled every 2 s, so +-2 s); the task
span is first task start → last task end from the task instances. Freshness with the default
schedule (every 15 min) is computed as interval / 2 (mean wait for the next run) + the
measured run time. While Airflow runs, the summed RSS of its process tree (components and
task processes) is sampled: the memory of the deployment as a whole.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Self

import psutil

from bench.common import write_result
from bench.synthetic_site import GeneratedSite, generate_articles
from pipeline.deploy import AirflowConfig, running, start_airflow, stop_all
from pipeline.settings import Settings
from pipeline.vectorstore import ARTICLES, open_store

DEFAULT_INTERVAL_S = 15 * 60  # dags/_storyline_common.ingest_schedule: "*/15 * * * *"
RUN_TIMEOUT = 1800.0
class TreeRss:
    """Peak of the summed RSS of some processes and all their descendants, sampled."""

    def __init__(self, pid_dir: Path, every: float = 0.5):
        self.pid_dir, self.every = pid_dir, every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            total = 0
            for pid in running(self.pid_dir).values():
                try:
                    root = psutil.Process(pid)
                    for process in [root, *root.children(recursive=True)]:
                        total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak_mb = max(self.peak_mb, total / 1024**2)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def timed_run(client, label: str) -> dict[str, object]:
    started = time.perf_counter()
    run_id = client.trigger("news_ingest")
    state = client.wait_for_run("news_ingest", run_id, RUN_TIMEOUT)
    wall = time.perf_counter() - started
    tasks = client.task_instances("news_ingest", run_id)
    starts = [t for t in (parse_time(ti.get("start_date")) for ti in tasks) if t]
    ends = [t for t in (parse_time(ti.get("end_date")) for ti in tasks) if t]
    durations = [ti.get("duration") or 0.0 for ti in tasks]
    result = {
        "run": label,
        "state": state,
        "wall_s": round(wall, 1),
        "task_span_s": round((max(ends) - min(starts)).total_seconds(), 1) if starts and ends else None,
        "tasks": len(tasks),
        "task_seconds_sum": round(sum(durations), 1),
        "index_task_s": round(sum(ti.get("duration") or 0.0 for ti in tasks if ti["task_id"] == "index_articles"), 1),
    }
    print(result, flush=True)
    return result


def run(feeds: int, total: int, new: int) -> dict[str, object]:
    articles = generate_articles(total)
    held_back = [a.key for a in articles[-new:]]
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp, \
            GeneratedSite(articles, hidden=held_back) as site:
        root = Path(tmp)
        home = root / "home"
        env = {
            "STORYLINE_HOME": str(home),
            "STORYLINE_REGISTRY": str(site.registry_path(root, feeds=feeds)),
            "STORYLINE_ALLOW_HOSTS": "127.0.0.1",
            "STORYLINE_HOST_MIN_DELAY": "0",
            # Every feed is due on every run (the adaptive interval is clamped to [0, 1 s]).
            "STORYLINE_POLL_MIN_INTERVAL": "0",
            "STORYLINE_POLL_MAX_INTERVAL": "1",
            "STORYLINE_INGEST_SCHEDULE": "none",  # only the runs triggered here
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        config = AirflowConfig(airflow_home=root / "airflow", metadata_url=f"sqlite:///{root / 'airflow' / 'airflow.db'}",
                               api_port=free_port(), extra_env=env)
        (root / "airflow").mkdir()
        try:
            started = time.perf_counter()
            with TreeRss(config.pid_dir) as memory:
                client = start_airflow(config)
                startup = time.perf_counter() - started
                client.set_paused("news_ingest", False)
                runs = [timed_run(client, f"initial load ({total - new} articles)")]
                requests_before = sum(site.requests.values())
                runs.append(timed_run(client, f"nothing new ({feeds} feeds, 304)"))
                conditional_requests = sum(site.requests.values()) - requests_before
                site.release(held_back)
                runs.append(timed_run(client, f"{new} new articles"))
                client.close()
        finally:
            stopped = stop_all(config.pid_dir)
        searchable = open_store(Settings(home=home)).count(ARTICLES)
    freshness = DEFAULT_INTERVAL_S / 2 + float(runs[2]["wall_s"])
    return {
        "feeds": feeds,
        "articles": total,
        "startup_to_healthy_s": round(startup, 1),
        "runs": runs,
        "requests_in_nothing_new_run": conditional_requests,
        "articles_searchable_at_end": searchable,
        "freshness_default_schedule_s": round(freshness, 1),
        "freshness_method": "15 min schedule: 450 s mean wait + wall time of the run with new articles",
        "deployment_peak_rss_mb": round(memory.peak_mb, 1),
        "stopped_processes": stopped,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    print(write_result("airflow", run(args.feeds, args.articles, args.new), args.output))


if __name__ == "__main__":
    main()
