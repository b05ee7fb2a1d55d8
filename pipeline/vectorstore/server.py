"""Server backend: a Qdrant server through qdrant-client, with Qdrant's own collection aliases.

The model and dimension of a collection are kept in Qdrant's collection ``metadata``. The
location ``":memory:"`` runs qdrant-client's in-process emulation (used by the contract tests;
its payload indexes are accepted but have no effect).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from pipeline.vectorstore.base import (
    PAYLOAD_INDEXES,
    CollectionInfo,
    Hit,
    IndexKind,
    MatchCondition,
    Point,
    SearchFilter,
    StoredPoint,
    VectorStore,
    VectorStoreError,
    logical_of,
)

DEFAULT_TIMEOUT = 10
IN_MEMORY = ":memory:"

_SERVER_INDEX_TYPES = {
    IndexKind.KEYWORD: models.PayloadSchemaType.KEYWORD,
    IndexKind.FLOAT: models.PayloadSchemaType.FLOAT,
}


class ServerVectorStore(VectorStore):
    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: int = DEFAULT_TIMEOUT,
        exact: bool = True,
        hnsw_ef: int | None = None,
    ):
        self._client = QdrantClient(location=url, api_key=api_key, timeout=timeout)
        # The in-memory emulation always searches exactly and warns about search params.
        self._search_params = (
            None if url == IN_MEMORY else models.SearchParams(exact=exact, hnsw_ef=hnsw_ef)
        )
        # A physical collection's model record never changes, so it is fetched once.
        self._info_cache: dict[str, CollectionInfo] = {}

    # --- collections -------------------------------------------------------------------

    def aliases(self) -> dict[str, str]:
        return {
            alias.alias_name: alias.collection_name for alias in self._client.get_aliases().aliases
        }

    def physical_collections(self) -> list[str]:
        names = (collection.name for collection in self._client.get_collections().collections)
        return sorted(name for name in names if logical_of(name) is not None)

    def _physical_info(self, physical_name: str) -> CollectionInfo | None:
        cached = self._info_cache.get(physical_name)
        if cached is not None:
            return cached
        if logical_of(physical_name) is None or not self._client.collection_exists(physical_name):
            return None
        metadata = self._client.get_collection(physical_name).config.metadata or {}
        if "model" not in metadata or "dimension" not in metadata:
            raise VectorStoreError(
                f"collection {physical_name!r} has no model record; it was not created by Storyline"
            )
        info = CollectionInfo(physical_name, str(metadata["model"]), int(metadata["dimension"]))
        self._info_cache[physical_name] = info
        return info

    def _create_physical(
        self, logical: str, physical_name: str, dimension: int, model: str
    ) -> None:
        self._client.create_collection(
            physical_name,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            metadata={"model": model, "dimension": dimension},
        )
        with warnings.catch_warnings():
            # The in-memory emulation warns that indexes are no-ops there; a server uses them.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            for field_name, kind in PAYLOAD_INDEXES[logical].items():
                self._client.create_payload_index(
                    physical_name, field_name, _SERVER_INDEX_TYPES[kind], wait=True
                )

    def _set_alias(self, logical: str, physical_name: str) -> None:
        operations: list[models.CreateAliasOperation | models.DeleteAliasOperation] = []
        if logical in self.aliases():
            operations.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=logical))
            )
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=physical_name, alias_name=logical)
            )
        )
        # One request, so readers never see the alias missing between delete and create.
        self._client.update_collection_aliases(change_aliases_operations=operations)

    def _drop_physical(self, physical_name: str) -> None:
        self._client.delete_collection(physical_name)
        self._info_cache.pop(physical_name, None)

    # --- points ------------------------------------------------------------------------

    def _upsert(
        self, physical_name: str, points: Sequence[Point], vectors: list[list[float]]
    ) -> None:
        structs = [
            models.PointStruct(id=point.id, vector=vector, payload=dict(point.payload))
            for point, vector in zip(points, vectors, strict=True)
        ]
        self._client.upsert(physical_name, points=structs, wait=True)

    def _delete(self, physical_name: str, ids: list[str]) -> None:
        self._client.delete(
            physical_name, points_selector=models.PointIdsList(points=list(ids)), wait=True
        )

    def _retrieve(
        self, physical_name: str, ids: list[str], with_vectors: bool
    ) -> list[StoredPoint]:
        records = self._client.retrieve(
            physical_name, ids=ids, with_payload=True, with_vectors=with_vectors
        )
        return [_stored(record, with_vectors) for record in records]

    def _set_payload(self, physical_name: str, ids: list[str], payload: dict[str, Any]) -> None:
        self._client.set_payload(physical_name, payload=payload, points=list(ids), wait=True)

    def _search(
        self,
        physical_name: str,
        vector: list[float],
        limit: int,
        filter: SearchFilter | None,
        score_threshold: float | None,
    ) -> list[Hit]:
        response = self._client.query_points(
            physical_name,
            query=vector,
            query_filter=_server_filter(filter),
            search_params=self._search_params,
            limit=limit,
            with_payload=True,
            score_threshold=score_threshold,
        )
        return [Hit(str(found.id), found.score, found.payload or {}) for found in response.points]

    def _scroll(
        self,
        physical_name: str,
        filter: SearchFilter | None,
        limit: int,
        offset: str | None,
        with_vectors: bool,
    ) -> tuple[list[StoredPoint], str | None]:
        records, next_offset = self._client.scroll(
            physical_name,
            scroll_filter=_server_filter(filter),
            limit=limit,
            offset=offset,
            with_payload=True,
            with_vectors=with_vectors,
        )
        page = [_stored(record, with_vectors) for record in records]
        return page, None if next_offset is None else str(next_offset)

    def _count(self, physical_name: str, filter: SearchFilter | None) -> int:
        return self._client.count(
            physical_name, count_filter=_server_filter(filter), exact=True
        ).count

    def close(self) -> None:
        self._client.close()


def _stored(record: models.Record, with_vectors: bool) -> StoredPoint:
    vector = record.vector if with_vectors else None
    if vector is not None and not isinstance(vector, list):
        raise VectorStoreError(f"point {record.id} has named vectors; expected one plain vector")
    return StoredPoint(
        str(record.id), record.payload or {}, [float(x) for x in vector] if vector else None
    )


def _server_filter(search_filter: SearchFilter | None) -> models.Filter | None:
    conditions = search_filter.conditions() if search_filter else []
    if not conditions:
        return None
    return models.Filter(
        must=[
            models.FieldCondition(key=condition.key, match=models.MatchValue(value=condition.value))
            if isinstance(condition, MatchCondition)
            else models.FieldCondition(
                key=condition.key, range=models.Range(gte=condition.gte, lt=condition.lt)
            )
            for condition in conditions
        ]
    )
