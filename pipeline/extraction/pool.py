"""Run extraction in worker processes with a hard per-page timeout and worker recycling.

trafilatura has no timeout and can leak memory, and lxml can crash a process outright. Each
page goes to a worker process; the parent waits at most ``timeout`` seconds, then kills that
worker (``extract_timeout``) and starts a fresh one. A worker that dies mid-page yields
``extract_crash`` for that page only; the batch goes on. Workers are replaced after
``max_pages_per_worker`` pages so leaked memory is returned to the system.

Workers are started with ``spawn``: forking a parent that holds threads (Airflow, torch) can
deadlock the child. spawn also runs the parent's main script again in the child; the workers
need nothing from it, and under Airflow it is the ``airflow`` CLI, which will not start in a
task's environment, so it is hidden from them while they start.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import types
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Self

from pipeline.errors import ErrorClass, StorylineError
from pipeline.extraction.article import Extracted, extract_article

ExtractFn = Callable[[bytes | str, str | None], Extracted]
PageItem = tuple[Hashable, bytes | str, str | None]  # (key, html, url)
PageResult = tuple[Hashable, Extracted | StorylineError]

_CONTEXT = multiprocessing.get_context("spawn")
_MAIN_SWAP = threading.Lock()
_READY = "ready"
_WARM_UP_PAGE = "<html><body><article><p>warm-up</p></article></body></html>"
# Spawning, importing trafilatura and warming up; generous for a loaded 2-core machine.
WORKER_START_TIMEOUT = 120.0
# A worker is replaced after this many pages. Over the 1,171 real pages of the extraction
# sets, twice, one process's memory grew for the first ~600 pages and then stayed flat (about
# 70 MB above its start); a start costs ~0.9 CPU-s, which at 200 pages was a fifth of the
# extraction's CPU.
MAX_PAGES_PER_WORKER = 1000


def _start_without_main_script(process: Any) -> None:
    """process.start() with an empty ``__main__``: spawn then has no script to run in the child."""
    with _MAIN_SWAP:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            sys.modules["__main__"] = main


def _worker_main(connection: Connection, extract: ExtractFn) -> None:
    """Worker loop: receive (key, html, url), send (key, "ok", Extracted) or (key, "error", msg).

    A ``None`` message ends the worker. Exceptions are sent back as text because
    StorylineError does not round-trip through pickle. The worker first warms up (imports and
    lazy initialisation take seconds on a busy machine) and says "ready", so a page's timeout
    measures the page, not the start-up.
    """
    extract(_WARM_UP_PAGE, None)
    connection.send(_READY)
    while (message := connection.recv()) is not None:
        key, html, url = message
        try:
            connection.send((key, "ok", extract(html, url)))
        except Exception as error:  # noqa: BLE001 -- any extractor bug is one page's failure
            connection.send((key, "error", f"{type(error).__name__}: {error}"))


@dataclass
class _Worker:
    process: Any  # multiprocessing.context.SpawnProcess
    connection: Connection
    pages_done: int = 0
    key: Hashable | None = None
    deadline: float | None = None
    ready: bool = False

    @property
    def busy(self) -> bool:
        """Working on a page (a starting worker has a deadline too: its start-up's)."""
        return self.ready and self.deadline is not None


class ExtractorPool:
    """``with ExtractorPool(workers=2) as pool: for key, result in pool.extract_many(items)``.

    Results come in completion order, not input order; each is an :class:`Extracted` or a
    :class:`StorylineError` with class ``extract_timeout`` or ``extract_crash``.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout: float = 30.0,
        max_pages_per_worker: int = MAX_PAGES_PER_WORKER,
        extract: ExtractFn = extract_article,
    ):
        if workers < 1 or max_pages_per_worker < 1 or timeout <= 0:
            raise ValueError("workers, max_pages_per_worker and timeout must be positive")
        self.size = workers
        self.timeout = timeout
        self.max_pages_per_worker = max_pages_per_worker
        self._extract = extract
        self._workers: list[_Worker] = []
        self.workers_started = 0

    def __enter__(self) -> Self:
        """Launch the workers without waiting: they start up while the caller does other work
        (the page stage fetches pages meanwhile)."""
        self._launch_missing()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self._workers:
            self._stop(worker, graceful=worker.ready and not worker.busy)
        self._workers = []

    def _launch(self) -> _Worker:
        parent_end, child_end = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=_worker_main, args=(child_end, self._extract), daemon=True,
            name="storyline-extractor",
        )
        _start_without_main_script(process)
        child_end.close()
        self.workers_started += 1
        return _Worker(process=process, connection=parent_end,
                       deadline=time.monotonic() + WORKER_START_TIMEOUT)

    def _launch_missing(self) -> None:
        while len(self._workers) < self.size:
            self._workers.append(self._launch())

    @staticmethod
    def _ready(worker: _Worker) -> None:
        """A starting worker whose pipe or process woke us: it said "ready", or it died."""
        try:
            message = worker.connection.recv()
        except (EOFError, OSError):
            message = None
        if message != _READY:
            raise ExtractorPool._did_not_start(worker)
        worker.ready, worker.deadline = True, None

    @staticmethod
    def _did_not_start(worker: _Worker) -> StorylineError:
        worker.process.kill()
        return StorylineError(ErrorClass.EXTRACT_CRASH, "extraction worker did not start")

    @staticmethod
    def _stop(worker: _Worker, *, graceful: bool) -> None:
        if graceful:
            try:
                worker.connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()

    def _replace(self, worker: _Worker, *, graceful: bool) -> None:
        """Stop a worker and launch its successor without waiting for it: the other workers
        go on meanwhile, and the successor takes pages once it is ready."""
        self._stop(worker, graceful=graceful)
        self._workers[self._workers.index(worker)] = self._launch()

    def _submit(self, worker: _Worker, item: PageItem) -> None:
        key, html, url = item
        worker.connection.send((key, html, url))
        worker.key, worker.deadline = key, time.monotonic() + self.timeout
        worker.pages_done += 1

    def _collect(self, worker: _Worker) -> PageResult:
        key = worker.key
        try:
            _, status, payload = worker.connection.recv()
        except (EOFError, OSError):
            code = worker.process.exitcode if not worker.process.is_alive() else None
            self._replace(worker, graceful=False)
            return key, StorylineError(ErrorClass.EXTRACT_CRASH, f"worker died (exit code {code})")
        worker.key, worker.deadline = None, None
        if status == "ok":
            return key, payload
        return key, StorylineError(ErrorClass.EXTRACT_CRASH, payload)

    def extract_many(self, items: Iterable[PageItem]) -> Iterator[PageResult]:
        """Extract every (key, html, url); the iterable is consumed lazily. Idle workers get
        their next page before results are handed out, so they work while the caller does."""
        self._launch_missing()
        pending = iter(items)
        item: PageItem | None = None  # taken from `pending`, not yet submitted
        exhausted = False
        results: list[PageResult] = []
        while True:
            for worker in [w for w in self._workers if w.ready and not w.busy]:
                if item is None and not exhausted:
                    item = next(pending, None)
                    exhausted = item is None
                if item is None:
                    break
                if worker.pages_done >= self.max_pages_per_worker:
                    self._replace(worker, graceful=True)
                    continue
                self._submit(worker, item)
                item = None
            yield from results
            results = []
            busy = [w for w in self._workers if w.busy]
            work_left = item is not None or not exhausted
            starting = [w for w in self._workers if not w.ready] if work_left else []
            if not busy and not starting:
                return
            watched = busy + starting
            wait_for = max(0.0, min(w.deadline for w in watched) - time.monotonic())  # type: ignore[type-var]
            by_handle: dict[Any, _Worker] = {}
            for worker in watched:
                by_handle[worker.connection] = worker
                by_handle[worker.process.sentinel] = worker
            woken = {id(by_handle[h]): by_handle[h] for h in wait(list(by_handle), wait_for)}
            for worker in woken.values():
                if worker.ready:
                    results.append(self._collect(worker))
                else:
                    self._ready(worker)
            now = time.monotonic()
            watched_ids = {id(w) for w in watched}
            overdue = [w for w in self._workers
                       if id(w) in watched_ids and w.deadline is not None and w.deadline <= now]
            for worker in overdue:
                if not worker.ready:
                    raise self._did_not_start(worker)
                key = worker.key
                self._replace(worker, graceful=False)
                results.append((key, StorylineError(
                    ErrorClass.EXTRACT_TIMEOUT, f"no result within {self.timeout:g}s; worker killed"
                )))
