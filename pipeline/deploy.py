"""The embedded Airflow deployment: configuration, the four processes, and a small REST client.

Nothing here imports airflow: the processes are started with ``subprocess`` (the ``airflow``
command of this interpreter's environment), configured through ``AIRFLOW__*`` environment
variables, and stopped by the pids written at start. The tests drive their live Airflow with
the same functions, so `make run` and CI share one code path.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx

from pipeline.demo.site import REGISTRY_FILE
from pipeline.settings import Settings

REPO_DIR = Path(__file__).resolve().parent.parent
AIRFLOW_BIN = Path(sys.executable).with_name("airflow")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DAG_IDS = ("news_ingest", "story_maintenance")
EMBED_POOL = "storyline_embed"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class DeploymentError(RuntimeError):
    """The deployment cannot be set up, started or reached."""


@dataclass(frozen=True)
class AirflowConfig:
    """Everything the processes need, rendered as environment variables (no airflow.cfg edits)."""

    airflow_home: Path
    metadata_url: str
    api_port: int
    username: str = "admin"
    dags_folder: Path = REPO_DIR / "dags"
    plugins_folder: Path = REPO_DIR / "plugins"
    # Sized for 2 cores: a few task processes at once, one parsing process.
    parallelism: int = 4
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json"

    @property
    def secrets_file(self) -> Path:
        return self.airflow_home / "secrets.json"

    @property
    def pid_dir(self) -> Path:
        return self.airflow_home / "pids"

    @property
    def log_dir(self) -> Path:
        return self.airflow_home / "logs"

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        keys = _shared_secrets(self.secrets_file)
        env = dict(os.environ if base is None else base)
        env.update(
            {
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(self.parallelism),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": self.api_url,
                # Tasks reach the api-server here; the default assumes port 8080.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                # Every component must sign and check tokens with the same keys.
                "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
                "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            }
        )
        env.update(self.extra_env)
        return env


def _shared_secrets(path: Path) -> dict[str, str]:
    """The JWT and session keys, created once so restarted components keep accepting tokens."""
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {"jwt_secret": secrets.token_urlsafe(64), "secret_key": secrets.token_urlsafe(64)}
    _write_private(path, json.dumps(keys))
    return keys


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text)


def dev_password(config: AirflowConfig) -> str:
    """The login's password: generated on first use, kept in the auth manager's own file."""
    stored = json.loads(config.passwords_file.read_text()) if config.passwords_file.exists() else {}
    if config.username not in stored:
        stored[config.username] = secrets.token_urlsafe(12)
        config.passwords_file.parent.mkdir(parents=True, exist_ok=True)
        _write_private(config.passwords_file, json.dumps(stored))
    return stored[config.username]


def run_airflow(config: AirflowConfig, *args: str, timeout: float = 600) -> str:
    """One ``airflow`` CLI command to completion; its stdout, or DeploymentError with stderr."""
    done = subprocess.run(
        [str(AIRFLOW_BIN), *args],
        env=config.environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise DeploymentError(f"airflow {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def prepare(config: AirflowConfig) -> str:
    """Create the home, migrate the metadata database; the dev password."""
    config.airflow_home.mkdir(parents=True, exist_ok=True)
    password = dev_password(config)
    run_airflow(config, "db", "migrate")
    return password


# --- processes -------------------------------------------------------------------------------


def start_background(
    name: str, command: list[str], env: Mapping[str, str], pid_dir: Path, log_dir: Path
) -> int:
    """Start a command in its own process group, output to log_dir/<name>.log, pid to pid_dir."""
    pid_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (pid_dir / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def start_components(
    config: AirflowConfig, components: Iterable[str] = COMPONENTS
) -> dict[str, int]:
    env = config.environment()
    started = {}
    for component in components:
        command = [str(AIRFLOW_BIN), component]
        if component == "api-server":
            command += ["--host", "127.0.0.1", "--port", str(config.api_port)]
        started[component] = start_background(
            component, command, env, config.pid_dir, config.log_dir / "processes"
        )
    return started


def celery_env(broker_url: str, result_backend: str) -> dict[str, str]:
    """The settings that turn a deployment into CeleryExecutor (give them as `extra_env`).

    A worker takes one task ahead at most, so queued tasks spread over the workers instead of
    piling up on the first one to ask. Each worker runs one task at a time in its main
    process (Celery's `solo` pool): a task forked from a daemonic prefork pool process may not
    start processes of its own, which the extraction stage does, and the `threads` pool cannot
    run Airflow's task supervisor, which installs signal handlers. Scale with more workers.
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        "AIRFLOW__CELERY__POOL": "solo",
    }


