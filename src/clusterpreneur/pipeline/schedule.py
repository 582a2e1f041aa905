"""Where the runner's steps run: in this process one after another (``jobs=1``), or in a small
pool of worker processes, several at once (``jobs > 1``).

:func:`clusterpreneur.pipeline.runner.run_steps` decides what runs when (a step starts once every
step it reads is done); a pool here only runs what it is handed, through the one function that
runs a step, :func:`clusterpreneur.pipeline.runner.execute_step`, and hands back the staged
result. The runner commits results to the cache and records them, in this process, so keys,
bytes and the manifest do not depend on where a step ran.

Why ``concurrent.futures`` with the ``spawn`` context, not Dask distributed: the study is a few
dozen coarse steps on one machine; a process pool of the standard library needs no scheduler
process, nanny, network port or event loop, keeps each step's exceptions and tracebacks, and
lets this module stop its own workers on Ctrl-C. ``spawn`` rather than ``fork``: the parent may
hold threads (the progress bar, a sampler's thread pool) that a forked child would inherit
mid-state. Each worker imports the package once and keeps its compiled functions for the steps
it runs next.

Workers ignore SIGINT (a sampler interrupted mid-run might hand back a partial trace as if it
had finished); on Ctrl-C (or an error in the parent itself) the parent stops them
(SIGTERM) and removes the staging folders they leave. A worker also ends when its parent dies
(Linux: ``PR_SET_PDEATHSIG``), so a killed run leaves no sampler running.

Why one job per CPU by default: run one step at a time, the study leaves a core idle for much of
its time (each fit compiles for several seconds on one thread; the checks and tables are
single-threaded), and two steps at once fill it, although two fits then share the cores (nutpie
samples its chains on threads). Every result is the same bytes whatever the number of jobs, so
``--jobs 1`` is only a matter of speed (and of seeing a step's error in this process).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Iterator
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

from clusterpreneur.errors import ClusterpreneurError
from clusterpreneur.pipeline.cache import CacheEntry, StepCache
from clusterpreneur.pipeline.step import RunContext, Step

logger = logging.getLogger("clusterpreneur.pipeline")

_PR_SET_PDEATHSIG = 1


class InProcess:
    """``jobs=1``: the submitted step runs in this process when :meth:`wait` is called."""

    def __init__(self, ctx: RunContext, cache: StepCache):
        self.ctx, self.cache = ctx, cache
        self._next: tuple[Step, dict[str, CacheEntry], str] | None = None

    @property
    def running(self) -> int:
        return int(self._next is not None)

    @property
    def full(self) -> bool:
        return self._next is not None

    def submit(self, step: Step, upstream: dict[str, CacheEntry], base: str) -> None:
        self._next = (step, upstream, base)

    def wait(self) -> list[tuple[Step, str, Any]]:
        """Run the submitted step; its result, or the exception it raised (Ctrl-C propagates)."""
        from clusterpreneur.pipeline.runner import execute_step

        if self._next is None:
            return []
        step, upstream, base = self._next
        self._next = None
        try:
            return [(step, base, execute_step(step, self.ctx, upstream, self.cache))]
        except Exception as exc:
            return [(step, base, exc)]

    def stop(self) -> None:
        return None


class _WorkerProgress:
    """What a step in a worker sees as ``ctx.progress``: no bar to suspend, no sampler bars (the
    parent shows the run's bar)."""

    sampler_bars = False

    @contextlib.contextmanager
    def suspended(self):
        yield


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return


def _init_worker(pids, parent: int, levels: dict[str, int]) -> None:
    """Set up a worker: report its id, ignore Ctrl-C, end with the parent, log as the parent
    does, and import the package (:func:`clusterpreneur.pipeline.codekey.preload`)."""
    pids.put(os.getpid())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(1)
    logging.basicConfig(level=levels.pop("", logging.WARNING), format="%(message)s", stream=sys.stderr)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    from clusterpreneur.pipeline import codekey, plan  # noqa: F401  (the steps' modules)

    codekey.preload()


def _run_in_worker(step: Step, ctx: RunContext, upstream: dict[str, CacheEntry], cache_root: str):
    """Run one step in a worker (see :func:`clusterpreneur.pipeline.runner.execute_step`)."""
    from clusterpreneur.pipeline.runner import StepError, execute_step

    try:
        return execute_step(step, replace(ctx, progress=_WorkerProgress()), upstream, StepCache(cache_root))
    except ClusterpreneurError as exc:
        try:  # the parent must be able to rebuild the error to raise it
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise StepError(f"step {step.name!r} failed: {type(exc).__name__}: {exc}") from None
        raise


def _levels() -> dict[str, int]:
    """The parent's logging levels: root (``""``) and every logger with a level of its own."""
    out = {"": logging.getLogger().getEffectiveLevel()}
    for name, item in logging.Logger.manager.loggerDict.items():
        if isinstance(item, logging.Logger) and item.level != logging.NOTSET:
            out[name] = item.level
    return out


class WorkerPool:
    """``jobs > 1``: up to ``jobs`` steps at once, each in a worker process (all started at the
    first submit, so a run served from the cache starts none)."""

    def __init__(self, jobs: int, ctx: RunContext, cache: StepCache):
        self.jobs = jobs
        self.ctx = replace(ctx, progress=None)
        self.cache = cache
        self._mp = multiprocessing.get_context("spawn")
        self._pids = self._mp.SimpleQueue()
        self._executor: futures.ProcessPoolExecutor | None = None
        self._running: dict[futures.Future, tuple[Step, str]] = {}
        self._seen: set[int] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def full(self) -> bool:
        return len(self._running) >= self.jobs

    def submit(self, step: Step, upstream: dict[str, CacheEntry], base: str) -> None:
        if self._executor is None:
            self._executor = futures.ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=self._mp,
                initializer=_init_worker,
                initargs=(self._pids, os.getpid(), _levels()),
            )
            for _ in range(self.jobs):  # start every worker now: their imports overlap the first step
                self._executor.submit(os.getpid)
        future = self._executor.submit(_run_in_worker, step, self.ctx, upstream, str(self.cache.root))
        self._running[future] = (step, base)

    def wait(self) -> list[tuple[Step, str, Any]]:
        """Block until at least one running step ends; each ended step with its result or error."""
        if not self._running:
            return []
        done, _ = futures.wait(self._running, return_when=futures.FIRST_COMPLETED)
        out = []
        for future in done:
            step, base = self._running.pop(future)
            exc = future.exception()
            if isinstance(exc, BrokenProcessPool):
                exc = ClusterpreneurError(
                    f"step {step.name!r} failed: its worker process ended abruptly ({exc}). Rerun with "
                    "--jobs 1 (jobs=1) to see the error in this process; a script that runs the study "
                    "with jobs > 1 must do so under `if __name__ == '__main__':` (worker processes "
                    "import the script)"
                )
            out.append((step, base, exc if exc is not None else future.result()))
        return out

    def _worker_pids(self) -> set[int]:
        while not self._pids.empty():
            self._seen.add(self._pids.get())
        return self._seen

    def stop(self) -> None:
        """End the workers: at once if steps are still running (Ctrl-C, an error in this process),
        then remove the staging folders they leave."""
        if self._executor is None:
            return
        unfinished = [step for step, _ in self._running.values()]
        if unfinished:
            for pid in self._worker_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None
        self._running.clear()
        for step in unfinished:
            self.cache.clean_stale(step.name)


@contextlib.contextmanager
def step_pool(jobs: int, ctx: RunContext, cache: StepCache) -> Iterator[InProcess | WorkerPool]:
    """The pool ``run_steps`` hands its steps to; its workers are stopped on leaving, whatever
    happened (on Ctrl-C the steps still running are abandoned, their staging folders removed)."""
    pool = InProcess(ctx, cache) if jobs == 1 else WorkerPool(jobs, ctx, cache)
    try:
        yield pool
    finally:
        pool.stop()
