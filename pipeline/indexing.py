"""Index stage: embed extracted articles, store their vectors, and join them to stories.

Articles are taken in the order their feed entries arrived (the catalog's ``STREAM_ORDER``),
as a stream. For each batch: embed (outside any lock), cluster one article at a time, write
the points to the vector store, then record the stories and each article's story in the
catalog in one transaction. The catalog is written last, so an article is ``indexed`` only
once its point is stored; a killed run repeats the batch, which gives the same story ids
(they derive from article ids) and idempotent upserts.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from pipeline.catalog import Catalog
from pipeline.clustering import (
    Assignment,
    ClusterConfig,
    ClustererState,
    ClusterItem,
    JoinRule,
    MergeRecord,
    NumpyCentroidIndex,
    OnlineClusterer,
    SplitRecord,
    StoryMember,
    StoryState,
    StoryStatus,
)
from pipeline.embedding import Cores, TextEncoder, embedder_for, embedding_text
from pipeline.records import Article, Story
from pipeline.settings import Settings
from pipeline.vectorstore import (
    ARTICLES,
    STORIES,
    Point,
    VectorStore,
    article_payload,
    open_store,
    story_payload,
)


@dataclass
class IndexSummary:
    articles: int = 0
    indexed: int = 0
    stories_created: int = 0
    stories_joined: int = 0
    syndicated_joined: int = 0
    merges: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "articles": self.articles,
            "indexed": self.indexed,
            "stories_created": self.stories_created,
            "stories_joined": self.stories_joined,
            "syndicated_joined": self.syndicated_joined,
            "merges": self.merges,
        }


# -- clusterer state <-> catalog rows ------------------------------------------------------------
def members_to_json(members: list[StoryMember] | None) -> str | None:
    if members is None:
        return None
    return json.dumps([
        {
            "id": member.article_id,
            # float32 bytes: the embedder's own precision, so a resumed story splits identically
            "vector": None if member.vector is None else base64.b64encode(member.vector.tobytes()).decode(),
            "title": member.title,
            "terms": sorted(member.terms),
            "source": member.source,
            "published_at": member.published_at.isoformat() if member.published_at else None,
            "syndicated_of": member.syndicated_of,
        }
        for member in members
    ])


def members_from_json(text: str | None) -> list[StoryMember] | None:
    if text is None:
        return None
    return [
        StoryMember(
            article_id=member["id"],
            vector=None if member["vector"] is None
            else np.frombuffer(base64.b64decode(member["vector"]), dtype=np.float32).copy(),
            title=member["title"],
            terms=frozenset(member["terms"]),
            source=member["source"],
            published_at=datetime.fromisoformat(member["published_at"]) if member["published_at"] else None,
            syndicated_of=member["syndicated_of"],
        )
        for member in json.loads(text)
    ]


def story_from_row(row) -> StoryState:
    merge = split = None
    if row.merged_into:
        merge = MergeRecord(merged_into=row.merged_into, at=row.merged_at, score=row.merge_score or 0.0)
    if row.split_from:
        split = SplitRecord(split_from=row.split_from, at=row.split_at, score=row.split_score or 0.0)
    return StoryState(
        id=row.id,
        centroid_sum=np.frombuffer(row.centroid_sum, dtype=np.float64).copy(),
        count=row.vector_count,
        label=row.label,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        size=row.size,
        sources=set(json.loads(row.sources)),
        independent_sources=set(json.loads(row.independent_sources)),
        state=StoryStatus(row.state),
        terms=Counter(json.loads(row.terms)),
        merge=merge,
        split=split,
        members=members_from_json(row.members),
    )


def story_to_row(story: StoryState) -> dict[str, object]:
    return {
        "id": story.id,
        "label": story.label,
        "centroid_sum": np.asarray(story.centroid_sum, dtype=np.float64).tobytes(),
        "vector_count": story.count,
        "size": story.size,
        "first_seen": story.first_seen,
        "last_seen": story.last_seen,
        "sources": json.dumps(sorted(story.sources)),
        "independent_sources": json.dumps(sorted(story.independent_sources)),
        "state": story.state.value,
        "terms": json.dumps(dict(story.terms)),
        "merged_into": story.merge.merged_into if story.merge else None,
        "merged_at": story.merge.at if story.merge else None,
        "merge_score": story.merge.score if story.merge else None,
        "members": members_to_json(story.members),
        "split_from": story.split.split_from if story.split else None,
        "split_at": story.split.at if story.split else None,
        "split_score": story.split.score if story.split else None,
    }


def load_clusterer_state(catalog: Catalog) -> ClustererState:
    meta = catalog.clusterer_meta()
    clock = meta.get("clock")
    return ClustererState(
        stories={row.id: story_from_row(row) for row in catalog.stories()},
        term_counts=Counter(json.loads(meta.get("term_counts", "{}"))),
        articles_seen=int(meta.get("articles_seen", 0)),
        since_merge=int(meta.get("since_merge", 0)),
        touched=set(json.loads(meta.get("touched", "[]"))),
        clock=datetime.fromisoformat(clock) if clock else None,
    )


def clusterer_meta(state: ClustererState) -> dict[str, str]:
    return {
        "term_counts": json.dumps(dict(state.term_counts)),
        "articles_seen": str(state.articles_seen),
        "since_merge": str(state.since_merge),
        "touched": json.dumps(sorted(state.touched)),
        "clock": state.clock.isoformat() if state.clock else "",
    }


def article_from_row(row) -> Article:
    return Article(
        id=row.id, url=row.url, canonical_url=row.canonical_url, title=row.title, text=row.text,
        source=row.source, language=row.language, published_at=row.published_at, author=row.author,
        updated_at=row.updated_at, sitename=row.sitename, description=row.description,
        body_source=row.body_source, syndicated_of=row.syndicated_of,
    )


def story_record(story: StoryState) -> Story:
    return Story(
        id=story.id, label=story.label, first_seen=story.first_seen, last_seen=story.last_seen,
        size=story.size, sources=set(story.sources), state=story.state.value,
    )


def article_point(row, vector: np.ndarray, story_id: str | None) -> Point:
    return Point(row.id, vector, article_payload(article_from_row(row), story_id=story_id))


def story_point(story: StoryState) -> Point:
    return Point(story.id, story.centroid, story_payload(
        story_record(story), independent_sources=len(story.independent_sources)))


def article_text(row) -> str:
    return embedding_text(row.title, row.text, row.description or "")


def batches(rows: Sequence, size: int) -> list[Sequence]:
    size = max(1, size)
    return [rows[start : start + size] for start in range(0, len(rows), size)]


# One index run or reindex at a time over a catalog: both rewrite stories and their centroids.
INDEX_LOCK = "index"


# -- the stage --------------------------------------------------------------------------------------
class IndexStage:
    def __init__(self, settings: Settings, catalog: Catalog, *, embedder: TextEncoder | None = None,
                 store: VectorStore | None = None, config: ClusterConfig | None = None):
        self.settings = settings
        self.catalog = catalog
        self.embedder = embedder or embedder_for(settings)
        self.store = store or open_store(settings)
        self.store.ensure_collections(self.embedder.dimension, self.embedder.model_id)
        self.config = config
        # Loaded under the index lock by `run` and `merge_pass`, as the last holder left it.
        self.clusterer: OnlineClusterer

    def _load_clusterer(self) -> None:
        state = load_clusterer_state(self.catalog)
        self.clusterer = OnlineClusterer(NumpyCentroidIndex(self.embedder.dimension), self.config, state)

    def run(self, limit: int | None = None, on_done: Callable[[int], None] | None = None, *,
            cores: Cores = None, arrived_before: datetime | None = None) -> IndexSummary:
        """Index up to ``limit`` extracted articles (or those whose entry arrived before a time),
        in the stream's order, embedding on at most ``cores`` cores (all by default; fewer
        leaves the others to work running beside it)."""
        summary = IndexSummary()
        with self.catalog.exclusive(INDEX_LOCK):
            self._load_clusterer()
            rows = self.catalog.articles_to_index(limit, arrived_before=arrived_before)
            summary.articles = len(rows)
            chunks = batches(rows, self.settings.index_batch_size)
            # The next batch is embedded while this one is clustered and stored: the model's
            # kernels release the GIL, so storing runs beside them (1.7-1.9 s of storing per
            # 500 articles became 0.3-0.4 s not hidden, docs/BENCHMARKS.md section 1).
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as embedding:
                upcoming = embedding.submit(self._embed, chunks[0], cores) if chunks else None
                for number, chunk in enumerate(chunks):
                    vectors = upcoming.result()  # type: ignore[union-attr]
                    if number + 1 < len(chunks):
                        upcoming = embedding.submit(self._embed, chunks[number + 1], cores)
                    self._index_batch(chunk, vectors, summary)
                    if on_done is not None:
                        on_done(len(chunk))
        return summary

    def _embed(self, rows: Sequence, cores: Cores = None) -> np.ndarray:
        return self.embedder.encode([article_text(row) for row in rows], cores=cores)

    def merge_pass(self) -> tuple[dict[str, tuple], list[tuple[str, MergeRecord]]]:
        """The clusterer's merge pass, persisted; returns the snapshot before it and the merges."""
        with self.catalog.exclusive(INDEX_LOCK):
            self._load_clusterer()
            before = self.snapshot()
            merges = self.clusterer.merge_pass()
            self.persist(before)
        return before, merges

    def _index_batch(self, rows: Sequence, vectors: np.ndarray, summary: IndexSummary) -> None:
        state = self.clusterer.state
        originals = [row.syndicated_of for row in rows if row.syndicated_of]
        for original in self.catalog.articles(ids=originals):
            if original.story_id:
                state.article_story.setdefault(original.id, original.story_id)
        before = self.snapshot()
        assignments: list[Assignment] = []
        for row, vector in zip(rows, vectors):
            if row.story_id is not None:
                continue  # already in a story: re-indexing refreshes its point, not its story
            item = ClusterItem(
                id=row.id, vector=vector, title=row.title, text=row.text, published_at=row.published_at,
                source=row.source, syndicated_of=row.syndicated_of,
            )
            assignment = self.clusterer.add(item)
            assignments.append(assignment)
            if assignment.rule is JoinRule.NEW_STORY:
                summary.stories_created += 1
            elif assignment.rule is JoinRule.SYNDICATED:
                summary.syndicated_joined += 1
            else:
                summary.stories_joined += 1
        summary.merges += self.persist(before, rows, vectors, assignments)
        summary.indexed += len(rows)

    def snapshot(self) -> dict[str, tuple]:
        """Each story's (state, merge, size, vector count): what `persist` compares against."""
        return {
            story.id: (story.state, story.merge, story.size, story.count)
            for story in self.clusterer.state.stories.values()
        }

    def persist(self, before: dict[str, tuple], rows: Sequence = (), vectors: Sequence = (),
                assignments: Sequence[Assignment] = ()) -> int:
        """Write what changed since ``before``: article points first, then stories, then the
        catalog in one transaction (so nothing is ``indexed`` that is not stored). Articles
        follow their story when it merges, then those a split moved go to their new story.
        Returns the number of merges."""
        state = self.clusterer.state
        moved = self.clusterer.take_moves()
        changed = {story_id for story_id, story in state.stories.items()
                   if before.get(story_id) != (story.state, story.merge, story.size, story.count)}
        merged = [(story_id, self.clusterer.resolve_story(story_id)) for story_id in sorted(changed)
                  if state.stories[story_id].merge is not None]
        current = {row.id: self.clusterer.resolve_story(row.story_id) for row in rows if row.story_id}
        current |= {a.article_id: self.clusterer.story_of(a.article_id) for a in assignments}
        with self.store.session():
            if rows:
                self.store.upsert(ARTICLES, [
                    article_point(row, vector, current[row.id]) for row, vector in zip(rows, vectors)
                ])
            live = [state.stories[i] for i in sorted(changed) if state.stories[i].merge is None]
            if live:
                self.store.upsert(STORIES, [story_point(story) for story in live])
            if merged:
                self.store.delete(STORIES, [gone for gone, _ in merged])
                for gone, keep in merged:
                    followers = self.catalog.article_ids_of_stories([gone])
                    if followers:
                        self.store.set_payload(ARTICLES, followers, {"story_id": keep})
            for story_id, article_ids in _by_story(moved).items():
                self.store.set_payload(ARTICLES, article_ids, {"story_id": story_id})
        self.catalog.commit_index_batch(
            [story_to_row(state.stories[i]) for i in sorted(changed)],
            [{"id": row.id} for row in rows if row.story_id] + [
                {
                    "id": a.article_id,
                    "story_id": current[a.article_id],
                    "join_rule": a.rule.value,
                    "join_score": a.score,
                    "similarity": a.similarity,
                    "term_overlap": a.term_overlap,
                    "time_gap_seconds": a.time_gap.total_seconds() if a.time_gap is not None else None,
                }
                for a in assignments
            ],
            clusterer_meta(state),
            merged=merged,
            moved=moved,
        )
        return len(merged)


