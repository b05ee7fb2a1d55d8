"""One settings object for the whole system (environment prefix ``STORYLINE_``).

Everything embedded lives under ``STORYLINE_HOME``: the SQLite catalog, the vector store,
cached pages and the Airflow home. Pointing ``STORYLINE_CATALOG_URL`` at PostgreSQL (and the
vector store at a Qdrant server) is all a bigger deployment changes.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYLINE_", extra="ignore")

    home: Path = Field(default=Path(".storyline"), description="Root of every embedded default.")
    catalog_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file catalog.db under home."
    )
    feeds: Literal["demo", "registry"] = Field(
        default="demo",
        description="`make run` source: the bundled demo site, or the real feeds of `registry`.",
    )
    registry: Path = Field(
        default=PACKAGE_DIR / "feeds.toml", description="Feed registry (TOML)."
    )
    tracked: Path = Field(
        default=PACKAGE_DIR / "tracked.toml", description="Tracked stories and their seeds (TOML)."
    )
    related_threshold: float = Field(
        default=0.40, description="Cosine between story centroids from which a story is related."
    )
    data_dir: Path = Field(
        default=Path("../shared/data"), description="Real evaluation data (tests, benchmarks)."
    )

    # HTTP limits
    user_agent: str = "StorylineBot/0.1 (+https://github.com/storyline/storyline; news ingest)"
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_feed_bytes: int = 10 * 1024 * 1024
    max_page_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    host_min_delay: float = 1.0
    host_max_concurrency: int = 2
    retry_after_cap: float = 3600.0
    robots_cache_ttl: float = 3600.0
    allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDR ranges that may resolve to private addresses.",
    )

    # Extraction (worker processes: trafilatura has no timeout of its own)
    extract_workers: int = 2
    extract_timeout: float = 30.0

    # Embedding and vector store
    model: str = Field(
        default="", description="sentence-transformers name or path; empty: the bundled MiniLM."
    )
    embed_backend: Literal["onnx", "onnx-int8", "torch"] | None = Field(
        default=None,
        description="onnx, onnx-int8 (the bundled model only) or torch; unset: onnx-int8 for "
        "the bundled model, torch for any other.",
    )
    models_dir: Path | None = Field(
        default=None, description="Exported ONNX files; unset: STORYLINE_HOME/models."
    )
    fetch_batch_size: int = Field(
        default=50, description="Entries per fetch batch (an Airflow fetch task; storyline run's batches)."
    )
    index_batch_size: int = Field(default=64, description="Articles embedded and committed together.")
    vector_backend: Literal["edge", "server"] = "edge"
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    vector_lock_timeout: float = 60.0
    vector_exact_search: bool = True
    vector_hnsw_ef: int | None = None

    # Polling
    poll_min_interval: float = 5 * 60.0
    poll_max_interval: float = 6 * 3600.0
    poll_error_backoff_max: float = 24 * 3600.0
    unconditional_every: int = 10


    _split_allow_hosts = field_validator("allow_hosts", mode="before")(_split_csv)

    @cached_property
    def resolved_catalog_url(self) -> str:
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{(self.home / 'catalog.db').resolve()}"

    @property
    def pages_dir(self) -> Path:
        return self.home / "pages"

    @property
    def vectors_dir(self) -> Path:
        return self.home / "vectors"

    @property
    def onnx_dir(self) -> Path:
        return self.models_dir or self.home / "models"

    @property
    def embedding_backend(self) -> str:
        """The embedding runtime in effect (see embed_backend)."""
        return self.embed_backend or ("torch" if self.model else "onnx-int8")

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
