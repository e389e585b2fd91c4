"""Where the trials of a sweep run: in this process, in a pool of local processes, or as
tasks on a Ray cluster. All three take ``submit(function, trial, ...) -> Future``;
``renew`` rebuilds a pool that a killed worker broke, and ``generation`` counts rebuilds.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import socket
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any


def _one_thread() -> None:
    """Worker start-up, before torch loads: one thread per trial, so trials do not fight
    over cores."""
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


class InlineExecutor:
    """Runs each trial in the calling process (one trial: the progress bar, as before).
    The other executors share its interface; ``generation`` counts rebuilt pools."""

    generation = 0

    def submit(self, function: Callable, *args) -> Future:
        """Run ``function(*args)`` now; its result or error in a finished future."""
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # a failed trial is reported, not raised
            future.set_exception(error)
        return future

    def renew(self) -> None:
        """Rebuild after a killed worker (nothing to do here)."""

    def close(self) -> None:
        """Release the workers (none here)."""


class LocalExecutor(InlineExecutor):
    """A pool of ``workers`` spawned processes, rebuilt when a killed worker breaks it."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = self._start()

    def _start(self):
        # Spawned workers start clean: a forked torch (threads, locks) is not safe.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_one_thread)

    def submit(self, function: Callable, *args) -> Future:
        """Queue ``function(*args)`` on the pool."""
        return self.pool.submit(function, *args)

    def renew(self) -> None:
        """Replace a broken pool by a fresh one."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._start()
        self.generation += 1

    def close(self) -> None:
        """Stop the workers."""
        self.pool.shutdown(wait=True)


class RayExecutor(InlineExecutor):
    """Trials as Ray tasks of one CPU each on the cluster at ``address`` (Ray replaces
    dead workers itself, so there is nothing to renew)."""

    def __init__(self, address: str):
        self.ray = import_ray()
        check_reachable(address)
        self.ray.init(address=address)
        self.tasks: dict[Callable, Any] = {}

    def submit(self, function: Callable, trial: Any, *args) -> Future:
        """Send the trial to the cluster; workers may start elsewhere, so paths are absolute."""
        if function not in self.tasks:
            # Ray's own retries are off: ours resume from the checkpoint and are reported.
            self.tasks[function] = self.ray.remote(num_cpus=1, max_retries=0)(function)
        trial = dataclasses.replace(trial, out=str(Path(trial.out).absolute()))
        return self.tasks[function].remote(trial, *args).future()

    def close(self) -> None:
        """Disconnect from the cluster (it keeps running)."""
        self.ray.shutdown()


def import_ray():
    """The ``ray`` module, or a clear error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray, which is not installed: "
                         "pip install 'socius[ray]'") from None
    return ray


def check_reachable(address: str) -> None:
    """Fail fast when nothing listens at a ``host:port`` address (Ray itself waits long)."""
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit() or "://" in address:
        return  # "auto", "local" and ray:// client addresses are Ray's to resolve
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise ValueError(f"--ray {address}: no Ray cluster answers there ({error}); start "
                         f"one with 'ray start --head --port={port}'") from None


def make_executor(trials: int, workers: int | None, ray_address: str | None):
    """Ray when an address is given, one local process per worker otherwise (a lone trial
    runs in this process)."""
    if ray_address:
        return RayExecutor(ray_address)
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1; got {workers}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = workers or min(trials, cores or 1)
    return InlineExecutor() if trials == 1 else LocalExecutor(workers)
