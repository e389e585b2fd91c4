"""The experiment grid: many runs of one experiment, in parallel, gathered into one table.

``socius run X --grid key=a,b --grid other=c,d --seeds K`` expands to every combination of
the grid values times the seeds. Each trial trains into its own run directory,
``<out>/key=a,other=c-seed<S>`` (plain ``--seeds K`` keeps ``<out>-seed<S>``), so a sweep that
is killed or rerun picks up where it stopped: a finished trial (``result.json`` beside its
run) is not trained again, an unfinished one continues from its checkpoint. A trial that
fails (an exception or a killed worker) is tried again from its checkpoint up to
``retries`` times; the others go on. Trials run in local processes, or on a Ray cluster.
The final metrics of every cell (mean and 95% bootstrap interval over seeds) go to a
markdown table, ``grid.md``, and the learning curves with seed bands to ``grid.png``.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import json
import os
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT = "result.json"
"""Written into a trial's run directory when the trial has finished."""


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: a grid cell and a seed, trained into ``out``."""

    experiment: str
    module: str
    """Import path of the experiment's module (``config_from``, ``run``, and ``FINAL`` and
    ``CURVES``: what its table and figure show)."""
    cell: str
    """The grid values, ``key=value,...`` (empty without a grid)."""
    seed: int
    config: Any
    out: str


@dataclass
class Outcome:
    """What became of a trial: its result, or the errors of every failed attempt."""

    trial: Trial
    result: dict | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """``["key=a,b", ...]`` as ``[(key, ["a", "b"]), ...]``; commas inside brackets stay."""
    grid, seen = [], set()
    for item in items:
        key, separator, text = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValueError(f"--grid {item!r} must look like key=value1,value2")
        if key == "seed":
            raise ValueError("--grid key 'seed': use --seeds K for seeds 0..K-1")
        if key in seen:
            raise ValueError(f"--grid key {key!r} is given twice; list its values once")
        values = split_values(text)
        if not values or any(not value for value in values):
            raise ValueError(f"--grid key {key!r} needs values such as {key}=1,2; got {text!r}")
        seen.add(key)
        grid.append((key, values))
    return grid


def split_values(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, so ``[[0, 1]],[[2, 3]]`` is two values."""
    values, depth, current = [], 0, ""
    for character in text:
        depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += character
    return values + [current.strip()] if text.strip() else []


def expand(experiment: str, module, base: dict, overrides: list[str], grid: list[str],
           seeds: int, out: str | Path) -> list[Trial]:
    """Every trial of the grid times seeds 0..seeds-1 (one seed: the config's own), each
    config parsed by the experiment's own field types; bad keys or values name the key."""
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1; got {seeds}")
    cells = parse_grid(grid)
    for key, values in cells:
        for value in values:
            try:
                module.config_from(base, [*overrides, f"{key}={value}"])
            except ValueError as error:
                raise ValueError(f"--grid {key}={value}: {error}") from None
    trials = []
    for combination in itertools.product(*[[(key, value) for value in values]
                                           for key, values in cells]):
        # Values read in directory names without spaces or slashes.
        cell = ",".join(f"{key}={''.join(value.split()).replace('/', '_')}"
                        for key, value in combination)
        settings = [*overrides, *(f"{key}={value}" for key, value in combination)]
        for seed in range(seeds):
            chosen = [*settings, f"seed={seed}"] if seeds > 1 else settings
            try:
                config = module.config_from(base, chosen)
            except ValueError as error:
                raise ValueError(f"--grid cell {cell}: {error}") from None
            if cells:
                directory = Path(out) / f"{cell}-seed{config.seed}"
            else:
                directory = Path(out) if seeds == 1 else Path(f"{out}-seed{seed}")
            trials.append(Trial(experiment, module.__name__, cell, config.seed, config,
                                str(directory)))
    for trial in trials:
        check_directory(trial)
    return trials


def check_directory(trial: Trial) -> None:
    """Refuse, before anything runs, a trial directory that holds another run."""
    from socius.societies.runs.directory import RunDirectory

    run = RunDirectory(trial.out)
    if not (run.path / "config.json").exists():
        return
    wanted = json.loads(json.dumps(dataclasses.asdict(trial.config)))
    if run.config() != wanted or run.experiment() != trial.experiment:
        raise ValueError(f"run directory {run.path} holds another run (config or experiment "
                         "differ); choose another --out")


def run_trial(trial: Trial, progress: bool = False, threads: int | None = 1) -> dict:
    """Train one trial (or continue it from its checkpoint, or return it if it has
    finished); returns its summary, its final metrics and its learning-curve rows."""
    from socius.societies.runs.files import atomic_write
    from socius.societies.runs.directory import RunDirectory

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    path = Path(trial.out)
    stored = path / RESULT
    module = importlib.import_module(trial.module)
    if stored.exists():
        result = json.loads(stored.read_text())
    else:
        summary = module.run(trial.config, trial.out, progress=progress)
        report = json.loads((path / "evaluation.json").read_text())
        final = {key: value for key, value in report.items()
                 if value is None or isinstance(value, (int, float))}
        result = {"summary": summary, "final": final}
        text = json.dumps(result, indent=2)
        atomic_write(stored, lambda p: Path(p).write_text(text))
    x, curves = module.CURVES
    keys = {x, *curves.values()}
    rows = [{key: row[key] for key in keys if key in row} for row in RunDirectory(path).rows()]
    return {**result, "rows": rows}


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
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

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
        # Ray's own retries are off: ours resume from the checkpoint and are reported.
        self.task = self.ray.remote(num_cpus=1, max_retries=0)(run_trial)

    def submit(self, function: Callable, trial: Trial, *args) -> Future:
        """Send the trial to the cluster; workers may start elsewhere, so paths are absolute."""
        trial = dataclasses.replace(trial, out=str(Path(trial.out).absolute()))
        return self.task.remote(trial, *args).future()

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
    import socket

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


