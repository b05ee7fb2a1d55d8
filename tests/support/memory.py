"""Peak memory of the current process, for tests that run the measured work in a fresh one."""

from __future__ import annotations

import re
from pathlib import Path


def peak_rss_mib() -> float:
    """VmHWM, this process's own peak: ru_maxrss would carry the parent's peak across
    fork + exec on Linux, so a child of a large test runner could never report growth."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
