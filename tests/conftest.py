"""Shared fixtures: isolated settings, both catalog backends, real data folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipeline.catalog import Catalog, open_catalog
from pipeline.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

POSTGRES_ADMIN_URL = os.environ.get(
    "STORYLINE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


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
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"storyline_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
