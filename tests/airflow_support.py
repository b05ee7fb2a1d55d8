"""Airflow for tests: an isolated AIRFLOW_HOME for in-process work, and the live processes.

`airflow_home` (session) points this process's Airflow configuration at a temporary home with
SQLite metadata and the repo's `dags/`, and migrates it, so `DagBag` and `dag.test()` work.
It must run before anything imports airflow: the configuration is read once, at import.

`live_airflow()` starts the four real processes (pipeline.deploy, the code `make run` uses)
on a free loopback port with LocalExecutor and the given metadata database, logs in through
`POST /auth/token`, and stops every process it started by pid, also when the test fails.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline.deploy import AirflowClient, AirflowConfig, prepare, start_airflow, stop_all

DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags"
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def storyline_env(home: Path, registry: Path) -> dict[str, str]:
    """The pipeline settings for tasks: their own home, loopback feeds allowed, no delays."""
    return {
        "STORYLINE_HOME": str(home),
        "STORYLINE_REGISTRY": str(registry),
        "STORYLINE_ALLOW_HOSTS": "127.0.0.1,localhost",
        "STORYLINE_HOST_MIN_DELAY": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # Manual runs only: a scheduled run would interleave with the ones the test triggers.
        "STORYLINE_INGEST_SCHEDULE": "none",
        # Small batches so the demo feeds spread over several mapped tasks.
        "STORYLINE_FEED_BATCH_SIZE": "2",
    }


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowConfig]:
    if "airflow.configuration" in sys.modules:
        pytest.fail("airflow was imported before the airflow_home fixture configured it")
    home = tmp_path_factory.mktemp("airflow-home")
    config = AirflowConfig(
        airflow_home=home, metadata_url=f"sqlite:///{home / 'airflow.db'}", api_port=free_port()
    )
    airflow_vars = {
        key: value for key, value in config.environment({}).items() if key.startswith("AIRFLOW")
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in airflow_vars.items():
            patch.setenv(key, value)
        prepare(config)
        yield config


@contextmanager
def live_airflow(
    home: Path, metadata_url: str, extra_env: Mapping[str, str]
) -> Iterator[tuple[AirflowConfig, AirflowClient]]:
    """The four Airflow processes, healthy, our DAGs parsed and unpaused, a logged-in client."""
    config = AirflowConfig(
        airflow_home=home,
        metadata_url=metadata_url,
        api_port=free_port(),
        extra_env={
            **extra_env,
            # Parse new DAG files quickly; the defaults suit a long-running deployment.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        },
    )
    try:
        with start_airflow(config) as client:
            yield config, client
    except BaseException:
        sys.stderr.write(process_log_tails(config))
        raise
    finally:
        stop_all(config.pid_dir)


def process_log_tails(config: AirflowConfig) -> str:
    """The end of each task log that reports an error, then of each process's output, to
    explain a failed live test (the task's own log names the exception, the processes' do not).
    """
    task_logs = [
        log
        for log in sorted(config.log_dir.glob("dag_id=*/**/*.log"))
        if "error" in log.read_text(errors="replace").lower()
    ]
    process_logs = sorted((config.log_dir / "processes").glob("*.log"))
    parts = []
    for log in [*task_logs, *process_logs]:
        name = log.relative_to(config.log_dir)
        parts.append(f"--- {name} ---\n{log.read_text(errors='replace')[-LOG_TAIL_CHARS:]}\n")
    return "".join(parts)


def demo_registry_with(
    site_registry: Path, extra_feeds: Mapping[str, str], directory: Path
) -> Path:
    """A copy of the demo registry with more feeds (name → URL) appended."""
    extra = "".join(
        f'\n[[feed]]\nname = "{name}"\nurl = "{url}"\nlanguage = "en"\ntags = ["test"]\n'
        for name, url in extra_feeds.items()
    )
    path = directory / "registry.toml"
    path.write_text(site_registry.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path
