"""Vector store: upsert points/s and search p50/p95 at growing sizes, edge vs local mode.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.vectorstore_bench [--sizes 10000 50000 100000]

Synthetic, embedding-like data: articles scattered around story centres (10 per story),
normalised 384-d vectors, article payloads as the index stage writes them. Both backends go
through our VectorStore interface, so the numbers include its checks. Searches (limit 10):
plain; filtered by story and by date (the last 7 days of a 60-day span); per story, as
`storyline search --per-story` does it (over-fetch 5x, keep each story's best, client-side).
qdrant-client's local mode is a brute-force Python emulation: it is run only up to
``--local-max`` points and with fewer queries.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.common import percentile, write_result
from pipeline.vectorstore import ARTICLES, Point, SearchFilter, VectorStore
from pipeline.vectorstore.edge import EdgeVectorStore
from pipeline.vectorstore.server import IN_MEMORY, ServerVectorStore

DIMENSION = 384
PER_STORY = 10
SPAN = timedelta(days=60)
END = datetime(2026, 6, 1, tzinfo=UTC)
UPSERT_BATCH = 256
LIMIT = 10


def synthetic_points(count: int, seed: int = 3) -> tuple[np.ndarray, list[dict[str, object]]]:
    rng = np.random.default_rng(seed)
    stories = max(1, count // PER_STORY)
    centres = rng.standard_normal((stories, DIMENSION)).astype(np.float32)
    story_of = rng.integers(0, stories, count)
    vectors = centres[story_of] + 0.8 * rng.standard_normal((count, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = END - SPAN
    offsets = rng.uniform(0, SPAN.total_seconds(), count)
    payloads = [
        {
            "story_id": f"story-{story_of[i]}",
            "source": f"outlet-{i % 40}",
            "language": "en",
            "published_at_ts": start.timestamp() + offsets[i],
            "title": f"article {i}",
        }
        for i in range(count)
    ]
    return vectors, payloads


def point_ids(count: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(count)]


def timed_ms(call: Callable[[], object], repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(samples, 50), 2), "p95_ms": round(percentile(samples, 95), 2),
            "queries": repeats}


def per_story_search(store: VectorStore, vector: np.ndarray) -> list[object]:
    best: dict[object, object] = {}
    for hit in store.search(ARTICLES, vector, LIMIT * 5):
        best.setdefault(hit.payload.get("story_id") or hit.id, hit)
    return list(best.values())[:LIMIT]


def measure(store: VectorStore, vectors: np.ndarray, payloads: list[dict[str, object]],
            queries: int) -> dict[str, object]:
    ids = point_ids(len(vectors))
    store.ensure_collections(DIMENSION, "bench/synthetic")
    started = time.perf_counter()
    with store.session():
        for start in range(0, len(vectors), UPSERT_BATCH):
            store.upsert(ARTICLES, [
                Point(ids[i], vectors[i], payloads[i]) for i in range(start, min(start + UPSERT_BATCH, len(vectors)))
            ])
    upsert_rate = len(vectors) / (time.perf_counter() - started)
    rng = np.random.default_rng(11)
    picks = rng.integers(0, len(vectors), queries)
    queue = iter(np.concatenate([picks] * 4))  # each query kind draws its own vectors in turn
    recent = SearchFilter(published_after=END - timedelta(days=7))

    def query() -> np.ndarray:
        return vectors[next(queue)]

    def story_filter() -> SearchFilter:
        return SearchFilter(story_id=str(payloads[int(rng.integers(0, len(payloads)))]["story_id"]))

    with store.session():
        return {
            "points": len(vectors),
            "upsert_points_per_s": round(upsert_rate, 1),
            "search": timed_ms(lambda: store.search(ARTICLES, query(), LIMIT), queries),
            "search_by_story": timed_ms(lambda: store.search(ARTICLES, query(), LIMIT, story_filter()), queries),
            "search_by_date": timed_ms(lambda: store.search(ARTICLES, query(), LIMIT, recent), queries),
            "search_per_story": timed_ms(lambda: per_story_search(store, query()), queries),
        }


def run(sizes: list[int], local_max: int, queries: int, local_queries: int) -> dict[str, object]:
    results: dict[str, object] = {"edge": [], "qdrant_local": [], "local_max_points": local_max}
    for size in sizes:
        vectors, payloads = synthetic_points(size)
        with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
            store = EdgeVectorStore(Path(tmp))
            results["edge"].append(measure(store, vectors, payloads, queries))  # type: ignore[union-attr]
            store.close()
        print("edge", results["edge"][-1], flush=True)  # type: ignore[index]
        if size <= local_max:
            store = ServerVectorStore(IN_MEMORY)
            results["qdrant_local"].append(measure(store, vectors, payloads, local_queries))  # type: ignore[union-attr]
            store.close()
            print("local", results["qdrant_local"][-1], flush=True)  # type: ignore[index]
    results["goal"] = "edge search p95 <= 20 ms at 50k"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--local-max", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--local-queries", type=int, default=20)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    result = run(args.sizes, args.local_max, args.queries, args.local_queries)
    print(write_result("vectorstore", result, args.output))


if __name__ == "__main__":
    main()