def start_celery_worker(config: AirflowConfig, name: str) -> int:
    """One Celery worker, known to Celery as `<name>@<host>`, its output in `<name>.log`.

    It serves no task logs: on one machine the api-server reads them from the shared log
    folder, and a second worker's log server could not bind the same port. It runs as
    ``python -m airflow``: a process that a task spawns (the extraction workers) re-imports the
    worker's main module unless that is a package's ``__main__``, and importing the `airflow`
    script there fails, because Airflow blanks the metadata URL inside tasks.
    """
    command = [
        sys.executable,
        "-m",
        "airflow",
        "celery",
        "worker",
        "--celery-hostname",
        f"{name}@%h",
        "--skip-serve-logs",
    ]
    return start_background(
        name, command, config.environment(), config.pid_dir, config.log_dir / "processes"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours has exited; reap it
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return reaped == 0


def running(pid_dir: Path) -> dict[str, int]:
    """Name → pid of every recorded process that is still alive."""
    found = {}
    for pid_file in sorted(pid_dir.glob("*.pid")):
        pid = int(pid_file.read_text())
        if _alive(pid):
            found[pid_file.stem] = pid
    return found


def stop_all(pid_dir: Path, grace: float = 20.0) -> list[str]:
    """Stop each recorded process group (SIGTERM, then SIGKILL after `grace`); the names stopped.

    Each process was started as the leader of its own session, so its group holds exactly the
    children it forked (task runners, gunicorn/uvicorn workers) and nothing else.
    """
    pid_files = sorted(pid_dir.glob("*.pid")) if pid_dir.is_dir() else []
    pids = {pid_file.stem: int(pid_file.read_text()) for pid_file in pid_files}
    for pid in pids.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids.values()):
        time.sleep(0.2)
    for pid in pids.values():
        _signal_group(pid, signal.SIGKILL)
    for pid_file in pid_files:
        pid_file.unlink(missing_ok=True)
    return sorted(pids)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --- REST ------------------------------------------------------------------------------------


class AirflowClient:
    """The few `/api/v2` calls a deployment and its tests need, with a token from /auth/token."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0):
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._credentials = {"username": username, "password": password}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self) -> None:
        response = self._http.post("/auth/token", json=self._credentials)
        response.raise_for_status()
        self._http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = self._http.request(method, f"/api/v2{path}", **kwargs)
        if response.status_code >= 400:
            raise DeploymentError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def health(self) -> dict:
        return self._call("GET", "/monitor/health").json()

    def wait_healthy(self, timeout: float = 180.0) -> dict:
        """Until the api-server answers and scheduler, dag-processor and triggerer report in."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = self.health()
            except (httpx.TransportError, DeploymentError) as exc:
                last = exc
            else:
                if all(
                    last.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return last
            time.sleep(1.0)
        raise DeploymentError(f"Airflow not healthy after {timeout:.0f}s: {last}")

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180.0) -> None:
        """Until the dag-processor has parsed and stored every one of these DAGs."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while missing and time.monotonic() < deadline:
            missing = {dag_id for dag_id in missing if not self._dag_exists(dag_id)}
            if missing:
                time.sleep(1.0)
        if missing:
            errors = self._call("GET", "/importErrors").json().get("import_errors", [])
            raise DeploymentError(f"DAGs not parsed: {sorted(missing)}; import errors: {errors}")

    def _dag_exists(self, dag_id: str) -> bool:
        return self._http.get(f"/api/v2/dags/{dag_id}").status_code == 200

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def ensure_pool(self, name: str, slots: int, description: str) -> None:
        body = {"name": name, "slots": slots, "description": description}
        if self._http.get(f"/api/v2/pools/{name}").status_code == 200:
            self._call("PATCH", f"/pools/{name}", json=body)
        else:
            self._call("POST", "/pools", json=body)

    def trigger(self, dag_id: str, conf: Mapping[str, object] | None = None) -> str:
        body = {"logical_date": None, "conf": dict(conf or {})}
        return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body).json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600.0) -> str:
        deadline = time.monotonic() + timeout
        state = self.run_state(dag_id, run_id)
        while state not in TERMINAL_RUN_STATES and time.monotonic() < deadline:
            time.sleep(2.0)
            state = self.run_state(dag_id, run_id)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self._call("GET", path, params={"limit": 1000}).json()["task_instances"]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> str:
        """The task's log as text, one event per line."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        response = self._call(
            "GET",
            path,
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"},
        )
        lines = []
        for item in response.json()["content"]:
            if isinstance(item, dict):
                lines.append(" ".join(str(item.get(key, "")) for key in ("level", "event")))
            else:
                lines.append(str(item))
        return "\n".join(lines)


# --- the embedded deployment (`storyline airflow up|down|status`) ------------------------------


