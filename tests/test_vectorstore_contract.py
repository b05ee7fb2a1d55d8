"""One contract for both vector store backends: embedded Qdrant Edge and Qdrant (server API,
run against qdrant-client's in-memory mode)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from pipeline.records import Article, Story, article_id
from pipeline.settings import Settings
from pipeline.vectorstore import (
    ARTICLES,
    STORIES,
    EmbeddingModelMismatchError,
    Point,
    SearchFilter,
    UnknownCollectionError,
    VectorStore,
    VectorStoreError,
    article_payload,
    open_store,
    story_payload,
)
from pipeline.vectorstore.edge import EdgeVectorStore
from pipeline.vectorstore.server import ServerVectorStore

DIM = 16
MODEL = "test-model"
START = datetime(2025, 5, 19, 8, 0, tzinfo=UTC)


def make_store(backend: str, root: Path) -> VectorStore:
    if backend == "edge":
        return EdgeVectorStore(root, lock_timeout=30)
    return ServerVectorStore(":memory:")


@pytest.fixture(params=["edge", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    opened = make_store(request.param, tmp_path / "vectors")
    opened.ensure_collections(DIM, MODEL)
    yield opened
    opened.close()


def unit_vectors(count: int, seed: int = 7) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_article(index: int, *, source: str, language: str, published_at: datetime) -> Article:
    url = f"https://{source}.example/news/{index}"
    return Article(
        id=article_id(url),
        url=url,
        canonical_url=url,
        title=f"Headline {index}",
        text=f"Body of article {index}. " * 40,
        source=source,
        language=language,
        published_at=published_at,
    )


@pytest.fixture
def corpus(store: VectorStore) -> list[Point]:
    """Twelve articles over three stories, two sources, two languages and twelve hours."""
    vectors = unit_vectors(12)
    points = []
    for index in range(12):
        article = make_article(
            index,
            source=("alpha", "beta")[index % 2],
            language=("en", "de")[index % 3 == 0],
            published_at=START + timedelta(hours=index),
        )
        payload = article_payload(article, story_id=f"story-{index % 3}")
        points.append(Point(article.id, vectors[index], payload))
    store.upsert(ARTICLES, points)
    return points


def test_ensure_collections_aliases_first_versions_and_is_idempotent(store: VectorStore) -> None:
    store.ensure_collections(DIM, MODEL)

    assert store.aliases() == {ARTICLES: "articles__v1", STORIES: "stories__v1"}
    assert store.physical_collections() == ["articles__v1", "stories__v1"]
    info = store.describe(ARTICLES)
    assert info is not None
    assert (info.physical_name, info.model, info.dimension) == ("articles__v1", MODEL, DIM)


def test_re_upserting_the_same_points_keeps_the_count(
    store: VectorStore, corpus: list[Point]
) -> None:
    store.upsert(ARTICLES, corpus)
    store.upsert(ARTICLES, corpus[:5])

    assert store.count(ARTICLES) == len(corpus)


def test_upserting_a_changed_point_replaces_vector_and_payload(
    store: VectorStore, corpus: list[Point]
) -> None:
    changed_vector = unit_vectors(1, seed=99)[0]
    changed = Point(corpus[0].id, changed_vector, {**corpus[0].payload, "title": "Corrected"})

    store.upsert(ARTICLES, [changed])

    assert store.count(ARTICLES) == len(corpus)
    (stored,) = store.get(ARTICLES, [changed.id], with_vectors=True)
    assert stored.payload["title"] == "Corrected"
    assert stored.vector is not None
    np.testing.assert_allclose(stored.vector, changed_vector, atol=1e-5)
    best = store.search(ARTICLES, changed_vector, limit=1)[0]
    assert best.id == changed.id
    assert best.score == pytest.approx(1.0, abs=1e-4)


def test_search_ranks_by_cosine_similarity(store: VectorStore, corpus: list[Point]) -> None:
    query = np.asarray(corpus[4].vector)
    expected_order = sorted(
        corpus, key=lambda point: float(np.dot(point.vector, query)), reverse=True
    )

    hits = store.search(ARTICLES, query, limit=5)

    assert [hit.id for hit in hits] == [point.id for point in expected_order[:5]]
    assert hits[0].payload["title"] == "Headline 4"
    expected_scores = [float(np.dot(point.vector, query)) for point in expected_order[:5]]
    np.testing.assert_allclose([hit.score for hit in hits], expected_scores, atol=1e-4)


def test_score_threshold_drops_weaker_hits(store: VectorStore, corpus: list[Point]) -> None:
    query = np.asarray(corpus[4].vector)
    threshold = 0.2
    expected = {point.id for point in corpus if float(np.dot(point.vector, query)) >= threshold}

    hits = store.search(ARTICLES, query, limit=len(corpus), score_threshold=threshold)

    assert {hit.id for hit in hits} == expected
    assert len(expected) < len(corpus)


FILTERS = {
    "story": SearchFilter(story_id="story-1"),
    "source": SearchFilter(source="beta"),
    "language": SearchFilter(language="de"),
    "published window": SearchFilter(
        published_after=START + timedelta(hours=3), published_before=START + timedelta(hours=7)
    ),
    "naive datetimes are UTC": SearchFilter(published_after=datetime(2025, 5, 19, 17, 0)),
    "combined": SearchFilter(
        source="alpha", language="en", published_before=START + timedelta(hours=9)
    ),
}


def matches(payload: dict, search_filter: SearchFilter) -> bool:
    published = datetime.fromisoformat(payload["published_at"])
    after = search_filter.published_after
    before = search_filter.published_before
    return (
        search_filter.story_id in (None, payload["story_id"])
        and search_filter.source in (None, payload["source"])
        and search_filter.language in (None, payload["language"])
        and (after is None or published >= after.replace(tzinfo=after.tzinfo or UTC))
        and (before is None or published < before.replace(tzinfo=before.tzinfo or UTC))
    )


@pytest.mark.parametrize("name", FILTERS)
def test_filters_select_exactly_the_matching_points(
    store: VectorStore, corpus: list[Point], name: str
) -> None:
    search_filter = FILTERS[name]
    expected = {point.id for point in corpus if matches(point.payload, search_filter)}
    assert 0 < len(expected) < len(corpus)

    hits = store.search(ARTICLES, corpus[0].vector, limit=len(corpus), filter=search_filter)

    assert {hit.id for hit in hits} == expected
    assert store.count(ARTICLES, search_filter) == len(expected)
    assert {point.id for point in store.iterate(ARTICLES, search_filter)} == expected


def test_story_state_and_last_seen_filters(store: VectorStore) -> None:
    vectors = unit_vectors(3, seed=3)
    stories = [
        Story(
            id=str(uuid.uuid4()),
            label=f"Story {index}",
            first_seen=START,
            last_seen=START + timedelta(days=index),
            size=index + 1,
            sources={"alpha", "beta"},
            state=("active", "active", "closed")[index],
        )
        for index in range(3)
    ]
    store.upsert(
        STORIES,
        [
            Point(story.id, vectors[index], story_payload(story, independent_sources=2))
            for index, story in enumerate(stories)
        ],
    )

    active = store.search(STORIES, vectors[0], limit=10, filter=SearchFilter(state="active"))
    recent = SearchFilter(state="active", last_seen_after=START + timedelta(hours=12))

    assert {hit.id for hit in active} == {stories[0].id, stories[1].id}
    assert [point.id for point in store.iterate(STORIES, recent)] == [stories[1].id]
    assert active[0].payload["sources"] == ["alpha", "beta"]


def test_scroll_pages_through_every_point_once(store: VectorStore, corpus: list[Point]) -> None:
    seen: list[str] = []
    offset: str | None = None
    pages = 0
    while True:
        page, offset = store.scroll(ARTICLES, limit=5, offset=offset)
        seen.extend(point.id for point in page)
        pages += 1
        if offset is None:
            break

    assert pages == 3
    assert sorted(seen) == sorted(point.id for point in corpus)
    assert len(list(store.iterate(ARTICLES, page_size=4, with_vectors=True))) == len(corpus)


def test_get_keeps_the_asked_order_and_skips_missing_ids(
    store: VectorStore, corpus: list[Point]
) -> None:
    missing = str(uuid.uuid4())
    wanted = [corpus[5].id, missing, corpus[2].id.upper()]

    found = store.get(ARTICLES, wanted)

    assert [point.id for point in found] == [corpus[5].id, corpus[2].id]
    assert found[0].vector is None
    assert found[0].payload == corpus[5].payload


def test_delete_removes_only_the_given_points(store: VectorStore, corpus: list[Point]) -> None:
    store.delete(ARTICLES, [corpus[0].id, corpus[1].id, str(uuid.uuid4())])

    assert store.count(ARTICLES) == len(corpus) - 2
    assert store.get(ARTICLES, [corpus[0].id, corpus[2].id])[0].id == corpus[2].id


def test_set_payload_merges_keys(store: VectorStore, corpus: list[Point]) -> None:
    store.set_payload(ARTICLES, [corpus[3].id, corpus[4].id], {"story_id": "story-merged"})

    merged = store.get(ARTICLES, [corpus[3].id, corpus[4].id])
    assert [point.payload["story_id"] for point in merged] == ["story-merged"] * 2
    assert merged[0].payload["title"] == corpus[3].payload["title"]
    assert store.count(ARTICLES, SearchFilter(story_id="story-merged")) == 2


def test_set_payload_on_a_missing_point_is_refused(store: VectorStore, corpus: list[Point]) -> None:
    missing = str(uuid.uuid4())

    with pytest.raises(VectorStoreError, match=missing):
        store.set_payload(ARTICLES, [corpus[0].id, missing], {"story_id": "story-x"})

    assert store.count(ARTICLES, SearchFilter(story_id="story-x")) == 0


def test_reindex_builds_a_new_version_and_switches_the_alias(
    store: VectorStore, corpus: list[Point]
) -> None:
    new_dim, new_model = DIM * 2, "other-model"
    rebuilt = store.create_versioned(ARTICLES, new_dim, new_model)
    wide = np.hstack([unit_vectors(3, seed=11), unit_vectors(3, seed=12)]) / np.sqrt(2)
    store.upsert(
        rebuilt, [Point(point.id, wide[i], point.payload) for i, point in enumerate(corpus[:3])]
    )

    assert rebuilt == "articles__v2"
    assert store.count(ARTICLES) == len(corpus)  # the alias still serves the old version

    store.switch_alias(ARTICLES, rebuilt)

    info = store.describe(ARTICLES)
    assert info is not None
    assert (info.physical_name, info.model, info.dimension) == (rebuilt, new_model, new_dim)
    assert store.count(ARTICLES) == 3
    with pytest.raises(VectorStoreError, match="in use by an alias"):
        store.drop_collection(rebuilt)
    store.drop_collection("articles__v1")
    assert store.describe("articles__v1") is None
    assert store.physical_collections() == ["articles__v2", "stories__v1"]


def test_switch_alias_refuses_a_version_of_another_collection(store: VectorStore) -> None:
    with pytest.raises(VectorStoreError, match="not a version of"):
        store.switch_alias(ARTICLES, "stories__v1")
    with pytest.raises(UnknownCollectionError):
        store.switch_alias(ARTICLES, "articles__v9")


def test_a_different_model_or_dimension_is_refused(store: VectorStore, corpus: list[Point]) -> None:
    with pytest.raises(EmbeddingModelMismatchError, match="reindex"):
        store.ensure_collections(DIM, "another-model")
    with pytest.raises(EmbeddingModelMismatchError):
        store.ensure_collections(DIM * 2, MODEL)
    with pytest.raises(EmbeddingModelMismatchError, match="dimensions"):
        store.upsert(ARTICLES, [Point(str(uuid.uuid4()), np.ones(DIM + 1), {})])
    with pytest.raises(EmbeddingModelMismatchError, match="dimensions"):
        store.search(ARTICLES, np.ones(DIM * 2), limit=1)
    assert store.count(ARTICLES) == len(corpus)


def test_unknown_collections_and_bad_ids_are_errors(store: VectorStore) -> None:
    with pytest.raises(UnknownCollectionError):
        store.count("comments")
    with pytest.raises(UnknownCollectionError):
        store.create_versioned("comments", DIM, MODEL)
    with pytest.raises(VectorStoreError, match="not a UUID"):
        store.upsert(ARTICLES, [Point("article-1", np.ones(DIM), {})])


def test_article_payload_keeps_iso_and_epoch_dates_in_utc() -> None:
    local = datetime(2025, 5, 19, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    article = make_article(1, source="alpha", language="en", published_at=local)

    payload = article_payload(article, story_id=None, excerpt_chars=20)

    assert payload["published_at"] == "2025-05-19T10:30:00+00:00"
    assert payload["published_at_ts"] == datetime(2025, 5, 19, 10, 30, tzinfo=UTC).timestamp()
    assert payload["excerpt"] == article.text[:20]
    assert payload["id"] == article.id
    assert payload["story_id"] is None


def test_edge_store_persists_across_reopen(tmp_path: Path) -> None:
    root = tmp_path / "vectors"
    first = EdgeVectorStore(root)
    first.ensure_collections(DIM, MODEL)
    vectors = unit_vectors(4)
    points = [Point(str(uuid.uuid4()), vectors[i], {"story_id": f"s{i}"}) for i in range(4)]
    first.upsert(ARTICLES, points)
    first.delete(ARTICLES, [points[3].id])

    reopened = EdgeVectorStore(root)

    assert reopened.aliases() == {ARTICLES: "articles__v1", STORIES: "stories__v1"}
    assert reopened.count(ARTICLES) == 3
    assert reopened.get(ARTICLES, [points[2].id])[0].payload == {"story_id": "s2"}
    with pytest.raises(EmbeddingModelMismatchError):
        reopened.ensure_collections(DIM, "another-model")


def test_edge_session_batches_operations_and_releases_the_lock(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "vectors", lock_timeout=0.2)
    store.ensure_collections(DIM, MODEL)
    point = Point(str(uuid.uuid4()), unit_vectors(1)[0], {"story_id": "s"})

    with store.session():
        store.upsert(ARTICLES, [point])
        assert store.count(ARTICLES) == 1
        with pytest.raises(TimeoutError):
            EdgeVectorStore(tmp_path / "vectors", lock_timeout=0.2).count(ARTICLES)

    assert EdgeVectorStore(tmp_path / "vectors", lock_timeout=0.2).count(ARTICLES) == 1


def test_open_store_defaults_to_edge_under_home(tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path))

    assert isinstance(store, EdgeVectorStore)
    assert store.root == tmp_path / "vectors"
