"""Politeness slots record their holder, so a killed process's slots are reclaimed at once.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("host_slots") as batch:
        batch.add_column(sa.Column("owner", sa.String(300)))


def downgrade() -> None:
    with op.batch_alter_table("host_slots") as batch:
        batch.drop_column("owner")
