"""Quality bars over the shared extraction benchmarks (../shared/data/extraction).

Measured at test time with the production code path (ExtractorPool, 2 workers).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from pipeline.evaluation.extraction import (
    SCRAPINGHUB_DIR,
    TRAFILATURA_EVAL_DIR,
    EvalPage,
    SegmentCounts,
    date_accuracy,
    extract_plain_trafilatura,
    score_scrapinghub,
    scrapinghub_pages,
    scrapinghub_published_output,
    scrapinghub_truth,
    segment_counts,
    trafilatura_eval_pages,
)
from pipeline.extraction import Extracted, ExtractorPool
from pipeline.settings import Settings

pytestmark = pytest.mark.corpus

SCRAPINGHUB_F1_BAR = 0.960  # plain trafilatura 2.3.1
SEGMENT_F1_BAR = 0.926  # plain trafilatura 2.3.1
EXTRACT_TIMEOUT = 120.0  # generous: the machine is shared; a timeout here is a real failure


def data_dir_or_skip(subdir: Path) -> Path:
    data_dir = Settings().data_dir
    if not (data_dir / subdir).is_dir():
        pytest.skip(f"evaluation data not found at {data_dir / subdir} (STORYLINE_DATA_DIR)")
    return data_dir


def run_pool(items: list[tuple[str, bytes, str | None]], extract=None) -> dict[str, Extracted]:
    kwargs = {"extract": extract} if extract else {}
    with ExtractorPool(workers=2, timeout=EXTRACT_TIMEOUT, **kwargs) as pool:
        results = dict(pool.extract_many(items))
    failures = {key: r for key, r in results.items() if not isinstance(r, Extracted)}
    assert not failures, failures
    return results  # type: ignore[return-value]


@cache
def scrapinghub_results() -> dict[str, Extracted]:
    data_dir = data_dir_or_skip(SCRAPINGHUB_DIR)
    return run_pool([(p.id, p.html, p.url) for p in scrapinghub_pages(data_dir)])


@cache
def eval_pages() -> tuple[EvalPage, ...]:
    return tuple(trafilatura_eval_pages(data_dir_or_skip(TRAFILATURA_EVAL_DIR)))


@cache
def eval_results() -> dict[str, Extracted]:
    return run_pool([(p.url, p.html, p.url) for p in eval_pages()])


def test_metric_reproduces_published_scores() -> None:
    data_dir = data_dir_or_skip(SCRAPINGHUB_DIR)
    truth = scrapinghub_truth(data_dir)
    published = {"trafilatura": 0.958, "readability_js": 0.947, "goose3": 0.896}
    for system, f1 in published.items():
        measured = score_scrapinghub(truth, scrapinghub_published_output(data_dir, system)).f1
        assert round(measured, 3) == f1, (system, measured)


def test_scrapinghub_shingle_f1() -> None:
    data_dir = data_dir_or_skip(SCRAPINGHUB_DIR)
    ours = {key: result.text for key, result in scrapinghub_results().items()}
    score = score_scrapinghub(scrapinghub_truth(data_dir), ours)
    print(f"ScrapingHub shingle F1 {score.f1:.4f} (P {score.precision:.4f}, R {score.recall:.4f})")
    assert score.f1 >= SCRAPINGHUB_F1_BAR


def test_scrapinghub_articles_pass_the_gates() -> None:
    # Every benchmark page is a news article: the gates must not skip them.
    skipped = {key: r.skip_reason for key, r in scrapinghub_results().items() if not r.is_article}
    assert len(skipped) <= 0.01 * len(scrapinghub_results()), skipped


def test_trafilatura_eval_segment_f1() -> None:
    results = eval_results()
    total = sum((segment_counts(page, results[page.url].text) for page in eval_pages()),
                SegmentCounts())
    print(f"trafilatura-eval segment F1 {total.f1:.4f} ({total})")
    assert total.f1 >= SEGMENT_F1_BAR


def test_date_accuracy_beats_plain_trafilatura() -> None:
    dated = [page for page in eval_pages() if page.date]
    results = eval_results()
    plain = run_pool([(p.url, p.html, p.url) for p in dated], extract_plain_trafilatura)
    ours_accuracy = date_accuracy((p.date, results[p.url].published) for p in dated)
    plain_accuracy = date_accuracy((p.date, plain[p.url].published) for p in dated)
    print(f"date accuracy on {len(dated)} pages: ours {ours_accuracy:.4f}, "
          f"plain {plain_accuracy:.4f}")
    assert ours_accuracy > plain_accuracy
