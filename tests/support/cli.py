"""Run the real `storyline` console script in a subprocess with a test's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STORYLINE = str(Path(sys.executable).parent / "storyline")


def storyline_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYLINE_")}
    env.update(
        STORYLINE_HOME=str(home),
        STORYLINE_ALLOW_HOSTS="127.0.0.1",
        STORYLINE_HOST_MIN_DELAY="0",
        STORYLINE_HOST_MAX_CONCURRENCY="4",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    for shared in ("STORYLINE_DATA_DIR", "STORYLINE_MODELS_DIR"):  # read-only or shared by design
        if shared in os.environ:
            env[shared] = os.environ[shared]
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STORYLINE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def run_json(*args: str, env: dict[str, str], timeout: float = 600) -> dict:
    result = run_cli(*args, "--json", env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
