"""Clustering quality on the five labelled corpora: one configuration, every set.

The bar: our BCubed F1 beats the TF-IDF single-pass baseline at the threshold that is best
*for that set* (chosen with its labels), with the measured values in the failure message.
"""

from __future__ import annotations

import pytest

from pipeline.evaluation.clustering import (
    CORPORA,
    Corpus,
    evaluate_file,
    load_stream,
    sweep_baseline,
)
from pipeline.settings import Settings

pytestmark = [pytest.mark.corpus, pytest.mark.slow]


# Sets where a known gap is accepted (strict xfail: the day one passes, it goes). Empty since
# stories that turn out to hold two events are split (ECB+ moved from -0.023 to +0.006).
KNOWN_GAPS: set[str] = set()


@pytest.mark.timeout(1800)  # allsides: 8,277 documents through the model on a small CPU
@pytest.mark.parametrize(
    "corpus",
    [
        pytest.param(corpus, marks=pytest.mark.xfail(strict=True, reason="known gap, see KNOWN_GAPS"))
        if corpus.name in KNOWN_GAPS else corpus
        for corpus in CORPORA
    ],
    ids=lambda corpus: corpus.name,
)
def test_beats_the_oracle_tfidf_baseline(corpus: Corpus) -> None:
    path = Settings().data_dir / corpus.path
    if not path.is_file():
        pytest.skip(f"labelled corpus not found at {path} (set STORYLINE_DATA_DIR)")
    ours = evaluate_file(path, label_field=corpus.label_field)
    oracle = sweep_baseline(load_stream(path, corpus.label_field))
    measured = (
        f"{corpus.name}: ours BCubed F1 {ours['bcubed']['f1']:.3f} (pairwise "
        f"{ours['pairwise']['f1']:.3f}), TF-IDF at its best threshold {oracle['threshold']}: "
        f"{oracle['bcubed']['f1']:.3f} (pairwise {oracle['pairwise']['f1']:.3f})"
    )
    print(measured)
    assert ours["n_docs"] > 0
    assert ours["bcubed"]["f1"] > oracle["bcubed"]["f1"], measured
