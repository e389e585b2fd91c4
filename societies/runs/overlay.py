"""``socius plot`` over several runs: learning curves of each condition with seed bands.

Run directories named ``<condition>-seed<S>`` are seeds of one condition; the bands span
the lowest to the highest seed. Each experiment says which curves to draw in its
``CURVES`` (x key, panel title -> metric key).
"""

from __future__ import annotations

import re
from pathlib import Path

from socius.societies.runs.directory import RunDirectory

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
    from socius.societies.cli import experiment_module
    from socius.viz.plots import seed_bands

    if not run_dirs:
        raise ValueError("run_dirs: give at least one run directory")
    experiments = {RunDirectory(run_dir).experiment() for run_dir in run_dirs}
    if len(experiments) != 1:
        raise ValueError(f"run_dirs: runs of one experiment overlay; got {sorted(experiments)}")
    experiment = experiments.pop()
    x, panels = experiment_module(experiment).CURVES
    groups = group_runs(run_dirs)
    seed_bands(groups, x, panels, out, title=f"{experiment}: {len(run_dirs)} runs")
    return {"plot": str(out), "conditions": {name: len(rows) for name, rows in groups.items()}}
