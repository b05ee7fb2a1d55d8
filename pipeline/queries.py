"""Read side: search, related articles, stories and tracked-story lineups.

The CLI and the Airflow plugin's API call exactly these functions, so both show the same.
Results are plain dicts ready for JSON.
"""

from __future__ import annotations

import json
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from pipeline.catalog import Catalog
from pipeline.embedding import TextEncoder, embedder_for
from pipeline.records import article_id
from pipeline.settings import Settings
from pipeline.urls import canonicalize_url
from pipeline.vectorstore import ARTICLES, STORIES, Hit, SearchFilter, VectorStore, open_store

MAX_LIMIT = 100
# Articles of the seed's neighbourhood that vote for the seed's story.
SEED_NEIGHBOURS = 10
RELATED_HOPS = 2


class QueryError(ValueError):
    """A request that cannot be answered as asked (unknown id, bad tracked-story config)."""


@dataclass(frozen=True)
class TrackedStory:
    name: str
    seed: str


def load_tracked(path: Path) -> list[TrackedStory]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise QueryError(f"tracked stories config {path}: {exc}") from exc
    stories = [TrackedStory(str(item["name"]), str(item["seed"])) for item in data.get("story", [])
               if isinstance(item, dict) and item.get("name") and item.get("seed")]
    if not stories:
        raise QueryError(f"tracked stories config {path} lists no [[story]] with name and seed")
    return stories


def hit_record(hit: Hit) -> dict[str, object]:
    payload = hit.payload
    return {
        "id": hit.id,
        "score": round(hit.score, 4),
        "title": payload.get("title"),
        "url": payload.get("url"),
        "source": payload.get("source"),
        "published_at": payload.get("published_at"),
        "story_id": payload.get("story_id"),
    }


