"""Memory: peak RSS of each task type (poll, fetch, index), each in a fresh process.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.memory_bench [--articles 100]

Like an Airflow task, each stage runs in its own interpreter (``--stage`` below) on a shared
home: poll, then fetch, then index, over a generated demo-style site. The process reports
its own peak (VmHWM) and ru_maxrss for its children (the extraction workers of the fetch stage; Linux
reports the largest child, not a sum). The whole deployment's memory is measured by
bench/airflow_bench.py (summed RSS of the process tree while it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import peak_rss_mb, write_result
from pipeline.settings import Settings

STAGES = ("poll", "fetch", "index")
# Not measured: exports the ONNX model file once, as the first index task of a deployment does.
PREPARE = "export-model"


def run_stage(stage: str, home: Path, registry: Path) -> dict[str, object]:
    """Inside the child: one stage, as its Airflow task runs it; then the peaks."""
    from pipeline.embedding import embedder_for
    from pipeline.stages import (
        fetch_batch,
        index_pending,
        plan_feed_batches,
        plan_fetch_batches,
        poll_batch,
    )

    settings = Settings(home=home, registry=registry, allow_hosts=["127.0.0.1"], host_min_delay=0.0)
    if stage == PREPARE:
        summary = [embedder_for(settings).model_id]
    elif stage == "poll":
        summary = [poll_batch(settings, urls) for urls in plan_feed_batches(settings)]
    elif stage == "fetch":
        summary = [fetch_batch(settings, ids) for ids in plan_fetch_batches(settings)]
    else:
        summary = [index_pending(settings)]
    return {
        "stage": stage,
        "peak_rss_mb": peak_rss_mb(),
        "largest_child_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "batches": len(summary),
    }


def run(articles: int) -> dict[str, object]:
    from bench.synthetic_site import GeneratedSite, generate_articles

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, \
            GeneratedSite(generate_articles(articles)) as site:
        registry = site.registry_path(tmp)
        for stage in (PREPARE, *STAGES):
            output = subprocess.run(
                [sys.executable, "-m", "bench.memory_bench", "--stage", stage, "--home", f"{tmp}/home",
                 "--registry", str(registry)],
                check=True, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"},
            ).stdout
            if stage != PREPARE:
                results.append(json.loads(output.strip().splitlines()[-1]))
                print(results[-1], flush=True)
    return {"articles": articles, "embed_backend": Settings().embedding_backend, "stages": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--stage", choices=(PREPARE, *STAGES), help="internal: run one stage in this process")
    parser.add_argument("--home", type=Path)
    parser.add_argument("--registry", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.home, args.registry)))
        return
    print(write_result("memory", run(args.articles), args.output))


if __name__ == "__main__":
    main()
