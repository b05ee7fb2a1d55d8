"""Clustering benchmark: ours vs the TF-IDF single-pass baseline on every labelled corpus.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/clustering_eval.py [--out bench/results]
        [--cache-dir /tmp/storyline-embeddings]

Writes ``clustering_eval.json`` and ``clustering_eval.md`` (pairwise and BCubed P/R/F1 of our
clusterer, the baseline at its fixed threshold and at its oracle threshold). ``--cache-dir``
keeps the embeddings between runs (keyed by a hash of the texts; never inside the repo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.clustering import ClusterConfig
from pipeline.embedding import get_embedder
from pipeline.evaluation.clustering import (
    BASELINE_THRESHOLD,
    CORPORA,
    Embed,
    evaluate_file,
    load_stream,
    sweep_baseline,
)
from pipeline.settings import Settings


def cached_embed(cache_dir: Path) -> Embed:
    def embed(texts: Sequence[str]) -> np.ndarray:
        key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:24]
        path = cache_dir / f"{key}.npy"
        if path.exists():
            return np.load(path)
        vectors = get_embedder().encode(texts)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors

    return embed


def _row(name: str, scores: dict) -> str:
    pw, b3 = scores["pairwise"], scores["bcubed"]
    return (
        f"| {name} | {scores['n_stories']} | {pw['p']:.3f} | {pw['r']:.3f} | {pw['f1']:.3f} "
        f"| {b3['p']:.3f} | {b3['r']:.3f} | {b3['f1']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = Settings().data_dir
    embed = cached_embed(args.cache_dir) if args.cache_dir else None
    results: dict[str, dict] = {"config": repr(ClusterConfig()), "sets": {}}
    lines = [
        "| set / method | stories | pairwise P | R | F1 | BCubed P | R | F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for corpus in CORPORA:
        path = data_dir / corpus.path
        if not path.is_file():
            print(f"skip {corpus.name}: {path} not found")
            continue
        started = time.perf_counter()
        ours = evaluate_file(path, label_field=corpus.label_field, embed=embed)
        oracle = sweep_baseline(load_stream(path, corpus.label_field))
        results["sets"][corpus.name] = {**ours, "oracle_baseline": oracle}
        lines += [
            _row(f"**{corpus.name}** ({ours['n_docs']} docs) ours", ours),
            _row(f"{corpus.name} TF-IDF @{BASELINE_THRESHOLD} (fixed)", ours["baseline"]),
            _row(f"{corpus.name} TF-IDF @{oracle['threshold']} (oracle)", oracle),
        ]
        margin = ours["bcubed"]["f1"] - oracle["bcubed"]["f1"]
        print(
            f"{corpus.name}: BCubed F1 margin over oracle {margin:+.3f} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clustering_eval.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    table = "\n".join(lines)
    (args.out / "clustering_eval.md").write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
