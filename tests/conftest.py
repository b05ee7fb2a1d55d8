"""Shared fixtures: isolated settings, both catalog backends, real data folder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from pipeline.catalog import Catalog, open_catalog
from pipeline.settings import Settings
from tests.support.postgres import fresh_postgres_database

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Every test has its own STORYLINE_HOME; the ONNX file exported from the bundled model is the
# same for all of them, so the session (and its CLI and Airflow subprocesses) shares one.
if "STORYLINE_MODELS_DIR" not in os.environ:
    os.environ["STORYLINE_MODELS_DIR"] = tempfile.mkdtemp(prefix="storyline-test-models-")
    atexit.register(shutil.rmtree, os.environ["STORYLINE_MODELS_DIR"], True)

pytest_plugins = ["tests.airflow_support"]


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a test: its own home, loopback allowed, no politeness delay by default."""
    values: dict[str, object] = {
        "home": home,
        "allow_hosts": ["127.0.0.1", "localhost"],
        "host_min_delay": 0.0,
        "host_max_concurrency": 4,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """A fresh PostgreSQL database for this test session's catalogs, dropped at the end."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose catalog is SQLite or the machine's real PostgreSQL (empty either way)."""
    if request.param == "sqlite":
        return make_settings(tmp_path / "home")
    url = request.getfixturevalue("postgres_database")
    catalog = Catalog(url)
    with catalog.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    catalog.dispose()
    return make_settings(tmp_path / "home", catalog_url=url)


@pytest.fixture
def catalog(catalog_settings: Settings) -> Catalog:
    catalog = open_catalog(catalog_settings)
    yield catalog
    catalog.dispose()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Settings().data_dir
    if not path.is_dir():
        pytest.skip(f"real evaluation data not found at {path} (set STORYLINE_DATA_DIR)")
    return path
