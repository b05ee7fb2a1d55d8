"""Articles: page references on entries, one clean article per accepted entry.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from pipeline.catalog.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("page_sha256", sa.String(64)))
        batch.add_column(sa.Column("final_url", sa.String(2048)))
        batch.add_column(sa.Column("alias_of", sa.String(36)))
        batch.add_column(sa.Column("next_attempt_at", UTCDateTime))
        batch.create_index("ix_entries_alias_of", ["alias_of"])
    op.create_table(
        "articles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("canonical_url", sa.String(2048), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("sitename", sa.String(300)),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime),
        sa.Column("body_source", sa.String(8), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary),
        sa.Column("syndicated_of", sa.String(36)),
        sa.Column("extracted_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_articles_canonical_url", "articles", ["canonical_url"])
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_index("ix_articles_body_sha256", "articles", ["body_sha256"])
    op.create_index("ix_articles_syndicated_of", "articles", ["syndicated_of"])


def downgrade() -> None:
    op.drop_table("articles")
    with op.batch_alter_table("entries") as batch:
        batch.drop_index("ix_entries_alias_of")
        for column in ("next_attempt_at", "alias_of", "final_url", "page_sha256"):
            batch.drop_column(column)
