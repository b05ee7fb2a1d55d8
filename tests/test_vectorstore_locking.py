"""Cross-process locking of the embedded (Qdrant Edge) store, with a real second process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.vectorstore import ARTICLES, LockTimeout
from pipeline.vectorstore.edge import LOCK_NAME, EdgeVectorStore
from pipeline.vectorstore.locking import FileLock

REPO_ROOT = Path(__file__).resolve().parents[1]
DIM = 8
FIRST_BATCH = 5

# Holds one session: writes a first batch, reports "holding", waits for a line on stdin, then
# writes one last point before its session (and the lock) ends.
HOLDER = """
import sys, uuid
from pathlib import Path
from pipeline.vectorstore import ARTICLES, Point
from pipeline.vectorstore.edge import EdgeVectorStore

root, last_id = Path(sys.argv[1]), sys.argv[2]
store = EdgeVectorStore(root)
store.ensure_collections(8, "test-model")
with store.session():
    store.upsert(ARTICLES, [Point(str(uuid.uuid4()), [1.0] * 8, {"batch": 1}) for _ in range(5)])
    print("holding", flush=True)
    sys.stdin.readline()
    store.upsert(ARTICLES, [Point(last_id, [0.5] * 8, {"batch": 2})])
print("released", flush=True)
"""


class Holder:
    def __init__(self, root: Path):
        self.last_id = str(uuid.uuid4())
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root), self.last_id],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == "holding", f"holder did not start: {line!r}"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def finish(self) -> str:
        output, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0
        return output.strip()


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Holder]:
    started = Holder(tmp_path / "vectors")
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def test_a_reader_waits_for_the_writer_and_then_sees_all_its_writes(
    tmp_path: Path, holder: Holder
) -> None:
    reader = EdgeVectorStore(tmp_path / "vectors", lock_timeout=60)
    # Released only once the reader is (almost certainly) already waiting; what the reader
    # then sees proves it ran after the writer's session, whenever the release happened.
    threading.Timer(0.5, holder.release).start()

    count = reader.count(ARTICLES)
    last = reader.get(ARTICLES, [holder.last_id])

    assert count == FIRST_BATCH + 1
    assert [point.payload for point in last] == [{"batch": 2}]
    assert holder.finish() == "released"


def test_a_bounded_wait_times_out_with_a_clear_error(tmp_path: Path, holder: Holder) -> None:
    impatient = EdgeVectorStore(tmp_path / "vectors", lock_timeout=0.3)

    with pytest.raises(LockTimeout) as raised:
        impatient.count(ARTICLES)

    message = str(raised.value)
    assert str(tmp_path / "vectors" / LOCK_NAME) in message
    assert f"pid {holder.process.pid}" in message
    assert "0.3 s" in message
    holder.release()
    assert holder.finish() == "released"
    assert impatient.count(ARTICLES) == FIRST_BATCH + 1  # the failed wait leaked nothing


def test_a_killed_holder_releases_the_lock_and_its_writes_survive(
    tmp_path: Path, holder: Holder
) -> None:
    holder.process.send_signal(signal.SIGKILL)
    holder.process.wait()

    reopened = EdgeVectorStore(tmp_path / "vectors", lock_timeout=10)

    # The first batch was never flushed; Qdrant Edge replays it from its write-ahead log.
    assert reopened.count(ARTICLES) == FIRST_BATCH


def test_file_lock_excludes_a_second_holder_in_the_same_process(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "a.lock"
    first, second = FileLock(path, timeout=0.2), FileLock(path, timeout=0.2)

    with first:
        assert first.held
        with pytest.raises(LockTimeout, match=f"pid {os.getpid()}"):
            second.acquire()
        assert not second.held

    with second:
        assert second.held
    assert not first.held and not second.held
