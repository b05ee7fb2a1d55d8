"""Clustering scaling: time per article to join or start a story at 1k, 10k, 100k active stories.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.clustering_scaling [--stories 1000 10000 100000]

Synthetic vectors: the clusterer is seeded with N active stories (random unit centroids, all
seen within the dormancy window), then takes a stream of articles, half close to an existing
story (they join) and half random (they start one). The time per ``OnlineClusterer.add``
includes the term overlap and the periodic merge pass, on the pipeline's
``NumpyCentroidIndex`` (partitioned past 4,096 stories) and, as the reference, the same index
kept exact (a full scan at every size).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.common import percentile, write_result
from pipeline.clustering import (
    ClustererState,
    ClusterItem,
    JoinRule,
    NumpyCentroidIndex,
    OnlineClusterer,
    StoryState,
)

DIMENSION = 384
NOW = datetime(2026, 6, 1, tzinfo=UTC)
WORDS = ["Valdane", "Orrick", "Maren", "Harlow", "Tessin", "Branmoor", "Edris", "Vesk", "Rosk",
         "Amberly", "Dunmere", "Calloway", "Northgate", "Lindqvist", "Selm", "Kestrel"]


def unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def seeded_state(centroids: np.ndarray, rng: np.random.Generator) -> ClustererState:
    stories = {}
    for number, centroid in enumerate(centroids):
        seen = NOW - timedelta(hours=float(rng.uniform(0, 96)))
        terms = Counter(rng.choice(WORDS, 3, replace=False).tolist())
        stories[f"story-{number}"] = StoryState(
            id=f"story-{number}", centroid_sum=centroid.astype(np.float64), count=1,
            label=f"story {number}", first_seen=seen, last_seen=seen, size=1, sources={"a"},
            independent_sources={"a"}, terms=terms,
        )
    return ClustererState(stories=stories, articles_seen=len(stories), clock=NOW)


def stream(centroids: np.ndarray, count: int, rng: np.random.Generator) -> list[ClusterItem]:
    items = []
    fresh = unit(rng, count)
    for number in range(count):
        if number % 2 == 0:  # near an existing story: joins it
            base = centroids[int(rng.integers(0, len(centroids)))]
            vector = base + 0.03 * fresh[number]
            vector /= np.linalg.norm(vector)
        else:
            vector = fresh[number]
        title = " ".join(rng.choice(WORDS, 4).tolist()) + f" report {number}"
        items.append(ClusterItem(id=f"article-{number}", vector=vector.astype(np.float32), title=title,
                                 text=title, published_at=NOW + timedelta(minutes=number), source=f"s{number % 9}"))
    return items


INDEXES: dict[str, Callable[[], NumpyCentroidIndex]] = {
    "numpy_centroid_index": lambda: NumpyCentroidIndex(DIMENSION),
    "exact_scan": lambda: NumpyCentroidIndex(DIMENSION, exact_limit=10**9),
}


def measure(new_index: Callable[[], NumpyCentroidIndex], stories: int, articles: int) -> dict[str, object]:
    rng = np.random.default_rng(stories)
    centroids = unit(rng, stories)
    clusterer = OnlineClusterer(new_index(), state=seeded_state(centroids, rng))
    items = stream(centroids, articles, rng)
    samples, rules = [], Counter()
    for item in items:
        started = time.perf_counter()
        assignment = clusterer.add(item)
        samples.append((time.perf_counter() - started) * 1000)
        rules[assignment.rule.value] += 1
    return {
        "active_stories": stories,
        "articles": articles,
        "mean_ms": round(sum(samples) / len(samples), 3),
        "p50_ms": round(percentile(samples, 50), 3),
        "p95_ms": round(percentile(samples, 95), 3),
        "joined": sum(n for rule, n in rules.items() if rule != JoinRule.NEW_STORY.value),
        "started": rules[JoinRule.NEW_STORY.value],
    }


def run(sizes: list[int], articles: int, repeats: int) -> dict[str, object]:
    """Each (index, size) measured ``repeats`` times, interleaved so that a burst of load from
    other jobs hits one repeat; the repeat with the lowest mean is the one reported."""
    measure(INDEXES["exact_scan"], sizes[0], articles)  # warm-up: the first run pays imports and caches
    best: dict[tuple[str, int], dict[str, object]] = {}
    for _ in range(repeats):
        for name, new_index in INDEXES.items():
            for size in sizes:
                row = measure(new_index, size, articles)
                print(name, row, flush=True)
                if (name, size) not in best or row["mean_ms"] < best[name, size]["mean_ms"]:
                    best[name, size] = row
    results: dict[str, object] = {"repeats": repeats}
    for name in INDEXES:
        rows = [best[name, size] for size in sizes]
        results[name] = {"runs": rows, "growth_mean": round(rows[-1]["mean_ms"] / rows[0]["mean_ms"], 2)}
    results["goal"] = f"time per article within 2x from {sizes[0]} to {sizes[-1]} stories"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    print(write_result("clustering_scaling", run(args.stories, args.articles, args.repeats), args.output))


if __name__ == "__main__":
    main()
