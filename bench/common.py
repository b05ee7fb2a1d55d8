"""What every benchmark records next to its numbers: the machine, the versions, the command."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
PACKAGES = ["torch", "sentence-transformers", "transformers", "onnxruntime", "tokenizers",
            "qdrant-client", "qdrant-edge-py", "trafilatura", "apache-airflow", "numpy", "SQLAlchemy"]


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of /proc/cpuinfo (the first core's)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(field):
            return line.split(":", 1)[1].strip()
    return None


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or "unknown"


def vector_extensions() -> list[str]:
    """The CPU's AVX family: the ONNX runtime's speed against torch depends on AVX-512."""
    return sorted({flag for flag in (_cpuinfo("flags") or "").split() if flag.startswith("avx")})


def ram_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return 0.0


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def machine() -> dict[str, object]:
    return {"nproc": os.cpu_count(), "ram_gb": ram_gb(), "cpu": cpu_model(),
            "cpu_vector_extensions": vector_extensions(), "kernel": platform.release(),
            # Other jobs share the machine: the load says how much of it a run had.
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def command_line() -> str:
    """This process's command as a reader would type it from the repository root."""
    return " ".join([".venv/bin/python", *sys.orig_argv[1:]]).replace(f"{REPO}/", "")


def peak_rss_mb() -> float:
    """This process's own peak resident set size (VmHWM; ru_maxrss would carry the parent's
    peak across fork + exec on Linux, so a benchmark's child could report its parent's)."""
    status = Path("/proc/self/status").read_text()
    return round(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024, 1)


def write_result(name: str, data: dict[str, object], output: Path | None = None) -> Path:
    """``bench/results/<name>.json`` with the machine, versions and command around ``data``."""
    record = {
        "benchmark": name,
        "command": command_line(),
        "machine": machine(),
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": data,
    }
    path = output or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def cached_encode(encode: Callable[[Sequence[str]], np.ndarray], cache_dir: Path | None,
                  *key_parts: str) -> Callable[[Sequence[str]], np.ndarray]:
    """``encode``, its vectors kept in ``cache_dir`` (never in the repository) by texts and
    ``key_parts``: the model id, which names the int8 recipe, and the runtime where two
    runtimes share a model id."""
    if cache_dir is None:
        return encode

    def run(texts: Sequence[str]) -> np.ndarray:
        key = hashlib.sha256("\x00".join([*key_parts, *texts]).encode()).hexdigest()[:24]
        path = cache_dir / f"{key}.npy"
        if path.exists():
            return np.load(path)
        vectors = encode(texts)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors

    return run
