"""Extraction quality and speed, ours vs plain trafilatura, measured in one run.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.extraction_bench [--workers 2] [--limit N] [--output FILE]

Both extractors run through the same ExtractorPool (so pages/s include the same process
overhead) over the shared ScrapingHub and trafilatura evaluation sets.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import trafilatura

from bench.common import write_result
from pipeline.evaluation.extraction import (
    SegmentCounts,
    date_accuracy,
    extract_plain_trafilatura,
    score_scrapinghub,
    scrapinghub_pages,
    segment_counts,
    trafilatura_eval_pages,
)
from pipeline.extraction import Extracted, ExtractorPool, extract_article
from pipeline.settings import Settings

EXTRACTORS = {"ours": extract_article, "plain_trafilatura": extract_plain_trafilatura}


def run(extract, items, workers: int) -> tuple[dict[str, Extracted], float, int]:
    started = time.perf_counter()
    with ExtractorPool(workers=workers, timeout=120.0, extract=extract) as pool:
        results = dict(pool.extract_many(items))
    elapsed = time.perf_counter() - started
    ok = {key: r for key, r in results.items() if isinstance(r, Extracted)}
    return ok, len(items) / elapsed, len(results) - len(ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, help="the first N pages of each set only (quick runs)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    data_dir = Settings().data_dir

    shub = list(scrapinghub_pages(data_dir))[: args.limit]
    evalset = list(trafilatura_eval_pages(data_dir))[: args.limit]
    report: dict[str, object] = {"trafilatura": trafilatura.__version__, "workers": args.workers}
    for name, extract in EXTRACTORS.items():
        results, rate, errors = run(extract, [(p.id, p.html, p.url) for p in shub], args.workers)
        score = score_scrapinghub(
            {p.id: p.article_body for p in shub},
            {p.id: results[p.id].text if p.id in results else None for p in shub},
        )
        report[f"scrapinghub/{name}"] = {
            "pages": len(shub), "f1": round(score.f1, 4), "precision": round(score.precision, 4),
            "recall": round(score.recall, 4), "pages_per_s": round(rate, 1), "errors": errors,
        }
        results, rate, errors = run(extract, [(p.url, p.html, p.url) for p in evalset], args.workers)
        counts = sum(
            (segment_counts(p, results[p.url].text if p.url in results else None) for p in evalset),
            SegmentCounts(),
        )
        dated = [p for p in evalset if p.date]
        report[f"trafilatura_eval/{name}"] = {
            "pages": len(evalset), "segment_f1": round(counts.f1, 4),
            "date_accuracy": round(
                date_accuracy((p.date, results[p.url].published if p.url in results else None)
                              for p in dated), 4),
            "dated_pages": len(dated), "pages_per_s": round(rate, 1), "errors": errors,
        }
    print(json.dumps(report, indent=2))
    print(write_result("extraction", report, args.output))


if __name__ == "__main__":
    main()
