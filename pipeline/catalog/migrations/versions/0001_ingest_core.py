"""Ingest core: feeds, entries, host politeness.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from pipeline.catalog.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("url", sa.String(2048), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("etag", sa.String(1024)),
        sa.Column("last_modified", sa.String(128)),
        sa.Column("validators_lie", sa.Boolean, nullable=False),
        sa.Column("body_sha256", sa.String(64)),
        sa.Column("polls_since_unconditional", sa.Integer, nullable=False),
        sa.Column("last_attempt_at", UTCDateTime),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("error_class", sa.String(32)),
        sa.Column("error_message", sa.Text),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("poll_interval", sa.Float),
        sa.Column("next_due_at", UTCDateTime, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_feeds_next_due_at", "feeds", ["next_due_at"])
    op.create_table(
        "entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("feed_url", sa.String(2048), nullable=False),
        sa.Column("guid", sa.String(2048), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("canonical_url", sa.String(2048), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("date_source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_class", sa.String(32)),
        sa.Column("error_message", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_entries_feed_url", "entries", ["feed_url"])
    op.create_index("ix_entries_published_at", "entries", ["published_at"])
    op.create_index("ix_entries_status", "entries", ["status"])
    op.create_table(
        "host_politeness",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("next_start_at", sa.Float, nullable=False),
    )
    op.create_table(
        "host_slots",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("slot", sa.Integer, primary_key=True),
        sa.Column("lease_until", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("host_slots", "host_politeness", "entries", "feeds"):
        op.drop_table(table)
