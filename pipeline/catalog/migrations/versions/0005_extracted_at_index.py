"""Articles are found by when they were stored: the page stage's syndication check reads only
the signatures stored since its last look (``Catalog.signatures(stored_since=...)``).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_articles_extracted_at", "articles", ["extracted_at"])


def downgrade() -> None:
    op.drop_index("ix_articles_extracted_at", "articles")
