"""Run every benchmark, each in its own process, and write bench/results/ and docs/BENCHMARKS.md.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.run --full    # make bench (~1 h on 2 cores)
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.run --quick   # make bench-quick (CI, minutes)
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.run --docs-only

--full writes bench/results/<name>.json and regenerates the measured sections of
docs/BENCHMARKS.md from them. --quick runs the same code at small sizes into
bench/results/quick/ and leaves the docs alone; it fails only if a benchmark crashes, never
on a number. ``--only NAME ...`` runs a subset.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import RESULTS_DIR
from bench.report import render

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "BENCHMARKS.md"

# name -> (full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "pipeline": (["--articles", "500", "--repeats", "3"], ["--articles", "40"]),
    "pipeline_torch": (["--articles", "500", "--backend", "torch"], ["--articles", "20", "--backend", "torch"]),
    "embedding": (
        ["--speed-docs", "500", "--cache-dir", "/tmp/storyline-bench-embeddings"],
        ["--speed-docs", "64", "--corpora", "newswcl50"],
    ),
    "vectorstore": (
        ["--sizes", "10000", "50000", "100000", "--local-max", "50000"],
        ["--sizes", "2000", "--local-max", "2000", "--queries", "30", "--local-queries", "5"],
    ),
    "clustering_scaling": (["--stories", "1000", "10000", "100000", "--articles", "400"], ["--stories", "500", "6000", "--articles", "60", "--repeats", "1"]),
    "memory": (["--articles", "100"], ["--articles", "20"]),
    "extraction": ([], ["--limit", "20"]),
    "clustering_quality": (["--cache-dir", "/tmp/storyline-bench-embeddings"], ["--corpora", "wikinews-hscluster"]),
    "airflow": (["--feeds", "50", "--articles", "200", "--new", "100"], ["--feeds", "6", "--articles", "30", "--new", "5"]),
}
MODULES = {name: f"bench.{name}_bench" for name in BENCHMARKS} | {
    "clustering_scaling": "bench.clustering_scaling", "pipeline_torch": "bench.pipeline_bench",
    "clustering_quality": "bench.clustering_eval"}


def run_one(name: str, quick: bool, out_dir: Path) -> dict[str, object]:
    arguments = BENCHMARKS[name][1 if quick else 0]
    output = out_dir / f"{name}.json"
    command = [sys.executable, "-m", MODULES[name], *arguments, "--output", str(output)]
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, check=False)  # a crash is reported, not raised
    return {"name": name, "returncode": completed.returncode, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true")
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--docs-only", action="store_true")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS))
    args = parser.parse_args()
    if not args.docs_only:
        out_dir = RESULTS_DIR / "quick" if args.quick else RESULTS_DIR
        out_dir.mkdir(parents=True, exist_ok=True)
        runs = [run_one(name, args.quick, out_dir) for name in args.only or BENCHMARKS]
        print(json.dumps(runs, indent=2))
        if any(r["returncode"] != 0 for r in runs):
            sys.exit(1)
        if args.quick:
            return
    DOCS.write_text(render(RESULTS_DIR), encoding="utf-8")
    print("wrote", DOCS)


if __name__ == "__main__":
    main()