def embedded_config(
    settings: Settings, api_port: int = 8080, extra_env: Mapping[str, str] | None = None
) -> AirflowConfig:
    """The `make run` deployment: AIRFLOW_HOME under STORYLINE_HOME, SQLite metadata."""
    airflow_home = settings.airflow_home.resolve()
    return AirflowConfig(
        airflow_home=airflow_home,
        metadata_url=f"sqlite:///{airflow_home / 'airflow.db'}",
        api_port=api_port,
        extra_env=dict(extra_env or {}),
    )


def wait_for_registry(path: Path, timeout: float = 30.0) -> None:
    """Until the demo site has written a complete feed registry at `path`."""
    from pipeline.feeds import RegistryError, load_registry

    deadline = time.monotonic() + timeout
    while True:
        try:
            load_registry(path)
            return
        except RegistryError:
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"the demo site wrote no registry at {path} in {timeout:.0f}s"
                )
            time.sleep(0.2)


def start_airflow(config: AirflowConfig) -> AirflowClient:
    """Migrate, start the four processes and wait until they are healthy, the embedding pool
    exists and our DAGs are parsed; a logged-in client (the caller closes it, and on failure
    stops the processes with `stop_all(config.pid_dir)`)."""
    password = prepare(config)
    start_components(config)
    client = AirflowClient(config.api_url, config.username, password)
    client.wait_healthy()
    client.login()
    client.ensure_pool(EMBED_POOL, 1, "Bounds embedding memory: one model-loading task at a time.")
    client.wait_for_dags(DAG_IDS)
    return client


@dataclass(frozen=True)
class Deployment:
    url: str
    username: str
    password: str
    registry: Path
    pid_dir: Path

    def save(self, path: Path) -> None:
        fields = {"url": self.url, "username": self.username, "registry": str(self.registry)}
        path.write_text(json.dumps(fields))


def _deployment_file(settings: Settings) -> Path:
    return settings.airflow_home.resolve() / "deployment.json"


def _pid_dir(settings: Settings) -> Path:
    return settings.airflow_home.resolve() / "pids"


def up(
    settings: Settings, *, demo: bool, api_port: int = 8080, demo_port: int = 8765
) -> tuple[Deployment, str]:
    """Set up and start everything in the background; the deployment and the first run's id.

    With `demo`, the demo news site is served on `demo_port` and its registry replaces
    `settings.registry`; the loopback address is then allowed for the HTTP layer. On failure
    every process started so far is stopped again.
    """
    home = settings.home.resolve()
    registry = settings.registry.resolve()
    pid_dir = _pid_dir(settings)
    if running(pid_dir):
        raise DeploymentError(f"already running ({pid_dir}); stop it first")
    storyline_env = {"STORYLINE_HOME": str(home), "STORYLINE_REGISTRY": str(registry)}
    try:
        if demo:
            registry = home / "demo" / REGISTRY_FILE
            registry.unlink(missing_ok=True)
            command = [
                sys.executable,
                "-m",
                "pipeline.demo",
                "--port",
                str(demo_port),
                "--registry-dir",
                str(registry.parent),
            ]
            start_background(
                "demo-site",
                command,
                os.environ,
                pid_dir,
                settings.airflow_home / "logs" / "processes",
            )
            wait_for_registry(registry)
            storyline_env |= {
                "STORYLINE_REGISTRY": str(registry),
                "STORYLINE_ALLOW_HOSTS": "127.0.0.1",
                # Our own site on loopback: a short politeness delay keeps the first run quick.
                "STORYLINE_HOST_MIN_DELAY": "0.1",
            }
        config = embedded_config(settings, api_port, storyline_env)
        with start_airflow(config) as client:
            for dag_id in DAG_IDS:
                client.set_paused(dag_id, False)
            first_run = client.trigger("news_ingest")
    except BaseException:
        stop_all(pid_dir)
        raise
    deployment = Deployment(
        config.api_url, config.username, dev_password(config), registry, pid_dir
    )
    deployment.save(_deployment_file(settings))
    return deployment, first_run


def status(settings: Settings) -> dict[str, object]:
    """The recorded processes still alive, and the api-server's health (when it answers)."""
    recorded = _deployment_file(settings)
    if not recorded.exists():
        return {"running": {}, "url": None, "health": None}
    fields = json.loads(recorded.read_text())
    try:
        health = httpx.get(f"{fields['url']}/api/v2/monitor/health", timeout=5).json()
    except httpx.HTTPError as exc:
        health = {"error": f"{type(exc).__name__}: {exc}"}
    return {"running": running(_pid_dir(settings)), **fields, "health": health}


def down(settings: Settings) -> list[str]:
    """Stop exactly the processes `up` started (by their recorded pids); their names."""
    return stop_all(_pid_dir(settings))
