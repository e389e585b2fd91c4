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
import itertools
import json
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.executors import InlineExecutor, make_executor
from socius.societies.runs.experiment import EVALUATION, Experiment
from socius.societies.runs.figures import save_figure
from socius.societies.runs.files import atomic_write
from socius.societies.runs.tables import interval_table
from socius.viz.plots import seed_bands

RESULT = "result.json"
"""Written into a trial's run directory when the trial has finished."""


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: a grid cell and a seed, trained into ``out``."""

    experiment: Experiment
    """The experiment's record (workers read what to run from it)."""
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


def expand(experiment: Experiment, base: dict, overrides: list[str], grid: list[str],
           seeds: int, out: str | Path) -> list[Trial]:
    """Every trial of the grid times seeds 0..seeds-1 (one seed: the config's own), each
    config parsed by the experiment's own field types; bad keys or values name the key."""
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1; got {seeds}")
    cells = parse_grid(grid)
    experiment.config_from(base, overrides)  # a bad --set or config file names its own key
    for key, values in cells:
        for value in values:
            try:
                experiment.config_from(base, [*overrides, f"{key}={value}"])
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
                config = experiment.config_from(base, chosen)
            except ValueError as error:
                if not cell:
                    raise
                raise ValueError(f"--grid cell {cell}: {error}") from None
            if cells:
                directory = Path(out) / f"{cell}-seed{config.seed}"
            else:
                directory = Path(out) if seeds == 1 else Path(f"{out}-seed{seed}")
            trials.append(Trial(experiment, cell, config.seed, config, str(directory)))
    for trial in trials:
        check_directory(trial)
    return trials


def check_directory(trial: Trial) -> None:
    """Refuse, before anything runs, a trial directory that holds another run."""
    run = RunDirectory(trial.out)
    if not (run.path / "config.json").exists():
        return
    wanted = json.loads(json.dumps(dataclasses.asdict(trial.config)))
    if run.config() != wanted or run.experiment() != trial.experiment.name:
        raise ValueError(f"run directory {run.path} holds another run (config or experiment "
                         "differ); choose another --out")


def run_trial(trial: Trial, progress: bool = False) -> dict:
    """Train one trial (or continue it from its checkpoint, or return it if it has
    finished); returns its summary, its final metrics and its learning-curve rows.
    Its torch thread count is its config's ``threads``."""
    path = Path(trial.out)
    stored = path / RESULT
    experiment = trial.experiment
    if stored.exists():
        result = json.loads(stored.read_text())
    else:
        summary = experiment.run(trial.config, trial.out, progress)
        report = json.loads((path / EVALUATION).read_text())
        final = {key: value for key, value in report.items()
                 if value is None or isinstance(value, (int, float))}
        result = {"summary": summary, "final": final}
        text = json.dumps(result, indent=2)
        atomic_write(stored, lambda p: Path(p).write_text(text))
    x, curves = experiment.curves
    keys = {x, *curves.values()}
    rows = [{key: row[key] for key in keys if key in row} for row in RunDirectory(path).rows()]
    return {**result, "rows": rows}


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
                run_trial, trial, inline)
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


def table(experiment: Experiment, outcomes: list[Outcome]) -> str:
    """A markdown table: per grid cell, each final metric's mean [95% bootstrap interval]
    over the finished seeds, then a line per trial that failed every attempt."""
    columns = experiment.final
    rows = {}
    for cell, members in group(outcomes).items():
        finished = [o.result["final"] for o in members if o.result is not None]
        rows[cell or experiment.name] = {
            "seeds": f"{len(finished)}/{len(members)}",
            **{column: [report.get(column) for report in finished] for column in columns}}
    # steps_to_90 is None when coverage never reached 90%.
    never = {column: "never" for column in columns if column.startswith("steps")}
    lines = [interval_table(rows, ["seeds", *columns], np.random.default_rng(0), label="cell",
                            missing=never)]
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


def figure(experiment: Experiment, outcomes: list[Outcome], target: str | Path) -> None:
    """Learning curves with seed bands, one line per grid cell."""
    x, curves = experiment.curves
    runs = {cell or experiment.name: [o.result["rows"] for o in members if o.result is not None]
            for cell, members in group(outcomes).items()}
    save_figure(seed_bands({name: tables for name, tables in runs.items() if tables}, x, curves,
                           title=f"{experiment.name}: mean over seeds, min-max band"), target)


def sweep(trials: list[Trial], out: str | Path, workers: int | None = None,
          ray_address: str | None = None, retries: int = 1,
          echo: Callable[[str], None] = print) -> list[Outcome]:
    """Run every trial (printing each summary as it ends), then, for more than one trial,
    print the table and write it and the plot: ``<out>/grid.md`` and ``grid.png`` for a
    grid, ``<out>-grid.md`` and ``<out>-grid.png`` beside plain seeds' ``<out>-seed<S>``."""
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