class Queries:
    def __init__(self, settings: Settings, catalog: Catalog, *, store: VectorStore | None = None,
                 embedder: TextEncoder | None = None):
        self.settings = settings
        self.catalog = catalog
        self.store = store or open_store(settings)
        self._embedder = embedder

    @property
    def embedder(self) -> TextEncoder:
        if self._embedder is None:
            self._embedder = embedder_for(self.settings)
        return self._embedder

    def _vector(self, text: str) -> np.ndarray:
        return self.embedder.encode([text])[0]

    # -- search -----------------------------------------------------------------------------
    def search(
        self, query: str, *, limit: int = 10, since: datetime | None = None, source: str | None = None,
        language: str | None = None, story: str | None = None, per_story: bool = False,
    ) -> list[dict[str, object]]:
        limit = max(1, min(limit, MAX_LIMIT))
        search_filter = SearchFilter(story_id=story, source=source, language=language, published_after=since)
        vector = self._vector(query)
        # Grouping is client-side (Qdrant Edge has no group-by): over-fetch, keep each story's best.
        hits = self.store.search(ARTICLES, vector, limit * 5 if per_story else limit, search_filter)
        if per_story:
            best: dict[object, Hit] = {}
            for hit in hits:
                best.setdefault(hit.payload.get("story_id") or hit.id, hit)
            hits = list(best.values())[:limit]
        return [hit_record(hit) for hit in hits]

    def related(self, id_or_url: str, *, limit: int = 10) -> list[dict[str, object]]:
        point_id = self._article_id(id_or_url)
        (point,) = self.store.get(ARTICLES, [point_id], with_vectors=True) or [None]
        if point is None:
            raise QueryError(f"no indexed article {id_or_url}")
        hits = self.store.search(ARTICLES, point.vector, min(limit, MAX_LIMIT) + 1)
        return [hit_record(hit) for hit in hits if hit.id != point.id][:limit]

    def _article_id(self, id_or_url: str) -> str:
        if not id_or_url.lower().startswith(("http://", "https://")):
            return id_or_url
        canonical = canonicalize_url(id_or_url)
        return self.catalog.article_id_for_url(canonical) or article_id(canonical)

    # -- stories ----------------------------------------------------------------------------
    def stories(self, *, state: str | None = "active", limit: int = 50) -> list[dict[str, object]]:
        rows = self.catalog.stories(states=None if state is None else [state])
        return [story_record(row) for row in rows[: max(1, min(limit, 500))]]

    def story(self, story_id: str) -> dict[str, object]:
        rows = self.catalog.stories(ids=[story_id])
        if not rows:
            raise QueryError(f"no story {story_id}")
        row = rows[0]
        while row.merged_into:  # a merged story answers with the story it became part of
            row = self.catalog.stories(ids=[row.merged_into])[0]
        record = story_record(row)
        record["articles"] = self.coverage(row.id)
        # Oldest first: where the story came from, what it took in, what left it.
        parent = self.catalog.stories(ids=[row.split_from]) if row.split_from else []
        record["lineage"] = sorted(
            [{"split_from": p.id, "label": p.label, "at": iso(row.split_at), "score": row.split_score} for p in parent]
            + [{"merged": merged.id, "label": merged.label, "at": iso(merged.merged_at), "score": merged.merge_score}
               for merged in self.catalog.stories(states=["merged"]) if merged.merged_into == row.id]
            + [{"split_off": child.id, "label": child.label, "at": iso(child.split_at), "score": child.split_score}
               for child in self.catalog.stories(split_from=row.id)],
            key=lambda event: event["at"] or "",
        )
        return record

    def coverage(self, story_id: str, reference: np.ndarray | None = None) -> list[dict[str, object]]:
        """The story's articles in time order; similarity to ``reference`` (default: centroid)."""
        articles = self.catalog.articles_of_story(story_id)
        vectors = {p.id: np.asarray(p.vector) for p in self.store.get(ARTICLES, [a.id for a in articles], with_vectors=True)}
        if reference is None:
            stacked = [vectors[a.id] for a in articles if a.id in vectors]
            reference = np.mean(stacked, axis=0) if stacked else None
            if reference is not None:
                reference = reference / (np.linalg.norm(reference) or 1.0)
        return [
            {
                "id": a.id,
                "published_at": iso(a.published_at),
                "indexed_at": iso(a.indexed_at),
                "source": a.source,
                "title": a.title,
                "url": a.url,
                "similarity": round(float(vectors[a.id] @ reference), 4) if reference is not None and a.id in vectors else None,
                "syndicated": a.syndicated_of is not None,
                "syndicated_of": a.syndicated_of,
                "body_source": a.body_source,
                "join_rule": a.join_rule,
            }
            for a in articles
        ]

    # -- tracked stories --------------------------------------------------------------------
    def lineup(self, name: str | None = None) -> dict[str, object]:
        tracked = load_tracked(self.settings.tracked)
        chosen = next((t for t in tracked if name is None or t.name.lower() == name.lower()), None)
        if chosen is None:
            raise QueryError(f"no tracked story named {name!r} (known: {', '.join(t.name for t in tracked)})")
        seed_title, seed_text = self._read_seed(chosen.seed)
        seed_vector = self._vector(f"{seed_title}\n{seed_text}")
        with self.store.session():
            story_id = self._seed_story(seed_vector)
            result: dict[str, object] = {
                "name": chosen.name,
                "seed": {"source": chosen.seed, "title": seed_title, "excerpt": seed_text[:300]},
                "story": None, "coverage": [], "related": [],
            }
            if story_id is None:
                return result
            (row,) = self.catalog.stories(ids=[story_id])
            result["story"] = story_record(row)
            result["coverage"] = self.coverage(story_id, seed_vector)
            neighbours = self._neighbourhood(row)
            related_rows = {r.id: r for r in self.catalog.stories(ids=list(neighbours))}
            result["related"] = [
                {
                    "story": story_record(related_rows[related_id]),
                    "relatedness": round(score, 4),
                    "via": via,
                    "articles": self.coverage(related_id, seed_vector),
                }
                for related_id, (score, via) in neighbours.items()
                if related_id in related_rows
            ]
        return result

    def _neighbourhood(self, seed_row) -> dict[str, tuple[float, str]]:
        """Stories related to the seed's story: reachable in up to RELATED_HOPS steps between
        story centroids of cosine >= related_threshold (a developing story's side stories
        often relate to each other more than to its main thread). story id -> (score, via)."""
        found: dict[str, tuple[float, str]] = {}
        frontier = [seed_row]
        for _ in range(RELATED_HOPS):
            next_frontier = []
            for row in frontier:
                for hit in self.store.search(
                    STORIES, centroid_of(row), 30, score_threshold=self.settings.related_threshold
                ):
                    if hit.id != seed_row.id and hit.id not in found:
                        found[hit.id] = (hit.score, row.id)
                        next_frontier.append(hit.id)
            frontier = self.catalog.stories(ids=next_frontier) if next_frontier else []
        return found

    def _seed_story(self, seed_vector: np.ndarray) -> str | None:
        """The story the seed belongs to: the one its nearest articles vote for."""
        votes: dict[str, float] = defaultdict(float)
        for hit in self.store.search(ARTICLES, seed_vector, SEED_NEIGHBOURS):
            if hit.payload.get("story_id"):
                votes[hit.payload["story_id"]] += hit.score
        return max(votes, key=votes.__getitem__) if votes else None

    def _read_seed(self, seed: str) -> tuple[str, str]:
        if seed.lower().startswith(("http://", "https://")) or seed.lower().endswith((".html", ".htm", ".gz")):
            from pipeline.extraction.inputs import extract_inputs

            (record,) = extract_inputs(self.settings, [seed])
            if record["error"] and not record["text"]:
                raise QueryError(f"seed {seed}: {record['error']}")
            return str(record["title"] or ""), str(record["text"] or "")
        try:
            lines = [line.strip() for line in Path(seed).read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise QueryError(f"seed {seed} cannot be read: {exc}") from exc
        return (lines[0] if lines else ""), "\n".join(lines[1:])


def centroid_of(row) -> np.ndarray:
    centroid = np.frombuffer(row.centroid_sum, dtype=np.float64)
    return centroid / (np.linalg.norm(centroid) or 1.0)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def story_record(row) -> dict[str, object]:
    return {
        "id": row.id,
        "label": row.label,
        "size": row.size,
        "sources": json.loads(row.sources),
        "independent_sources": len(json.loads(row.independent_sources)),
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
        "state": row.state,
        "merged_into": row.merged_into,
        "split_from": row.split_from,
    }
