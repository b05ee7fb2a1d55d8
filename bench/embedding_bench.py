"""Embedding backend: torch vs ONNX fp32 vs ONNX int8 -- docs/s, agreement, clustering F1.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.embedding_bench [--speed-docs 500]
        [--corpora NAME ...] [--cache-dir DIR]   (default: all five labelled sets)

Speed: the same texts (the first documents of the labelled sets, as the index stage builds
them) through each backend as the index stage runs it (torch in batches of 32, ONNX one text
per run, runs side by side), window 256, in one process, model load excluded, interleaved in rounds.
Agreement: mean and minimum cosine of each backend's vectors to torch's. Quality: BCubed F1
of the production clusterer on each labelled set with each backend's vectors. The ONNX files
are exported into ``--onnx-dir`` (default: a temporary folder, so the export is timed too).
Vectors are cached per backend under ``--cache-dir`` (never in the repository).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import cached_encode, peak_rss_mb, write_result
from pipeline.embedding import ONNX_SUBDIR, Embedder, OnnxEmbedder, embedding_text
from pipeline.evaluation.clustering import CORPORA, bcubed_scores, cluster_docs, load_stream
from pipeline.settings import Settings

SPEED_ROUNDS = 4


def speed_texts(data_dir: Path, count: int) -> list[str]:
    texts: list[str] = []
    for corpus in CORPORA:
        docs = load_stream(data_dir / corpus.path, corpus.label_field)
        texts += [embedding_text(doc.title, doc.text) for doc in docs[: count // len(CORPORA) + 1]]
    return texts[:count]


# A fresh process per backend, as each Airflow index task is: imports, model load, one text.
COLD_START = """
import sys, time
started = time.perf_counter()
from pathlib import Path
from pipeline.embedding import get_embedder
get_embedder(None, sys.argv[1], Path(sys.argv[2])).encode(["A first article to embed."])
seconds = time.perf_counter() - started
from bench.common import peak_rss_mb
print(seconds, peak_rss_mb())
"""
COLD_START_RUNS = 3


def cold_start(backend: str, onnx_dir: Path) -> dict[str, float]:
    """Median seconds and peak RSS of a fresh process that loads the backend and embeds once
    (the ONNX files already exported)."""
    runs = []
    for _ in range(COLD_START_RUNS):
        output = subprocess.run(
            [sys.executable, "-c", COLD_START, backend, str(onnx_dir)], check=True, capture_output=True,
            text=True, cwd=Path(__file__).resolve().parent.parent,
        ).stdout.split()
        runs.append((float(output[-2]), float(output[-1])))
    return {"seconds": round(statistics.median(r[0] for r in runs), 2),
            "peak_rss_mb": round(max(r[1] for r in runs))}


def run(speed_docs: int, corpora: list[str], cache_dir: Path | None, onnx_dir: Path) -> dict[str, object]:
    data_dir = Settings().data_dir
    backends: dict[str, object] = {"torch": Embedder()}
    export_seconds = {}
    for precision in ("fp32", "int8"):
        started = time.perf_counter()
        backends[f"onnx_{precision}"] = OnnxEmbedder(onnx_dir / ONNX_SUBDIR, precision=precision)  # type: ignore[arg-type]
        export_seconds[f"onnx_{precision}"] = round(time.perf_counter() - started, 1)
    texts = speed_texts(data_dir, speed_docs)
    for backend in backends.values():
        backend.encode(texts[:32])  # type: ignore[attr-defined]  # first-call warm-up
    # Interleaved in rounds, so a change in the machine's load hits every backend alike.
    seconds = dict.fromkeys(backends, 0.0)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in backends}
    chunk = max(1, -(-len(texts) // SPEED_ROUNDS))
    for start in range(0, len(texts), chunk):
        for name, backend in backends.items():
            started = time.perf_counter()
            parts[name].append(backend.encode(texts[start : start + chunk]))  # type: ignore[attr-defined]
            seconds[name] += time.perf_counter() - started
    vectors = {name: np.vstack(chunks) for name, chunks in parts.items()}
    speed = {name: round(len(texts) / seconds[name], 2) for name in backends}
    print(speed, "docs/s", flush=True)
    agreement = {
        name: {"mean_cosine": round(float((v * vectors["torch"]).sum(1).mean()), 4),
               "min_cosine": round(float((v * vectors["torch"]).sum(1).min()), 4)}
        for name, v in vectors.items() if name != "torch"
    }
    quality: dict[str, dict[str, float]] = {}
    for corpus in [c for c in CORPORA if c.name in corpora]:
        docs = load_stream(data_dir / corpus.path, corpus.label_field)
        doc_texts = [embedding_text(doc.title, doc.text) for doc in docs]
        truth = [doc.label for doc in docs]
        quality[corpus.name] = {}
        for name, backend in backends.items():
            embedded = cached_encode(backend.encode, cache_dir, name, backend.model_id)(doc_texts)  # type: ignore[attr-defined]
            quality[corpus.name][name] = round(bcubed_scores(truth, cluster_docs(docs, embedded)).f1, 4)
        print(corpus.name, quality[corpus.name], flush=True)
    return {
        "texts": len(texts),
        "docs_per_s": speed,
        "speedup_vs_torch": {name: round(rate / speed["torch"], 2) for name, rate in speed.items()},
        "agreement_vs_torch": agreement,
        "bcubed_f1": quality,
        "max_f1_change_vs_torch": {
            name: round(max(abs(q[name] - q["torch"]) for q in quality.values()), 4) if quality else None
            for name in backends if name != "torch"
        },
        "goals": {"mean_cosine": 0.99, "f1_change": 0.005},
        "export_and_load_s": export_seconds,
        "cold_start": {name: cold_start(name.replace("onnx_fp32", "onnx").replace("onnx_int8", "onnx-int8"), onnx_dir)
                       for name in backends},
        "peak_rss_mb_all_backends": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-docs", type=int, default=500)
    parser.add_argument("--corpora", nargs="*", default=[corpus.name for corpus in CORPORA])
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--onnx-dir", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        result = run(args.speed_docs, args.corpora, args.cache_dir, args.onnx_dir or Path(tmp))
    print(write_result("embedding", result, args.output))


if __name__ == "__main__":
    main()