def run_trials(trials: list[Trial], executor, retries: int,
               echo: Callable[[str], None] = print) -> list[Outcome]:
    """Every trial through ``executor``; a failed one is tried again (from its checkpoint)
    up to ``retries`` times, and the rest go on."""
    if retries < 0:
        raise ValueError(f"--retries must be >= 0; got {retries}")
    outcomes = {trial.out: Outcome(trial) for trial in trials}
    inline = type(executor) is InlineExecutor
    pending: dict[Future, tuple[Trial, int]] = {}
    waiting = list(trials)
    while waiting or pending:
        for trial in waiting:
            outcomes[trial.out].attempts += 1
            # A finished trial seen from here is read back at once, without a worker.
            here = inline or (Path(trial.out) / RESULT).exists()
            future = (InlineExecutor() if here else executor).submit(
                run_trial, trial, inline, None if here else 1)
            pending[future] = (trial, executor.generation)
        waiting = []
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            trial, generation = pending.pop(future)
            outcome = outcomes[trial.out]
            try:
                outcome.result = future.result()
                echo(json.dumps(outcome.result["summary"]))
                continue
            except Exception as error:  # a trial's failure must not end the sweep
                outcome.errors.append(f"{type(error).__name__}: {error}".splitlines()[0])
                print(f"socius: trial {trial.out} failed (attempt {outcome.attempts}):\n"
                      + "".join(traceback.format_exception(error)), file=sys.stderr)
                broken = isinstance(error, BrokenProcessPool)
            if broken and generation == executor.generation:
                executor.renew()
            if outcome.attempts <= retries:
                waiting.append(trial)
    return [outcomes[trial.out] for trial in trials]


def table(experiment: str, outcomes: list[Outcome]) -> str:
    """A markdown table: per grid cell, each final metric's mean [95% bootstrap interval]
    over the finished seeds, then a line per trial that failed every attempt."""
    import numpy as np

    from socius.societies.runs.statistics import bootstrap_interval

    columns = importlib.import_module(outcomes[0].trial.module).FINAL
    lines = ["| cell | seeds | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    generator = np.random.default_rng(0)
    for cell, members in group(outcomes).items():
        finished = [o.result["final"] for o in members if o.result is not None]
        cells = []
        for column in columns:
            values = [report.get(column) for report in finished]
            if not values or any(value is None for value in values):
                # steps_to_90 is None when coverage never reached 90%.
                cells.append("never" if values and column.startswith("steps") else "-")
                continue
            mean, low, high = bootstrap_interval(values, generator)
            style = ".0f" if abs(mean) >= 100 else ".3g"
            cells.append(f"{mean:{style}} [{low:{style}}, {high:{style}}]")
        label = cell or experiment
        lines.append(f"| {label} | {len(finished)}/{len(members)} | " + " | ".join(cells) + " |")
    failed = [o for o in outcomes if o.result is None]
    if failed:
        lines.append("")
        lines += [f"- failed after {o.attempts} attempts: {o.trial.out}: {o.errors[-1]}"
                  for o in failed]
    return "\n".join(lines)


def group(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    """Outcomes by grid cell, in grid order."""
    cells: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        cells.setdefault(outcome.trial.cell, []).append(outcome)
    return cells


def figure(experiment: str, outcomes: list[Outcome], target: str | Path) -> None:
    """Learning curves with seed bands, one line per grid cell."""
    from socius.viz.plots import seed_bands

    x, curves = importlib.import_module(outcomes[0].trial.module).CURVES
    runs = {cell or experiment: [o.result["rows"] for o in members if o.result is not None]
            for cell, members in group(outcomes).items()}
    seed_bands({name: tables for name, tables in runs.items() if tables}, x, curves, target,
               title=f"{experiment}: mean over seeds, min-max band")


def sweep(trials: list[Trial], out: str | Path, workers: int | None = None,
          ray_address: str | None = None, retries: int = 1,
          echo: Callable[[str], None] = print) -> list[Outcome]:
    """Run every trial (printing each summary as it ends), then, for more than one trial,
    print the table and write it and the plot: ``<out>/grid.md`` and ``grid.png`` for a
    grid, ``<out>-grid.md`` and ``<out>-grid.png`` beside plain seeds' ``<out>-seed<S>``."""
    from socius.societies.runs.files import atomic_write

    executor = make_executor(len(trials), workers, ray_address)
    try:
        outcomes = run_trials(trials, executor, retries, echo)
    finally:
        executor.close()
    if len(trials) > 1:
        text = table(trials[0].experiment, outcomes)
        grid = any(trial.cell for trial in trials)
        markdown, picture = ((Path(out) / "grid.md", Path(out) / "grid.png") if grid
                             else (Path(f"{out}-grid.md"), Path(f"{out}-grid.png")))
        markdown.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(markdown, lambda p: Path(p).write_text(text + "\n"))
        if any(outcome.result is not None for outcome in outcomes):
            figure(trials[0].experiment, outcomes, picture)
        echo(text)
    return outcomes
