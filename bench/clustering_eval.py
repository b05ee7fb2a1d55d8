"""Clustering benchmark: ours vs the TF-IDF single-pass baseline on every labelled corpus.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.clustering_eval [--corpora NAME ...]
        [--cache-dir /tmp/storyline-embeddings] [--output FILE]

Writes ``bench/results/clustering_quality.json`` (pairwise and BCubed P/R/F1 of our
clusterer, the baseline at its fixed threshold and at its oracle threshold). ``--cache-dir``
keeps the embeddings between runs (keyed by a hash of the model id and the texts; never inside
the repository).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import cached_encode, write_result
from pipeline.clustering import ClusterConfig
from pipeline.embedding import embedder_for
from pipeline.evaluation.clustering import (
    BASELINE_THRESHOLD,
    CORPORA,
    evaluate_file,
    load_stream,
    sweep_baseline,
)
from pipeline.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="*", default=[corpus.name for corpus in CORPORA])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    data_dir = Settings().data_dir
    embedder = embedder_for(Settings())  # the pipeline's runtime, as the tests evaluate
    embed = cached_encode(embedder.encode, args.cache_dir, embedder.model_id) if args.cache_dir else None
    results: dict[str, object] = {"config": repr(ClusterConfig()), "fixed_threshold": BASELINE_THRESHOLD,
                                  "model": embedder.model_id, "sets": {}}
    for corpus in [c for c in CORPORA if c.name in args.corpora]:
        path = data_dir / corpus.path
        if not path.is_file():
            print(f"skip {corpus.name}: {path} not found")
            continue
        started = time.perf_counter()
        ours = evaluate_file(path, label_field=corpus.label_field, embed=embed)
        oracle = sweep_baseline(load_stream(path, corpus.label_field))
        results["sets"][corpus.name] = {**ours, "oracle_baseline": oracle}  # type: ignore[index]
        margin = ours["bcubed"]["f1"] - oracle["bcubed"]["f1"]
        print(
            f"{corpus.name}: BCubed F1 margin over oracle {margin:+.3f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    print(write_result("clustering_quality", results, args.output))


if __name__ == "__main__":
    main()
