"""The state catalog: feeds, entries and their status, host politeness. SQLite or PostgreSQL."""

from pipeline.catalog.store import Catalog, FeedState, open_catalog

__all__ = ["Catalog", "FeedState", "open_catalog"]
