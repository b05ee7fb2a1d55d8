"""Story clustering against labelled corpora: metrics, a TF-IDF baseline and the runner.

Metrics (see ../shared/data/README.md): pairwise precision/recall/F1 over all document pairs
(Miranda et al. 2018) and BCubed precision/recall/F1 (per document, so giant stories cannot
dominate). The baseline is the classic single-pass clusterer: TF-IDF vectors, cosine to each
cluster's centroid, join the best cluster above one threshold, else start a new one.

The runner streams a JSONL file through :class:`pipeline.clustering.OnlineClusterer` in date
order (file order when there are no dates), embedded by the runtime the settings configure
(the pipeline's own); the label field is read only for scoring.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

import numpy as np

from pipeline.clustering import (
    ClusterConfig,
    ClusterItem,
    NumpyCentroidIndex,
    OnlineClusterer,
)
from pipeline.embedding import embedder_for, embedding_text
from pipeline.settings import Settings

#: The threshold the runner's baseline uses, fixed in advance: the middle of the per-set best
#: thresholds measured on the five labelled sets (0.20 to 0.35).
BASELINE_THRESHOLD = 0.3
BASELINE_SWEEP = tuple(round(0.05 * step, 2) for step in range(1, 15))  # 0.05 .. 0.70

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Corpus:
    name: str
    path: str  # relative to Settings().data_dir
    label_field: str


#: The labelled sets under ../shared/data/clustering (see its README).
CORPORA = (
    Corpus("allsides-neus", "clustering/allsides-neus/allsides_neus_trainval.jsonl", "story_id"),
    Corpus("ecbplus", "clustering/ecbplus/ecbplus_docs.jsonl", "cluster_id"),
    Corpus(
        "wikinews-hscluster", "clustering/wikinews-hscluster/hscluster_events.jsonl", "event_id"
    ),
    Corpus("newswcl50", "clustering/newswcl50/newswcl50_docs.jsonl", "event_id"),
    Corpus("wikiref220", "clustering/wikiref220/wikiref220_docs.jsonl", "topic"),
)


# --- metrics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    p: float
    r: float
    f1: float

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "r": self.r, "f1": self.f1}


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _contingency(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> Counter:
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels but {len(predicted)} predictions")
    return Counter(zip(truth, predicted, strict=True))


def pairwise_scores(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> Scores:
    """Pairs of documents put together: precision over predicted pairs, recall over true pairs.

    With no predicted (or no true) pairs the ratio is vacuous and counts as 1.
    """
    joint = _contingency(truth, predicted)

    def pairs(counts: Iterable[int]) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    together = pairs(joint.values())
    predicted_pairs = pairs(Counter(predicted).values())
    true_pairs = pairs(Counter(truth).values())
    p = together / predicted_pairs if predicted_pairs else 1.0
    r = together / true_pairs if true_pairs else 1.0
    return Scores(p, r, _f1(p, r))


def bcubed_scores(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> Scores:
    """Mean over documents of |own predicted ∩ own true cluster| / |own predicted| (P) or
    / |own true| (R); each document counts itself."""
    joint = _contingency(truth, predicted)
    n = len(truth)
    if n == 0:
        return Scores(1.0, 1.0, 1.0)
    true_sizes, predicted_sizes = Counter(truth), Counter(predicted)
    # Every one of the `count` documents in a (true, predicted) cell scores count/size.
    p = sum(count * count / predicted_sizes[pred] for (_, pred), count in joint.items()) / n
    r = sum(count * count / true_sizes[true] for (true, _), count in joint.items()) / n
    return Scores(p, r, _f1(p, r))


# --- TF-IDF single-pass baseline ---------------------------------------------------------

_WORD = re.compile(r"\w\w+")
_STOPWORDS = frozenset(
    [
        "about",
        "after",
        "again",
        "against",
        "all",
        "also",
        "and",
        "any",
        "are",
        "because",
        "been",
        "before",
        "being",
        "between",
        "both",
        "but",
        "can",
        "could",
        "did",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "into",
        "its",
        "itself",
        "just",
        "more",
        "most",
        "myself",
        "nor",
        "not",
        "now",
        "off",
        "once",
        "only",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "too",
        "under",
        "until",
        "very",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "said",
        "says",
    ]
)


def tfidf_vectors(texts: Sequence[str]) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Sparse L2-normalised TF-IDF vectors (term ids, weights) and the vocabulary size.

    Sublinear tf (1 + log tf) and smoothed idf over the whole collection. Terms that occur in
    one document only cannot make two documents similar: they count in the norm, then are
    dropped, which keeps the vocabulary (and the centroid matrix) small.
    """
    counts = [Counter(w for w in _WORD.findall(t.lower()) if w not in _STOPWORDS) for t in texts]
    df = Counter(term for c in counts for term in c)
    n = len(texts)
    idf = {term: math.log((1 + n) / (1 + d)) + 1 for term, d in df.items()}
    vocabulary = {term: i for i, term in enumerate(sorted(t for t, d in df.items() if d > 1))}
    vectors = []
    for c in counts:
        weights = {term: (1 + math.log(tf)) * idf[term] for term, tf in c.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        kept = sorted((vocabulary[t], w / norm) for t, w in weights.items() if t in vocabulary)
        ids = np.array([i for i, _ in kept], dtype=np.int64)
        values = np.array([w for _, w in kept], dtype=np.float64)
        vectors.append((ids, values))
    return vectors, len(vocabulary)


def single_pass_tfidf(
    vectors: Sequence[tuple[np.ndarray, np.ndarray]], dimension: int, threshold: float
) -> list[int]:
    """Cluster ids in stream order: join the most similar centroid if cosine >= threshold."""
    sums = np.zeros((64, dimension), dtype=np.float32)
    norms_sq = np.zeros(64)
    clusters = 0
    assigned: list[int] = []
    for ids, values in vectors:
        dots = sums[:clusters, ids] @ values if clusters else np.zeros(0)
        cosines = dots / np.sqrt(np.maximum(norms_sq[:clusters], 1e-12))
        best = int(np.argmax(cosines)) if clusters else -1
        if best < 0 or cosines[best] < threshold:
            if clusters == sums.shape[0]:
                sums = np.vstack([sums, np.zeros_like(sums)])
                norms_sq = np.concatenate([norms_sq, np.zeros_like(norms_sq)])
            best, clusters = clusters, clusters + 1
            dots = np.zeros(clusters)
        # |s + d|^2 = |s|^2 + 2 s.d + |d|^2, with |d| = 1 (or 0 for an empty document).
        norms_sq[best] += 2 * dots[best] + float(values @ values)
        sums[best, ids] += values
        assigned.append(best)
    return assigned


# --- corpora ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledDoc:
    id: str
    title: str
    text: str
    published_at: datetime | None
    label: Hashable


def _parse_date(value: object) -> datetime | None:
    if not value:
        return None
    text = str(value)
    if len(text) == 10:  # a bare date: noon UTC, the middle of the news day
        return datetime.combine(datetime.fromisoformat(text).date(), time(12), UTC)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_stream(
    path: Path,
    label_field: str,
    text_field: str = "text",
    title_field: str = "title",
    date_field: str = "date",
) -> list[LabelledDoc]:
    """The corpus in stream order: by date when every document has one, else file order."""
    docs = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            row = json.loads(line)
            docs.append(
                LabelledDoc(
                    id=str(row.get("doc_id", number)),
                    title=str(row.get(title_field) or ""),
                    text=str(row.get(text_field) or ""),
                    published_at=_parse_date(row.get(date_field)),
                    label=row[label_field],
                )
            )
    if docs and all(doc.published_at is not None for doc in docs):
        docs.sort(key=lambda doc: doc.published_at)  # stable: same-day documents keep file order
    return docs


def embed_docs(docs: Sequence[LabelledDoc], embed: Embed | None = None) -> np.ndarray:
    texts = [embedding_text(doc.title, doc.text) for doc in docs]
    return (embed or embedder_for(Settings()).encode)(texts)


def cluster_docs(
    docs: Sequence[LabelledDoc], vectors: np.ndarray, config: ClusterConfig | None = None
) -> list[str]:
    """Story ids in stream order, from the production clusterer (labels never passed in)."""
    clusterer = OnlineClusterer(NumpyCentroidIndex(vectors.shape[1]), config)
    for doc, vector in zip(docs, vectors, strict=True):
        clusterer.add(ClusterItem(doc.id, vector, doc.title, doc.text, doc.published_at))
    clusterer.merge_pass()
    return [clusterer.story_of(doc.id) or "" for doc in docs]


def _baseline_texts(docs: Sequence[LabelledDoc]) -> list[str]:
    return [f"{doc.title}\n{doc.text}" for doc in docs]


def baseline_scores(docs: Sequence[LabelledDoc], threshold: float = BASELINE_THRESHOLD) -> dict:
    vectors, dimension = tfidf_vectors(_baseline_texts(docs))
    return _score([d.label for d in docs], single_pass_tfidf(vectors, dimension, threshold))


def sweep_baseline(
    docs: Sequence[LabelledDoc], thresholds: Sequence[float] = BASELINE_SWEEP
) -> dict:
    """The baseline at its best threshold by BCubed F1, chosen *with the labels* (an oracle:
    an upper bound for what one tuned TF-IDF threshold can do on this set)."""
    vectors, dimension = tfidf_vectors(_baseline_texts(docs))
    truth = [d.label for d in docs]
    runs = [
        {"threshold": t, **_score(truth, single_pass_tfidf(vectors, dimension, t))}
        for t in thresholds
    ]
    return max(runs, key=lambda run: run["bcubed"]["f1"])


def _score(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> dict:
    return {
        "n_stories": len(set(predicted)),
        "pairwise": pairwise_scores(truth, predicted).as_dict(),
        "bcubed": bcubed_scores(truth, predicted).as_dict(),
    }


def evaluate_file(
    path: Path,
    label_field: str,
    text_field: str = "text",
    title_field: str = "title",
    date_field: str = "date",
    *,
    config: ClusterConfig | None = None,
    embed: Embed | None = None,
) -> dict:
    """Stream one labelled JSONL file through the clusterer and score it and the baseline.

    Returns ``{"n_docs", "n_stories", "pairwise", "bcubed", "baseline"}``; the baseline runs
    at :data:`BASELINE_THRESHOLD`.
    """
    docs = load_stream(path, label_field, text_field, title_field, date_field)
    ours = _score([d.label for d in docs], cluster_docs(docs, embed_docs(docs, embed), config))
    return {"n_docs": len(docs), **ours, "baseline": baseline_scores(docs)}
