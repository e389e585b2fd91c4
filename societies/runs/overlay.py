"""``socius plot`` over several runs: learning curves of each condition with seed bands.

Run directories named ``<condition>-seed<S>`` are seeds of one condition; the bands span
the lowest to the highest seed. Each experiment's record says which curves to draw
(``curves``: x key, panel title -> metric key).
"""

from __future__ import annotations

import re
from pathlib import Path

from socius.societies.experiments import experiment
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.figures import save_figure
from socius.viz.plots import seed_bands

SEED_SUFFIX = re.compile(r"-seed\d+$")


def condition_of(run_dir: str | Path) -> str:
    """The condition a run directory belongs to: its name without ``-seed<S>``."""
    return SEED_SUFFIX.sub("", Path(run_dir).resolve().name)


def group_runs(run_dirs: list[str | Path]) -> dict[str, list[list[dict]]]:
    """Metric rows of each run, grouped by condition (in the order first given)."""
    groups: dict[str, list[list[dict]]] = {}
    for run_dir in run_dirs:
        rows = RunDirectory(run_dir).rows()
        if not rows:
            raise ValueError(f"run_dirs: {run_dir} has no metrics rows yet")
        groups.setdefault(condition_of(run_dir), []).append(rows)
    return groups


def overlay(run_dirs: list[str | Path], out: str | Path) -> dict:
    """One figure at ``out`` with the runs' curves overlaid, seeds of a condition banded."""
    if not run_dirs:
        raise ValueError("run_dirs: give at least one run directory")
    experiments = {RunDirectory(run_dir).experiment() for run_dir in run_dirs}
    if len(experiments) != 1:
        raise ValueError(f"run_dirs: runs of one experiment overlay; got {sorted(experiments)}")
    name = experiments.pop()
    x, panels = experiment(name).curves
    groups = group_runs(run_dirs)
    save_figure(seed_bands(groups, x, panels, title=f"{name}: {len(run_dirs)} runs"), out)
    return {"plot": str(out), "conditions": {name: len(rows) for name, rows in groups.items()}}
