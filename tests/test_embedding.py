"""The real embedding model (all-MiniLM-L6-v2 from the offline wheel) and the text we embed."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx as onnx_format
import pytest

from pipeline.embedding import (
    DEFAULT_MODEL_ID,
    LEAD_CHARS,
    Embedder,
    OnnxEmbedder,
    embedder_for,
    embedding_text,
    get_embedder,
)
from pipeline.settings import Settings
from tests.conftest import make_settings

DIMENSION = 384
# Measured with this model on wikinews-hscluster: 0.955 (190 of 199 documents).
MIN_SAME_EVENT_NEIGHBOURS = 0.90


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder()


def test_vectors_have_384_dimensions_and_unit_length(embedder: Embedder) -> None:
    vectors = embedder.encode(["Parliament passes the budget.", "A storm hits the coast."])

    assert embedder.dimension == DIMENSION
    assert vectors.shape == (2, DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_no_texts_give_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.encode([]).shape == (0, DIMENSION)


def test_the_same_event_told_twice_is_closer_than_an_unrelated_one(embedder: Embedder) -> None:
    first, retold, unrelated = embedder.encode(
        [
            "The central bank raised interest rates by half a point to fight inflation.",
            "Inflation fight: the central bank lifts its key rate by 0.5 percentage points.",
            "The football club signed a new striker from Brazil for the coming season.",
        ]
    )

    same_event = float(first @ retold)
    different_event = max(float(first @ unrelated), float(retold @ unrelated))
    assert same_event > different_event + 0.3


def test_the_model_is_loaded_once_per_process() -> None:
    assert get_embedder() is get_embedder()


# Our own texts of very different lengths: padding and truncation must not move a vector.
RUNTIME_TEXTS = [
    "Parliament passes the budget.",
    (
        "The central bank raised interest rates by half a point to fight inflation, its third "
        "increase this year, and signalled that more could follow if prices keep rising."
    ),
    "A storm hits the coast. " * 120,
    "",
]


def test_onnx_fp32_runtime_gives_the_torch_vectors_from_fused_attention(embedder: Embedder, tmp_path) -> None:
    fp32 = embedder_for(make_settings(tmp_path / "home", embed_backend="onnx"))

    assert isinstance(fp32, OnnxEmbedder)
    assert fp32.model_id == embedder.model_id == DEFAULT_MODEL_ID
    cosines = np.sum(fp32.encode(RUNTIME_TEXTS) * embedder.encode(RUNTIME_TEXTS), axis=1)
    assert cosines.min() > 0.9999, cosines
    # One fused attention kernel per layer (MiniLM-L6 has six): what makes it as fast as torch.
    graph = onnx_format.load(str(fp32.model_file), load_external_data=False).graph
    assert sum(node.op_type == "Attention" for node in graph.node) == 6


def test_the_default_int8_runtime_is_close_but_recorded_as_another_model(tmp_path) -> None:
    settings = make_settings(tmp_path / "home")
    int8 = embedder_for(settings)
    torch_vectors = get_embedder().encode(RUNTIME_TEXTS[:3])

    assert settings.embedding_backend == "onnx-int8" and isinstance(int8, OnnxEmbedder)
    assert int8.model_id != DEFAULT_MODEL_ID
    assert np.sum(int8.encode(RUNTIME_TEXTS[:3]) * torch_vectors, axis=1).min() > 0.97
    # Per layer: the attention, its output and the feed-forward input run int8, the
    # feed-forward output stays fp32 (the recipe docs/BENCHMARKS.md section 2 measured).
    ops = Counter(node.op_type for node in
                  onnx_format.load(str(int8.model_file), load_external_data=False).graph.node)
    assert (ops["QAttention"], ops["MatMulInteger"], ops["MatMul"]) == (6, 12, 6), ops


def test_a_configured_model_runs_on_torch_and_onnx_refuses_it(tmp_path) -> None:
    assert make_settings(tmp_path, model="some/other-model").embedding_backend == "torch"
    with pytest.raises(ValueError, match="bundled model only"):
        embedder_for(make_settings(tmp_path, model="some/other-model", embed_backend="onnx"))


def test_embedding_text_puts_title_then_lead_then_body() -> None:
    text = embedding_text("  Title  ", "Body text.\n", lead=" The lead. ")

    assert text == "Title\nThe lead.\nBody text."


def test_embedding_text_drops_empty_parts() -> None:
    assert embedding_text("Title", "   ") == "Title"
    assert embedding_text("", "Body", lead="") == "Body"


def test_embedding_text_keeps_only_the_start_of_a_long_body() -> None:
    body = "word " * 2000

    text = embedding_text("Title", body)

    assert text == "Title\n" + body.strip()[: LEAD_CHARS * 2]


@pytest.mark.corpus
def test_nearest_neighbour_is_mostly_the_same_event(embedder: Embedder) -> None:
    path = Settings().data_dir / "clustering" / "wikinews-hscluster" / "hscluster_events.jsonl"
    if not path.exists():
        pytest.skip(f"evaluation corpus not found at {path} (set STORYLINE_DATA_DIR)")
    documents = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    vectors = embedder.encode(
        [embedding_text(doc.get("title") or "", doc["text"]) for doc in documents]
    )
    events = [doc["event_id"] for doc in documents]

    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    same_event = np.mean([events[i] == events[j] for i, j in enumerate(nearest)])

    assert same_event >= MIN_SAME_EVENT_NEIGHBOURS, f"measured {same_event:.3f}"


def test_an_int8_vector_depends_on_its_text_alone(tmp_path) -> None:
    """int8 activations are quantised with one scale per run, so a text batched with others
    got another vector than alone. One text per run: the same vector whatever it is encoded
    with, in whatever order, and however many runs go side by side (fixed, or changed while
    an encode goes on)."""
    int8 = embedder_for(make_settings(tmp_path / "home"))
    texts = [f"{text} (report {n})" for n in range(12) for text in RUNTIME_TEXTS[:3]]
    asked: list[int] = []

    def one_core_then_all() -> int | None:
        asked.append(1)
        return 1 if len(asked) == 1 else None

    side_by_side = int8.encode(texts)
    assert np.array_equal(side_by_side[:1], int8.encode(texts[:1]))
    assert np.array_equal(side_by_side[::-1], int8.encode(texts[::-1]))
    assert np.array_equal(side_by_side, int8.encode(texts, cores=1))
    assert np.array_equal(side_by_side, int8.encode(texts, cores=one_core_then_all))
    assert len(asked) >= 2, "the cores are asked again as the encode goes on"


def test_torch_on_fewer_cores_gives_the_same_vectors_and_gives_the_threads_back(embedder: Embedder,
                                                                                 monkeypatch) -> None:
    """`storyline run` embeds on one core beside fetching: torch runs that call on one thread
    (the calls are recorded, torch still does the work), then has all of them again."""
    import torch

    threads, asked = torch.get_num_threads(), []
    set_num_threads = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (asked.append(n), set_num_threads(n)))
    texts = RUNTIME_TEXTS[:3]
    assert np.allclose(embedder.encode(texts, cores=1), embedder.encode(texts), atol=1e-5)
    assert asked[0] == 1 and torch.get_num_threads() == threads
