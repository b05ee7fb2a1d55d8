"""Vector store: one interface, an embedded Qdrant Edge backend (default) and a Qdrant server one."""

from __future__ import annotations

from pipeline.settings import Settings
from pipeline.vectorstore.base import (
    ARTICLES,
    LOGICAL_COLLECTIONS,
    STORIES,
    CollectionInfo,
    EmbeddingModelMismatchError,
    Hit,
    Point,
    SearchFilter,
    StoredPoint,
    UnknownCollectionError,
    VectorStore,
    VectorStoreError,
    article_payload,
    story_payload,
)
from pipeline.vectorstore.locking import LockTimeout

__all__ = [
    "ARTICLES",
    "LOGICAL_COLLECTIONS",
    "STORIES",
    "CollectionInfo",
    "EmbeddingModelMismatchError",
    "Hit",
    "LockTimeout",
    "Point",
    "SearchFilter",
    "StoredPoint",
    "UnknownCollectionError",
    "VectorStore",
    "VectorStoreError",
    "article_payload",
    "open_store",
    "story_payload",
]

def open_store(settings: Settings) -> VectorStore:
    """The configured backend: ``vector_backend`` "edge" (embedded, default) or "server"."""
    if settings.vector_backend == "edge":
        from pipeline.vectorstore.edge import EdgeVectorStore

        return EdgeVectorStore(
            settings.vectors_dir,
            lock_timeout=settings.vector_lock_timeout,
            exact=settings.vector_exact_search,
            hnsw_ef=settings.vector_hnsw_ef,
        )
    if not settings.qdrant_url:
        raise VectorStoreError("vector_backend 'server' needs STORYLINE_QDRANT_URL")
    from pipeline.vectorstore.server import ServerVectorStore

    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return ServerVectorStore(
        settings.qdrant_url, api_key, exact=settings.vector_exact_search, hnsw_ef=settings.vector_hnsw_ef
    )
