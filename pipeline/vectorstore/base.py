"""The vector store interface shared by the embedded (Qdrant Edge) and server (Qdrant) backends.

Two logical collections exist: ``articles`` and ``stories``. Each logical name is an alias of
a versioned physical collection (``articles__v1``, ``articles__v2``, ...) that records the
embedding model and dimension it was built with, so vectors of two models never mix:
``reindex`` builds a new version with `create_versioned` and then `switch_alias`.

Grouping search hits per story is done client-side (Qdrant Edge has no group-by): search with
a larger ``limit`` and group the hits by their ``story_id`` payload.
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np

from pipeline.records import Article, Story

ARTICLES = "articles"
STORIES = "stories"
LOGICAL_COLLECTIONS = (ARTICLES, STORIES)

EXCERPT_CHARS = 300
DEFAULT_PAGE_SIZE = 256

_VERSIONED_NAME = re.compile(r"^(?P<logical>[a-z_]+?)__v(?P<version>\d+)$")


class IndexKind(StrEnum):
    KEYWORD = "keyword"
    FLOAT = "float"


# Payload fields that filters use; both backends create these indexes with each collection.
PAYLOAD_INDEXES: dict[str, dict[str, IndexKind]] = {
    ARTICLES: {
        "story_id": IndexKind.KEYWORD,
        "source": IndexKind.KEYWORD,
        "language": IndexKind.KEYWORD,
        "published_at_ts": IndexKind.FLOAT,
    },
    STORIES: {
        "state": IndexKind.KEYWORD,
        "last_seen_ts": IndexKind.FLOAT,
    },
}


class VectorStoreError(Exception):
    """A vector store operation that cannot be carried out as asked."""


class UnknownCollectionError(VectorStoreError):
    pass


class EmbeddingModelMismatchError(VectorStoreError):
    """The collection was built with another embedding model or dimension."""


@dataclass(frozen=True)
class CollectionInfo:
    physical_name: str
    model: str
    dimension: int


@dataclass(frozen=True)
class Point:
    id: str  # the catalog's deterministic UUID, so re-upserting replaces instead of duplicating
    vector: Sequence[float] | np.ndarray
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPoint:
    id: str
    payload: dict[str, Any]
    vector: list[float] | None = None


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class MatchCondition:
    key: str
    value: str


@dataclass(frozen=True)
class RangeCondition:
    key: str
    gte: float | None = None
    lt: float | None = None


Condition = MatchCondition | RangeCondition


@dataclass(frozen=True)
class SearchFilter:
    """All given fields must match. Time bounds: ``*_after`` inclusive, ``*_before`` exclusive."""

    story_id: str | None = None
    source: str | None = None
    language: str | None = None
    state: str | None = None
    published_after: datetime | None = None
    published_before: datetime | None = None
    last_seen_after: datetime | None = None

    def conditions(self) -> list[Condition]:
        matches = [
            MatchCondition(key, value)
            for key, value in (
                ("story_id", self.story_id),
                ("source", self.source),
                ("language", self.language),
                ("state", self.state),
            )
            if value is not None
        ]
        ranges: list[Condition] = []
        if self.published_after is not None or self.published_before is not None:
            ranges.append(
                RangeCondition(
                    "published_at_ts",
                    gte=epoch_seconds(self.published_after) if self.published_after else None,
                    lt=epoch_seconds(self.published_before) if self.published_before else None,
                )
            )
        if self.last_seen_after is not None:
            ranges.append(RangeCondition("last_seen_ts", gte=epoch_seconds(self.last_seen_after)))
        return [*matches, *ranges]


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the catalog stores UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def epoch_seconds(moment: datetime) -> float:
    return as_utc(moment).timestamp()


def article_payload(
    article: Article, *, story_id: str | None, excerpt_chars: int = EXCERPT_CHARS
) -> dict[str, Any]:
    """The payload of an ``articles`` point; dates as ISO text plus epoch seconds for ranges."""
    published = as_utc(article.published_at)
    return {
        "id": article.id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "title": article.title,
        "source": article.source,
        "language": article.language,
        "published_at": published.isoformat(),
        "published_at_ts": published.timestamp(),
        "story_id": story_id,
        "syndicated_of": article.syndicated_of,
        "body_source": article.body_source,
        "excerpt": article.text[:excerpt_chars],
    }


def story_payload(story: Story, *, independent_sources: int) -> dict[str, Any]:
    """The payload of a ``stories`` point (its vector is the story centroid)."""
    first_seen, last_seen = as_utc(story.first_seen), as_utc(story.last_seen)
    return {
        "label": story.label,
        "first_seen": first_seen.isoformat(),
        "first_seen_ts": first_seen.timestamp(),
        "last_seen": last_seen.isoformat(),
        "last_seen_ts": last_seen.timestamp(),
        "size": story.size,
        "sources": sorted(story.sources),
        "independent_sources": independent_sources,
        "state": story.state,
    }


def as_float_list(vector: Sequence[float] | np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()


def versioned_name(logical: str, version: int) -> str:
    return f"{logical}__v{version}"


def logical_of(physical_name: str) -> tuple[str, int] | None:
    """``articles__v3`` -> ("articles", 3); None for a name that is not versioned."""
    found = _VERSIONED_NAME.match(physical_name)
    return (found["logical"], int(found["version"])) if found else None


def next_versioned_name(logical: str, existing_physical: Sequence[str]) -> str:
    versions = [
        parsed[1]
        for parsed in map(logical_of, existing_physical)
        if parsed is not None and parsed[0] == logical
    ]
    return versioned_name(logical, max(versions, default=0) + 1)


class VectorStore(ABC):
    """Collections are addressed by logical name (alias) or by physical versioned name.

    Public methods validate and resolve names here; backends implement the ``_``-prefixed
    primitives on physical collections. A store object is not thread-safe.
    """

    # --- backend primitives ----------------------------------------------------------------

    @abstractmethod
    def aliases(self) -> dict[str, str]:
        """Logical name -> physical collection."""

    @abstractmethod
    def physical_collections(self) -> list[str]:
        """Every physical (versioned) collection, aliased or not."""

    @abstractmethod
    def _physical_info(self, physical_name: str) -> CollectionInfo | None: ...

    @abstractmethod
    def _create_physical(
        self, logical: str, physical_name: str, dimension: int, model: str
    ) -> None:
        """Create an empty collection with ``logical``'s payload indexes and a model record."""

    @abstractmethod
    def _set_alias(self, logical: str, physical_name: str) -> None: ...

    @abstractmethod
    def _drop_physical(self, physical_name: str) -> None: ...

    @abstractmethod
    def _upsert(
        self, physical_name: str, points: Sequence[Point], vectors: list[list[float]]
    ) -> None: ...

    @abstractmethod
    def _delete(self, physical_name: str, ids: list[str]) -> None: ...

    @abstractmethod
    def _retrieve(
        self, physical_name: str, ids: list[str], with_vectors: bool
    ) -> list[StoredPoint]: ...

    @abstractmethod
    def _set_payload(self, physical_name: str, ids: list[str], payload: dict[str, Any]) -> None: ...

    @abstractmethod
    def _search(
        self,
        physical_name: str,
        vector: list[float],
        limit: int,
        filter: SearchFilter | None,
        score_threshold: float | None,
    ) -> list[Hit]: ...

    @abstractmethod
    def _scroll(
        self,
        physical_name: str,
        filter: SearchFilter | None,
        limit: int,
        offset: str | None,
        with_vectors: bool,
    ) -> tuple[list[StoredPoint], str | None]: ...

    @abstractmethod
    def _count(self, physical_name: str, filter: SearchFilter | None) -> int: ...

    # --- collections -------------------------------------------------------------------

    def describe(self, collection: str) -> CollectionInfo | None:
        """Physical name, model and dimension behind a name; None when it does not exist."""
        with self.session():
            return self._physical_info(self.aliases().get(collection, collection))

    def create_versioned(self, logical: str, dimension: int, model: str) -> str:
        """Create the next version of a logical collection, without switching its alias."""
        _check_logical(logical)
        with self.session():
            physical_name = next_versioned_name(logical, self.physical_collections())
            self._create_physical(logical, physical_name, dimension, model)
        return physical_name

    def switch_alias(self, logical: str, physical_name: str) -> None:
        """Point ``logical`` at ``physical_name`` in one step (creating the alias if needed)."""
        _check_logical(logical)
        parsed = logical_of(physical_name)
        if parsed is None or parsed[0] != logical:
            raise VectorStoreError(f"{physical_name!r} is not a version of {logical!r}")
        with self.session():
            if self._physical_info(physical_name) is None:
                raise UnknownCollectionError(f"no physical collection {physical_name!r}")
            self._set_alias(logical, physical_name)

    def drop_collection(self, physical_name: str) -> None:
        """Delete a physical collection (e.g. the old version after a reindex)."""
        with self.session():
            if physical_name in self.aliases().values():
                raise VectorStoreError(f"{physical_name!r} is in use by an alias; switch it first")
            if self._physical_info(physical_name) is None:
                raise UnknownCollectionError(f"no physical collection {physical_name!r}")
            self._drop_physical(physical_name)

    def ensure_collections(self, dimension: int, model: str) -> None:
        """Create missing collections; refuse to reuse ones built with another model/dimension."""
        with self.session():
            for logical in LOGICAL_COLLECTIONS:
                info = self.describe(logical)
                if info is None:
                    self.switch_alias(logical, self.create_versioned(logical, dimension, model))
                elif (info.model, info.dimension) != (model, dimension):
                    raise EmbeddingModelMismatchError(
                        f"collection {logical!r} ({info.physical_name}) holds vectors of model "
                        f"{info.model!r} ({info.dimension}-d), not {model!r} ({dimension}-d); "
                        "rebuild it with `storyline reindex` instead of mixing vectors"
                    )

    def _require(self, collection: str) -> CollectionInfo:
        info = self.describe(collection)
        if info is None:
            raise UnknownCollectionError(f"no collection or alias {collection!r}")
        return info

    # --- points ------------------------------------------------------------------------

    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        """Insert or replace points by id (idempotent)."""
        if not points:
            return
        with self.session():
            info = self._require(collection)
            vectors = [_checked_vector(info, point.vector, f"point {point.id}") for point in points]
            normalised = [
                Point(normalise_id(point.id), point.vector, point.payload) for point in points
            ]
            self._upsert(info.physical_name, normalised, vectors)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self.session():
            self._delete(self._require(collection).physical_name, [normalise_id(i) for i in ids])

    def get(
        self, collection: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> list[StoredPoint]:
        """The stored points among ``ids``, in the order asked; missing ids are left out."""
        wanted = [normalise_id(i) for i in ids]
        if not wanted:
            return []
        with self.session():
            found = self._retrieve(self._require(collection).physical_name, wanted, with_vectors)
        by_id = {point.id: point for point in found}
        return [by_id[i] for i in wanted if i in by_id]

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set (merge) payload keys on stored points; any id that is not stored is an error."""
        wanted = [normalise_id(i) for i in ids]
        if not wanted:
            return
        with self.session():
            physical_name = self._require(collection).physical_name
            # Checked here because the backends disagree (Edge: bare Exception, server: KeyError).
            stored = {point.id for point in self._retrieve(physical_name, wanted, False)}
            missing = [i for i in wanted if i not in stored]
            if missing:
                raise VectorStoreError(
                    f"cannot set payload on {len(missing)} point(s) not in {collection!r}, "
                    f"first {missing[0]}"
                )
            self._set_payload(physical_name, wanted, payload)

    def search(
        self,
        collection: str,
        vector: Sequence[float] | np.ndarray,
        limit: int,
        filter: SearchFilter | None = None,
        *,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """Nearest points by cosine similarity, best first."""
        with self.session():
            info = self._require(collection)
            query = _checked_vector(info, vector, "query vector")
            return self._search(info.physical_name, query, limit, filter, score_threshold)

    def scroll(
        self,
        collection: str,
        filter: SearchFilter | None = None,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: str | None = None,
        with_vectors: bool = False,
    ) -> tuple[list[StoredPoint], str | None]:
        """One page of points in id order and the offset of the next page (None at the end)."""
        with self.session():
            physical_name = self._require(collection).physical_name
            return self._scroll(physical_name, filter, limit, offset, with_vectors)

    def count(self, collection: str, filter: SearchFilter | None = None) -> int:
        with self.session():
            return self._count(self._require(collection).physical_name, filter)

    def iterate(
        self,
        collection: str,
        filter: SearchFilter | None = None,
        *,
        with_vectors: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[StoredPoint]:
        """Every point (matching ``filter``); holds one session until the iterator is exhausted."""
        with self.session():
            offset: str | None = None
            while True:
                points, offset = self.scroll(
                    collection, filter, limit=page_size, offset=offset, with_vectors=with_vectors
                )
                yield from points
                if offset is None:
                    return

    # --- lifetime ------------------------------------------------------------------------

    def session(self) -> AbstractContextManager[VectorStore]:
        """Hold the store open for a batch of operations (the server backend needs nothing)."""
        return nullcontext(self)

    def close(self) -> None:
        """Release resources; the store must not be used afterwards."""


def normalise_id(point_id: str) -> str:
    """Canonical UUID text, so ids compare equal whatever the backend returns."""
    try:
        return str(uuid.UUID(str(point_id)))
    except ValueError:
        raise VectorStoreError(f"point id {point_id!r} is not a UUID") from None


def _check_logical(logical: str) -> None:
    if logical not in LOGICAL_COLLECTIONS:
        raise UnknownCollectionError(
            f"no logical collection {logical!r} (expected one of {', '.join(LOGICAL_COLLECTIONS)})"
        )


def _checked_vector(
    info: CollectionInfo, vector: Sequence[float] | np.ndarray, what: str
) -> list[float]:
    values = as_float_list(vector)
    if len(values) != info.dimension:
        raise EmbeddingModelMismatchError(
            f"{what} has {len(values)} dimensions, but {info.physical_name} holds "
            f"{info.dimension}-d vectors of {info.model!r}"
        )
    return values
