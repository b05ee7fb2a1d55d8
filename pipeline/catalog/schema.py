"""Catalog tables (SQLAlchemy Core). Alembic migrations in ./migrations create and evolve them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite has no time zones: store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

feeds = Table(
    "feeds",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("language", String(16), nullable=False, default="en"),
    Column("tags", Text, nullable=False, default=""),
    Column("etag", String(1024)),
    Column("last_modified", String(128)),
    Column("validators_lie", Boolean, nullable=False, default=False),
    Column("body_sha256", String(64)),
    Column("polls_since_unconditional", Integer, nullable=False, default=0),
    Column("last_attempt_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("error_class", String(32)),
    Column("error_message", Text),
    Column("error_count", Integer, nullable=False, default=0),
    Column("poll_interval", Float),
    Column("next_due_at", UTCDateTime, nullable=False, index=True),
    Column("active", Boolean, nullable=False, default=True),
)

entries = Table(
    "entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("feed_url", String(2048), nullable=False, index=True),
    Column("guid", String(2048), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("canonical_url", String(2048), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("published_at", UTCDateTime, nullable=False, index=True),
    Column("date_source", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("error_class", String(32)),
    Column("error_message", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Page stage (0002):
    Column("page_sha256", String(64)),
    Column("final_url", String(2048)),
    Column("alias_of", String(36), index=True),
    Column("next_attempt_at", UTCDateTime),
)

# One clean article per entry that passed the gates (0002). Exact duplicates are not stored
# twice: their entry points at the kept article through entries.alias_of.
articles = Table(
    "articles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("canonical_url", String(2048), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("description", Text),
    Column("author", Text),
    Column("sitename", String(300)),
    Column("source", String(300), nullable=False),
    Column("language", String(16)),
    Column("published_at", UTCDateTime, nullable=False, index=True),
    Column("updated_at", UTCDateTime),
    Column("body_source", String(8), nullable=False),
    Column("body_sha256", String(64), nullable=False, index=True),
    Column("signature", LargeBinary),
    Column("syndicated_of", String(36), index=True),
    Column("extracted_at", UTCDateTime, nullable=False, index=True),
    # Index stage (0003): the story the article joined, and why.
    Column("story_id", String(36), index=True),
    Column("join_rule", String(24)),
    Column("join_score", Float),
    Column("similarity", Float),
    Column("term_overlap", Float),
    Column("time_gap_seconds", Float),
    Column("indexed_at", UTCDateTime),
)

# The clusterer's persistent state (0003): one row per story, as StoryState holds it.
stories = Table(
    "stories",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("label", Text, nullable=False),
    Column("centroid_sum", LargeBinary, nullable=False),
    Column("vector_count", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("first_seen", UTCDateTime),
    Column("last_seen", UTCDateTime, index=True),
    Column("sources", Text, nullable=False),
    Column("independent_sources", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("terms", Text, nullable=False),
    Column("merged_into", String(36)),
    Column("merged_at", UTCDateTime),
    Column("merge_score", Float),
    Column("updated_at", UTCDateTime, nullable=False),
    # Splits (0006): members of a story that may still split (JSON), and a split-off story's
    # lineage.
    Column("members", Text),
    Column("split_from", String(36), index=True),
    Column("split_at", UTCDateTime),
    Column("split_score", Float),
)

# Stream-wide clusterer counters (term frequencies, clock): one JSON value per key.
clusterer_meta = Table(
    "clusterer_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Per-host politeness shared by every worker process: the next start time for a request to
# the host, and leases for its concurrent slots (a crashed worker's lease simply expires).
host_politeness = Table(
    "host_politeness",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("next_start_at", Float, nullable=False),
)

host_slots = Table(
    "host_slots",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("lease_until", Float, nullable=False),
    Column("owner", String(300)),  # "hostname:pid" of the holder (0004)
)
