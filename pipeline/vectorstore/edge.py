"""Embedded backend: Qdrant Edge shards in-process, one shard directory per physical collection.

Layout under the store root (``Settings().vectors_dir``)::

    store.lock              cross-process lock, held for the whole of every session
    collections.json        aliases and each physical collection's model and dimension
    shards/<physical>/      one Qdrant Edge shard

A shard may be open in one process at a time, so every operation runs inside a session:
lock -> open the shards it needs -> work -> flush -> close -> unlock. Single operations open
their own session (about 0.2 s per shard opened); wrap a batch in ``with store.session():`` to
pay that once. Aliases are a small JSON record here, as Edge has no aliases of its own.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as qe

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
)
from pipeline.vectorstore.locking import FileLock

DEFAULT_LOCK_TIMEOUT = 60.0
MANIFEST_NAME = "collections.json"
LOCK_NAME = "store.lock"

_EDGE_INDEX_TYPES = {
    IndexKind.KEYWORD: qe.PayloadSchemaType.Keyword,
    IndexKind.FLOAT: qe.PayloadSchemaType.Float,
}


@dataclass
class _Manifest:
    aliases: dict[str, str] = field(default_factory=dict)
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> _Manifest:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(aliases=data["aliases"], collections=data["collections"])

    def save(self, path: Path) -> None:
        # Write-then-rename so a crash leaves either the old or the new record, never half.
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)


class EdgeVectorStore(VectorStore):
    def __init__(
        self,
        root: Path,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        exact: bool = True,
        hnsw_ef: int | None = None,
    ):
        """``exact=False`` uses an HNSW graph where ``EdgeShard.optimize()`` has built one."""
        self.root = Path(root)
        self._lock = FileLock(self.root / LOCK_NAME, lock_timeout)
        self._search_params = qe.SearchParams(exact=exact, hnsw_ef=hnsw_ef)
        self._depth = 0
        self._manifest: _Manifest | None = None
        self._shards: dict[str, qe.EdgeShard] = {}
        self._dirty: set[str] = set()

    # --- sessions ------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[EdgeVectorStore]:
        """Hold the lock and keep opened shards open until the outermost session ends."""
        if self._depth == 0:
            self._lock.acquire()
            try:
                self._manifest = _Manifest.load(self._manifest_path)
            except BaseException:
                self._lock.release()
                raise
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                try:
                    self._close_shards()
                finally:
                    self._manifest = None
                    self._lock.release()

    def _close_shards(self) -> None:
        shards, self._shards = self._shards, {}
        dirty, self._dirty = self._dirty, set()
        # Every shard is closed even when a flush fails; the first failure then propagates.
        with ExitStack() as closing:
            for shard in shards.values():
                closing.callback(shard.close)
            for name in dirty & shards.keys():
                shards[name].flush()

    @property
    def _manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def _current(self) -> _Manifest:
        if self._manifest is None:
            raise RuntimeError("the Edge store is used outside a session")
        return self._manifest

    def _shard_path(self, physical_name: str) -> Path:
        return self.root / "shards" / physical_name

    def _shard(self, physical_name: str, *, writing: bool = False) -> qe.EdgeShard:
        self._current()
        shard = self._shards.get(physical_name)
        if shard is None:
            shard = qe.EdgeShard.load(str(self._shard_path(physical_name)))
            self._shards[physical_name] = shard
        if writing:
            self._dirty.add(physical_name)
        return shard

    # --- collections -------------------------------------------------------------------

    def aliases(self) -> dict[str, str]:
        with self.session():
            return dict(self._current().aliases)

    def physical_collections(self) -> list[str]:
        with self.session():
            return sorted(self._current().collections)

    def _physical_info(self, physical_name: str) -> CollectionInfo | None:
        record = self._current().collections.get(physical_name)
        if record is None:
            return None
        return CollectionInfo(physical_name, record["model"], record["dimension"])

    def _create_physical(
        self, logical: str, physical_name: str, dimension: int, model: str
    ) -> None:
        manifest = self._current()
        path = self._shard_path(physical_name)
        if path.exists():
            # Unrecorded, so left by a crash between creating the shard and saving the record.
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)
        )
        shard = qe.EdgeShard.create(str(path), config)
        self._shards[physical_name] = shard
        for field_name, kind in PAYLOAD_INDEXES[logical].items():
            shard.update(qe.UpdateOperation.create_field_index(field_name, _EDGE_INDEX_TYPES[kind]))
        shard.flush()
        manifest.collections[physical_name] = {"model": model, "dimension": dimension}
        manifest.save(self._manifest_path)

    def _set_alias(self, logical: str, physical_name: str) -> None:
        manifest = self._current()
        manifest.aliases[logical] = physical_name
        manifest.save(self._manifest_path)

    def _drop_physical(self, physical_name: str) -> None:
        manifest = self._current()
        shard = self._shards.pop(physical_name, None)
        self._dirty.discard(physical_name)
        if shard is not None:
            shard.close()
        del manifest.collections[physical_name]
        manifest.save(self._manifest_path)
        shutil.rmtree(self._shard_path(physical_name))

    # --- points ------------------------------------------------------------------------

    def _upsert(
        self, physical_name: str, points: Sequence[Point], vectors: list[list[float]]
    ) -> None:
        edge_points = [
            qe.Point(point.id, vector, dict(point.payload))
            for point, vector in zip(points, vectors, strict=True)
        ]
        self._shard(physical_name, writing=True).update(
            qe.UpdateOperation.upsert_points(edge_points)
        )

    def _delete(self, physical_name: str, ids: list[str]) -> None:
        self._shard(physical_name, writing=True).update(qe.UpdateOperation.delete_points(ids))

    def _retrieve(
        self, physical_name: str, ids: list[str], with_vectors: bool
    ) -> list[StoredPoint]:
        records = self._shard(physical_name).retrieve(ids, True, with_vectors)
        return [_stored(record, with_vectors) for record in records]

    def _set_payload(self, physical_name: str, ids: list[str], payload: dict[str, Any]) -> None:
        self._shard(physical_name, writing=True).update(
            qe.UpdateOperation.set_payload(ids, payload)
        )

    def _search(
        self,
        physical_name: str,
        vector: list[float],
        limit: int,
        filter: SearchFilter | None,
        score_threshold: float | None,
    ) -> list[Hit]:
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(vector),
            filter=_edge_filter(filter),
            with_payload=True,
            score_threshold=score_threshold,
            params=self._search_params,
        )
        return [
            Hit(str(found.id), found.score, found.payload or {})
            for found in self._shard(physical_name).query(request)
        ]

    def _scroll(
        self,
        physical_name: str,
        filter: SearchFilter | None,
        limit: int,
        offset: str | None,
        with_vectors: bool,
    ) -> tuple[list[StoredPoint], str | None]:
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=_edge_filter(filter),
            with_payload=True,
            with_vector=with_vectors,
        )
        records, next_offset = self._shard(physical_name).scroll(request)
        page = [_stored(record, with_vectors) for record in records]
        return page, None if next_offset is None else str(next_offset)

    def _count(self, physical_name: str, filter: SearchFilter | None) -> int:
        return self._shard(physical_name).count(
            qe.CountRequest(exact=True, filter=_edge_filter(filter))
        )


def _stored(record: qe.Record, with_vectors: bool) -> StoredPoint:
    vector = (
        [float(x) for x in record.vector] if with_vectors and record.vector is not None else None
    )
    return StoredPoint(str(record.id), record.payload or {}, vector)


def _edge_filter(search_filter: SearchFilter | None) -> qe.Filter | None:
    conditions = search_filter.conditions() if search_filter else []
    if not conditions:
        return None
    return qe.Filter(
        must=[
            qe.FieldCondition(condition.key, match=qe.MatchValue(condition.value))
            if isinstance(condition, MatchCondition)
            else qe.FieldCondition(
                condition.key, range=qe.RangeFloat(gte=condition.gte, lt=condition.lt)
            )
            for condition in conditions
        ]
    )
