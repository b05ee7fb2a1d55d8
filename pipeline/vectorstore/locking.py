"""A cross-process exclusive file lock with a bounded wait.

Qdrant Edge lets one process at a time open a shard directory, and a second, failing open can
break the first process's next flush. So every open is guarded by this lock: callers wait for
it (polling, up to a timeout) instead of ever probing the live shard. ``flock`` locks are
released by the kernel when the holding process dies, so a crash cannot leave a stale lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Self

POLL_INTERVAL = 0.05


class LockTimeout(TimeoutError):
    """The lock stayed taken by another holder for the whole bounded wait."""


class FileLock:
    """Exclusive lock on ``path``. Not re-entrant: a second holder waits, even in one process."""

    def __init__(self, path: Path, timeout: float):
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockTimeout(
                        f"gave up after {self.timeout:g} s waiting for {self.path}: "
                        f"it is held by {holder}; raise the lock timeout or wait for that "
                        "process to finish"
                    ) from None
                time.sleep(POLL_INTERVAL)
        # Record who holds the lock, only to make a timeout message useful.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    return text or "another process"
