"""The one registry of experiments: the CLI, the grid, the viewer and the plots read it.

Each record (:class:`~socius.societies.runs.experiment.Experiment`) is built by its
experiment's own ``experiment.py``; adding an experiment means adding it here, nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from socius.societies.collection.experiment import EXPERIMENT as COLLECT
from socius.societies.imitation.experiment import EXPERIMENT as IMITATION
from socius.societies.language.experiment import EXPERIMENT as LANGUAGE
from socius.societies.navigation.gcrl_experiment import EXPERIMENT as GCRL
from socius.societies.navigation.memory import EXPERIMENT as MEMORY
from socius.societies.navigation.navigate_experiment import EXPERIMENT as NAVIGATE
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.experiment import Experiment

EXPERIMENTS: dict[str, Experiment] = {record.name: record for record in (
    LANGUAGE, IMITATION, COLLECT, GCRL, MEMORY, NAVIGATE)}
"""Every experiment by the name ``socius run NAME`` takes."""


def experiment(name: str) -> Experiment:
    """The record of experiment ``name``; a clear error for an unknown one."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def experiment_of(run_dir: str | Path) -> Experiment:
    """The record of the experiment that made a run directory."""
    return experiment(RunDirectory(run_dir).experiment())
