"""Pipeline vs physical limit: end-to-end articles/s over loopback / raw encode docs/s.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/pipeline_bench.py [--articles 500]

A generated demo-style site (bench/synthetic_site.py) is polled, fetched, extracted, embedded,
stored and clustered by the real stage code (politeness delay 0 for 127.0.0.1), as `storyline
run` runs it: poll, then ``pipeline.stages.fetch_and_index`` (indexing beside fetching). The reference
is ``SentenceTransformer.encode`` on the very texts the index stage embedded, same model,
batch size and window, measured in the same process right after. Start-up is excluded from
both: the model load (the index stage gets the loaded embedder) and the page stage's imports.
The index stage's own embedder is then timed alone on the same texts, which gives the bound
no schedule of the stages could beat on this machine's cores (``schedule_bound_ratio``).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import peak_rss_mb, write_result
from pipeline.settings import Settings

if TYPE_CHECKING:
    import numpy as np

    from pipeline.embedding import Cores, TextEncoder

# Heavy modules are imported inside functions: extraction workers are spawned processes that
# re-import the main module, and the pipeline's own entry points keep theirs light too.


MAX_SEQ_LENGTH = 256  # the Embedder's window


class TimedEmbedder:
    """The process's embedder, recording the texts it encoded and when each encode ran."""

    def __init__(self, embedder: TextEncoder):
        self._embedder = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension
        self.batch_size = embedder.batch_size
        self.texts: list[str] = []
        self.intervals: list[tuple[float, float]] = []  # when each encode ran

    def encode(self, texts: Sequence[str], *, cores: Cores = None) -> np.ndarray:
        self.texts.extend(texts)
        started = time.perf_counter()
        vectors = self._embedder.encode(texts, cores=cores)
        self.intervals.append((started, time.perf_counter()))
        return vectors

    def seconds_within(self, start: float = -math.inf, end: float = math.inf) -> float:
        """Seconds of encoding between ``start`` and ``end`` (all of them by default)."""
        return sum(max(0.0, min(end, stop) - max(start, begin)) for begin, stop in self.intervals)


def bench_settings(home: Path, registry: Path) -> Settings:
    return Settings(home=home, registry=registry, allow_hosts=["127.0.0.1"], host_min_delay=0.0,
                    host_max_concurrency=4)


def children_cpu_s() -> float:
    """CPU time of this process's ended children (the extraction workers, once closed)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def schedule_bound(reference_s: float, embed_s: float, embed_cpu_s: float, other_cpu_s: float) -> float:
    """The best ratio any schedule of these stages could reach on this machine's cores.

    However fetching, extraction and storing overlap with embedding, the run needs both the
    embedding's wall time and the CPU of all its stages spread over every core.
    """
    best_wall = max(embed_s, (embed_cpu_s + other_cpu_s) / (os.cpu_count() or 1))
    return reference_s / best_wall


def timed_encode(embedder: TextEncoder, texts: list[str]) -> tuple[float, float]:
    """Seconds and process CPU seconds of the pipeline's own embedder alone over ``texts``."""
    started, cpu = time.perf_counter(), time.process_time()
    embedder.encode(texts)
    return time.perf_counter() - started, time.process_time() - cpu


def reference_batch(runtime_batch: int) -> int:
    """The runtime's batch size, but 16 at least: the ONNX runtime runs one text at a time,
    and torch is slower at 1 than at 16 (measured: 9.3-9.6 against 10.2-11.1 docs/s), so the
    reference takes its faster setting, the harder comparison."""
    return max(runtime_batch, 16)


def raw_encode(texts: list[str], batch_size: int, max_seq_length: int) -> float:
    """Seconds of one ``SentenceTransformer.encode`` over ``texts``."""
    from sentence_transformers import SentenceTransformer

    from pipeline.embedding import default_model_path

    model = SentenceTransformer(default_model_path(), device="cpu")
    model.max_seq_length = max_seq_length
    model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up, as the pipeline's was
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - started