def _by_story(article_stories: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for article_id, story_id in article_stories.items():
        grouped.setdefault(story_id, []).append(article_id)
    return grouped



# -- reindex --------------------------------------------------------------------------------------
@dataclass
class ReindexSummary:
    articles: int
    stories: int
    model: str
    dimension: int
    collections: dict[str, str]  # logical name -> the new physical collection
    dropped: list[str]

    def as_dict(self) -> dict[str, object]:
        return {"articles": self.articles, "stories": self.stories, "model": self.model,
                "dimension": self.dimension, "collections": self.collections, "dropped": self.dropped}


def _members_in_new_space(members: list[StoryMember], vectors: dict[str, np.ndarray]) -> list[StoryMember] | None:
    """A story's members with their vectors from the new model; None (the story no longer
    splits) if one of them was not embedded again (an article waiting to be re-indexed)."""
    if any(member.vector is not None and member.article_id not in vectors for member in members):
        return None
    return [replace(member, vector=vectors[member.article_id]) if member.vector is not None else member
            for member in members]


def reindex(settings: Settings, catalog: Catalog, *, embedder: TextEncoder | None = None,
            store: VectorStore | None = None, on_done: Callable[[int], None] | None = None) -> ReindexSummary:
    """Embed every indexed article again with the configured model into new versions of both
    collections, then switch the aliases and drop the old versions.

    Readers keep the old vectors until the switch, which is one step per collection. Stories
    keep their members and ids (re-clustering would renumber them); their centroids are summed
    again in the new vector space, in the store and in the clusterer's state, so later articles
    join against comparable vectors (and the vectors young stories keep for splitting are
    replaced too). Left-over versions of an interrupted reindex are dropped
    first; running it twice gives the same result.
    """
    embedder = embedder or embedder_for(settings)
    store = store or open_store(settings)
    with catalog.exclusive(INDEX_LOCK):
        with store.session():
            in_use = set(store.aliases().values())
            dropped = [name for name in store.physical_collections() if name not in in_use]
            for name in dropped:
                store.drop_collection(name)
        fresh = {logical: store.create_versioned(logical, embedder.dimension, embedder.model_id)
                 for logical in (ARTICLES, STORIES)}
        rows = catalog.indexed_articles()
        sums: dict[str, np.ndarray] = {}
        counts: Counter[str] = Counter()
        # Read (and their members parsed) once: which vectors to keep, then the stories to update.
        stories = [story_from_row(row) for row in catalog.stories() if not row.merged_into]
        kept_for_splits = {member.article_id for story in stories
                           for member in story.members or [] if member.vector is not None}
        member_vectors: dict[str, np.ndarray] = {}
        for chunk in batches(rows, settings.index_batch_size):
            vectors = embedder.encode([article_text(row) for row in chunk])
            store.upsert(fresh[ARTICLES], [
                article_point(row, vector, row.story_id) for row, vector in zip(chunk, vectors)
            ])
            for row, vector in zip(chunk, vectors):
                # Syndicated copies never moved their story's centroid (see clustering).
                if row.story_id and row.join_rule != JoinRule.SYNDICATED.value:
                    sums[row.story_id] = sums.get(row.story_id, 0.0) + np.asarray(vector, dtype=np.float64)
                    counts[row.story_id] += 1
                if row.id in kept_for_splits:
                    member_vectors[row.id] = np.asarray(vector, dtype=np.float32)
            if on_done is not None:
                on_done(len(chunk))
        live = [story for story in stories if story.id in sums]
        for story in live:
            story.centroid_sum, story.count = sums[story.id], counts[story.id]
            if story.members is not None:
                story.members = _members_in_new_space(story.members, member_vectors)
        store.upsert(fresh[STORIES], [story_point(story) for story in live])
        catalog.set_story_vectors({story.id: {
            key: value for key, value in story_to_row(story).items()
            if key in ("centroid_sum", "vector_count", "members")
        } for story in live})
        replaced = [store.describe(logical) for logical in fresh]
        for logical, physical_name in fresh.items():
            store.switch_alias(logical, physical_name)
        for info in replaced:
            if info is not None:
                store.drop_collection(info.physical_name)
                dropped.append(info.physical_name)
    return ReindexSummary(articles=len(rows), stories=len(live), model=embedder.model_id,
                          dimension=embedder.dimension, collections=fresh, dropped=dropped)

