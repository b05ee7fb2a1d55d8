"""Extraction metrics of the two shared benchmarks, and loaders for their pages.

* ScrapingHub article-extraction-benchmark: the benchmark's own 4-token shingle metric
  (per-page normalised TP/FP/FN, precision and recall averaged over pages).
* trafilatura evaluation set: whitespace-normalised substring match of the ``with`` and
  ``without`` segments, counts summed over all pages.

The definitions follow ``extraction/README.md`` of the shared data folder; the shingle code
is checked against the published F1 of ``output/trafilatura.json`` in the tests.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from statistics import mean

import trafilatura

from pipeline.extraction.article import Extracted

SCRAPINGHUB_DIR = Path("extraction/scrapinghub-article-extraction-benchmark")
TRAFILATURA_EVAL_DIR = Path("extraction/trafilatura-eval")

_TOKEN_RE = re.compile(r"\w+")
_SPACE_RE = re.compile(r"\s+")
SHINGLE_SIZE = 4


# --- ScrapingHub shingle metric ------------------------------------------------------------


@dataclass(frozen=True)
class ShingleCounts:
    """One page's shingle TP/FP/FN, divided by their sum so long pages do not weigh more."""

    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


def _shingles(text: str | None) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN_RE.findall(text or "")
    # A text shorter than one shingle is one short shingle (an empty text has none).
    count = max(1, len(tokens) - SHINGLE_SIZE + 1)
    return Counter(
        shingle for i in range(count) if (shingle := tuple(tokens[i : i + SHINGLE_SIZE]))
    )


def shingle_counts(true: str | None, pred: str | None) -> ShingleCounts:
    true_shingles, pred_shingles = _shingles(true), _shingles(pred)
    tp = sum((true_shingles & pred_shingles).values())
    fp = sum((pred_shingles - true_shingles).values())
    fn = sum((true_shingles - pred_shingles).values())
    total = tp + fp + fn
    if total == 0:
        return ShingleCounts(0.0, 0.0, 0.0)
    return ShingleCounts(tp / total, fp / total, fn / total)


def _page_precision(c: ShingleCounts) -> float:
    if c.fp == c.fn == 0:
        return 1.0
    if c.tp == c.fp == 0:
        return 0.0
    return c.tp / (c.tp + c.fp)


def _page_recall(c: ShingleCounts) -> float:
    if c.fp == c.fn == 0:
        return 1.0
    if c.tp == c.fn == 0:
        return 0.0
    return c.tp / (c.tp + c.fn)


def shingle_score(pages: Iterable[ShingleCounts]) -> PRF:
    pages = list(pages)
    precision = mean(_page_precision(c) for c in pages if c.tp + c.fp > 0)
    recall = mean(_page_recall(c) for c in pages if c.tp + c.fn > 0)
    return PRF(precision, recall, 2 * precision * recall / (precision + recall))


def score_scrapinghub(truth: Mapping[str, str], predicted: Mapping[str, str | None]) -> PRF:
    """Score predicted bodies (page id -> text or None) against the ground-truth bodies."""
    if truth.keys() != predicted.keys():
        raise ValueError("predicted page ids do not match the ground truth")
    return shingle_score(shingle_counts(truth[key], predicted[key]) for key in truth)


@dataclass(frozen=True)
class ScrapinghubPage:
    id: str
    url: str | None
    html: bytes
    article_body: str


def _read_json(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def scrapinghub_truth(data_dir: Path) -> dict[str, str]:
    ground_truth = _read_json(data_dir / SCRAPINGHUB_DIR / "ground-truth.json")
    return {key: value.get("articleBody", "") for key, value in ground_truth.items()}


def scrapinghub_published_output(data_dir: Path, system: str) -> dict[str, str | None]:
    """A published system's bodies (``output/<system>.json``, optionally version-wrapped)."""
    document = _read_json(data_dir / SCRAPINGHUB_DIR / "output" / f"{system}.json")
    output = document.get("output", document) if "version" in document else document
    return {key: value.get("articleBody") for key, value in output.items()}


def scrapinghub_pages(data_dir: Path) -> Iterator[ScrapinghubPage]:
    root = data_dir / SCRAPINGHUB_DIR
    for key, item in _read_json(root / "ground-truth.json").items():
        html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes())
        yield ScrapinghubPage(
            id=key, url=item.get("url"), html=html, article_body=item.get("articleBody", "")
        )


# --- trafilatura evaluation-set segment metric ----------------------------------------------


def _normalise_space(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


@dataclass(frozen=True)
class SegmentCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: SegmentCounts) -> SegmentCounts:
        return SegmentCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


@dataclass(frozen=True)
class EvalPage:
    url: str
    html: bytes
    with_segments: tuple[str, ...]
    without_segments: tuple[str, ...]
    date: str | None
    title: str | None


def segment_counts(page: EvalPage, text: str | None) -> SegmentCounts:
    """TP = a ``with`` segment found, FN = one missing, FP = a ``without`` segment found."""
    found = _normalise_space(text) if text else ""
    tp = sum(1 for segment in page.with_segments if _normalise_space(segment) in found)
    fp = sum(1 for segment in page.without_segments if _normalise_space(segment) in found)
    return SegmentCounts(tp=tp, fp=fp, fn=len(page.with_segments) - tp)


def trafilatura_eval_pages(data_dir: Path) -> Iterator[EvalPage]:
    """Annotated pages; a file name resolves first in ``cache/`` then in ``eval/``."""
    root = data_dir / TRAFILATURA_EVAL_DIR
    for url, item in _read_json(root / "evaldata.json").items():
        candidates = (root / folder / f"{item['file']}.gz" for folder in ("cache", "eval"))
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is None:
            continue
        yield EvalPage(
            url=url,
            html=gzip.decompress(path.read_bytes()),
            with_segments=tuple(item["with"]),
            without_segments=tuple(item["without"]),
            date=item.get("date") or None,
            title=item.get("title") or None,
        )


def date_accuracy(expected_and_found: Iterable[tuple[str, date | None]]) -> float:
    """Share of pages whose extracted day equals the annotated ``YYYY-MM-DD`` (as written)."""
    pairs = list(expected_and_found)
    hits = sum(1 for expected, found in pairs if found and found.isoformat() == expected[:10])
    return hits / len(pairs) if pairs else 0.0


def extract_plain_trafilatura(html: bytes | str, url: str | None) -> Extracted:
    """The baseline: one ``trafilatura.extract(..., with_metadata=True)`` call, as Extracted.

    Top-level so it can run in :class:`~pipeline.extraction.pool.ExtractorPool` workers.
    """
    found = trafilatura.extract(
        html, url=url, with_metadata=True, include_comments=False, output_format="json"
    )
    fields = json.loads(found) if found else {}
    day = fields.get("date")
    return Extracted(
        url=url, canonical_url=fields.get("url") or url, title=fields.get("title"),
        text=fields.get("text") or "", author=fields.get("author"),
        published=date.fromisoformat(day[:10]) if day else None, updated=None,
        sitename=fields.get("sitename"), language=fields.get("language"),
        description=fields.get("description"), is_article=bool(found), skip_reason=None,
    )