def run(articles: int, backend: str) -> dict[str, object]:
    from bench.synthetic_site import GeneratedSite, generate_articles
    from pipeline.catalog import open_catalog
    from pipeline.embedding import get_embedder
    from pipeline.indexing import IndexStage
    from pipeline.stages import (
        fetch_and_index,
        plan_feed_batches,
        plan_fetch_batches,
        poll_batch,
    )

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Start-up stays off the clock, like the model load below: the page stage's modules
    # import scipy (through datasketch) and trafilatura, about 2 s.
    import pipeline.fetching  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, \
            GeneratedSite(generate_articles(articles)) as site:
        settings = bench_settings(Path(tmp) / "home", site.registry_path(tmp))
        catalog = open_catalog(settings)
        # The model loads before the clock starts, as `storyline run` loads it before fetching
        # (its index stage runs beside the page stage).
        embedder = get_embedder(backend=backend, models_dir=settings.home / "models")
        embedder.encode(["warm-up"] * embedder.batch_size)
        timed = TimedEmbedder(embedder)
        index_stage = IndexStage(settings, catalog, embedder=timed)  # type: ignore[arg-type]
        started, cpu_started, workers_started = time.perf_counter(), time.process_time(), children_cpu_s()
        polled = [poll_batch(settings, urls, catalog=catalog) for urls in plan_feed_batches(settings, catalog=catalog)]
        fetching_started = time.perf_counter()
        last_page = [fetching_started]
        fetched, indexed = fetch_and_index(
            settings, catalog, plan_fetch_batches(settings, batch_size=settings.fetch_batch_size, catalog=catalog), index_stage,
            on_fetched=lambda _entry: last_page.__setitem__(0, time.perf_counter()),
        )
        finished = time.perf_counter()
        wall = finished - started
        # All the run's CPU but the site's answering (a real site runs elsewhere); the
        # embedding's share is taken out below.
        site_cpu = site.serving_cpu_s
        workers_cpu = children_cpu_s() - workers_started
        run_cpu = time.process_time() - cpu_started + workers_cpu - site_cpu
    # The stages overlap: embedding runs beside fetching, so its seconds are not a share of
    # the wall time but a measure of their own.
    stage_seconds = {"poll": fetching_started - started, "fetch+extract (indexing beside it)": last_page[0] - fetching_started,
                     "index after the last page": finished - last_page[0]}
    pipeline_rate = indexed["indexed"] / wall
    # The embedding overlaps storing inside the run, so its CPU there is not separable: it is
    # measured by the same embedder alone on the same texts.
    own_s, own_cpu = timed_encode(embedder, timed.texts)
    other_cpu = run_cpu - own_cpu
    reference_s = raw_encode(timed.texts, reference_batch(embedder.batch_size), MAX_SEQ_LENGTH)
    reference_rate = len(timed.texts) / reference_s
    return {
        "articles_served": articles,
        "entries_new": sum(p["entries_new"] for p in polled),
        "extracted": fetched["extracted"],
        "indexed": indexed["indexed"],
        "stories_created": indexed["stories_created"],
        "wall_s": round(wall, 2),
        "pipeline_articles_per_s": round(pipeline_rate, 2),
        "raw_encode_docs_per_s": round(reference_rate, 2),
        "ratio": round(pipeline_rate / reference_rate, 3),
        "goal_ratio": 0.80,
        "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
        "stage_share": {k: round(v / wall, 3) for k, v in stage_seconds.items()},
        "embedding_s": round(timed.seconds_within(), 2),
        "embedding_while_fetching_s": round(timed.seconds_within(fetching_started, last_page[0]), 2),
        "own_runtime_encode_docs_per_s": round(len(timed.texts) / own_s, 2),
        "ratio_to_own_runtime": round(pipeline_rate * own_s / len(timed.texts), 3),
        "cpu_s": {"embed_alone": round(own_cpu, 2), "everything_else": round(other_cpu, 2),
                  "extraction_workers": round(workers_cpu, 2), "demo_site": round(site_cpu, 2)},
        "cores": os.cpu_count(),
        "schedule_bound_ratio": round(schedule_bound(reference_s, own_s, own_cpu, other_cpu), 3),
        "embed_backend": backend,
        "batch_size": embedder.batch_size,
        "reference_batch_size": reference_batch(embedder.batch_size),
        "index_batch_size": settings.index_batch_size,
        "extract_workers": settings.extract_workers,
        "peak_rss_mb": peak_rss_mb(),
    }


REPEAT_FIELDS = ("ratio", "pipeline_articles_per_s", "raw_encode_docs_per_s", "own_runtime_encode_docs_per_s",
                 "ratio_to_own_runtime", "schedule_bound_ratio", "wall_s")


def repeated(articles: int, backend: str, repeats: int) -> dict[str, object]:
    """``run`` ``repeats`` times; the run with the median ratio, and every run's figures.

    The reference's own rate moves by up to a quarter between runs on this shared machine
    (measured: 11.5-14.3 docs/s in three consecutive passes of one process), more than any
    change to the code, so one run says little about whether the goal is met reliably."""
    runs = [run(articles, backend) for _ in range(repeats)]
    ordered = sorted(runs, key=lambda result: result["ratio"])
    median = ordered[(len(ordered) - 1) // 2]
    return median | {"repeats": [{field: result[field] for field in REPEAT_FIELDS} for result in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"],
                        default=Settings().embedding_backend,
                        help="the index stage's runtime, default as configured (the reference is always torch)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs, each with its own reference; the result is the median run")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    result = repeated(args.articles, args.backend, args.repeats)
    print(write_result("pipeline", result, args.output))
    print(result)


if __name__ == "__main__":
    main()
