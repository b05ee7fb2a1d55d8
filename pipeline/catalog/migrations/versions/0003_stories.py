"""Stories: clusterer state per story, story assignment and explanation per article.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from pipeline.catalog.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("story_id", sa.String(36)))
        batch.add_column(sa.Column("join_rule", sa.String(24)))
        batch.add_column(sa.Column("join_score", sa.Float))
        batch.add_column(sa.Column("similarity", sa.Float))
        batch.add_column(sa.Column("term_overlap", sa.Float))
        batch.add_column(sa.Column("time_gap_seconds", sa.Float))
        batch.add_column(sa.Column("indexed_at", UTCDateTime))
        batch.create_index("ix_articles_story_id", ["story_id"])
    op.create_table(
        "stories",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("centroid_sum", sa.LargeBinary, nullable=False),
        sa.Column("vector_count", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("first_seen", UTCDateTime),
        sa.Column("last_seen", UTCDateTime),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("independent_sources", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("terms", sa.Text, nullable=False),
        sa.Column("merged_into", sa.String(36)),
        sa.Column("merged_at", UTCDateTime),
        sa.Column("merge_score", sa.Float),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_stories_last_seen", "stories", ["last_seen"])
    op.create_index("ix_stories_state", "stories", ["state"])
    op.create_table(
        "clusterer_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("clusterer_meta")
    op.drop_table("stories")
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_story_id")
        for column in (
            "indexed_at", "time_gap_seconds", "term_overlap", "similarity", "join_score",
            "join_rule", "story_id",
        ):
            batch.drop_column(column)
