"""Story splits: a young story keeps its members (to be split in two if it turns out to hold two
events), and a story split off another records where it came from.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from pipeline.catalog.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        # Stories stored before this revision have no members and are never split.
        batch.add_column(sa.Column("members", sa.Text))
        batch.add_column(sa.Column("split_from", sa.String(36)))
        batch.add_column(sa.Column("split_at", UTCDateTime))
        batch.add_column(sa.Column("split_score", sa.Float))
        batch.create_index("ix_stories_split_from", ["split_from"])


def downgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.drop_index("ix_stories_split_from")
        for column in ("split_score", "split_at", "split_from", "members"):
            batch.drop_column(column)
