"""The gcrl experiment's record: evaluation of a run's checkpoint, its curves, its agent
in the viewer, and the table over finished runs (``socius report gcrl``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from socius.agents.gcrl import GCRLAgent, SubgoalPolicy
from socius.envs.maze_v0 import build_world
from socius.societies.navigation.gcrl import (
    DISTANCE_BUCKETS,
    GCRLRunConfig,
    evaluate,
    maze_for,
    train,
)
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.experiment import Experiment
from socius.societies.runs.figures import save_figure
from socius.societies.runs.statistics import bootstrap_interval
from socius.societies.runs.tables import interval_table
from socius.societies.viewer.cast import Cast
from socius.viz.plots import grouped_bars, training_curves


def load_agent(run_dir: str | Path) -> tuple[GCRLRunConfig, GCRLAgent]:
    """The config and the trained agent of a finished gcrl run."""
    config = EXPERIMENT.config_of(run_dir)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    world = build_world(maze_for(config, 1))
    agent = GCRLAgent(config.learner, world.height * world.width,
                      torch.Generator().manual_seed(0))
    agent.load_state_dict(checkpoint["agent"])
    return config, agent


def evaluate_run(run_dir: str | Path) -> dict:
    """Success of the run's last checkpoint on its held-out pairs, by distance bucket."""
    config, agent = load_agent(run_dir)
    return evaluate(agent, config, config.seed)


def plot(run_dir: str | Path) -> dict:
    """Success (overall and by distance) and the value loss over training (``curves.png``)."""
    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    config = EXPERIMENT.config_of(run_dir)
    buckets = [key for key in rows[-1] if key.startswith("success_d")]
    target = Path(run_dir) / "curves.png"
    losses = [key for key in ("value", "high_value", "high", "low") if key in rows[-1]]
    save_figure(training_curves(rows, "step", {"success": ["success", *buckets],
                                               "losses": losses},
                                f"gcrl, agent={config.learner.agent}, data={config.data}"),
                target)
    return {"plot": str(target)}


def load_policy(run_dir: str | Path) -> Cast:
    """The run's maze with its trained agent walking to goals through its subgoals."""
    config, agent = load_agent(run_dir)
    world = build_world(maze_for(config, 4 * config.world.size * config.world.size))
    return Cast("maze_v0", world, SubgoalPolicy(agent, world.info["walls"][0]), str(run_dir))


def summarize_runs(run_dirs: list[str | Path], plot: str | Path | None = None) -> str:
    """A markdown table of final success by agent (mean [95% bootstrap interval] over
    seeds), and optionally a bar plot of success by distance bucket."""
    rows: dict[str, list[dict]] = {}
    for directory in run_dirs:
        config = EXPERIMENT.config_of(directory)
        last = RunDirectory(directory).rows()[-1:]
        if last:
            rows.setdefault(f"{config.learner.agent} ({config.data} data)", []).extend(last)
    rows = dict(sorted(rows.items()))
    columns = ["success"] + [
        f"success_d{low}+" if high > 1000 else f"success_d{low}-{high - 1}"
        for low, high in DISTANCE_BUCKETS]
    table = interval_table(
        {name: {"seeds": str(len(finals)), "steps": str(finals[0]["step"]),
                **{c: [f[c] for f in finals] for c in columns}} for name, finals in rows.items()},
        ["seeds", "steps", *columns], np.random.default_rng(0), label="agent", formats=".1f",
        scale=100.0)
    if plot is not None:
        # A fresh generator drawn in the table's order gives the bars the table's intervals.
        generator = np.random.default_rng(0)
        bars = {name: {c.replace("success_", "").replace("success", "all"):
                       tuple(100 * v for v in bootstrap_interval([f[c] for f in finals],
                                                                 generator))
                       for c in columns} for name, finals in rows.items()}
        save_figure(grouped_bars(bars, "Held-out start/goal pairs, by distance d",
                                 "success % (95% CI over seeds)"), plot)
    return table


CURVES = ("step", {"success": "success", "success, d >= 25": "success_d25-49"})
"""What ``socius plot`` overlays for several gcrl runs: x key, panel title -> key."""
FINAL = ("success", "success_d1-9", "success_d10-24", "success_d25-49", "success_d50+")
"""The ``evaluation.json`` figures a grid tabulates for each cell."""

def legacy(saved: dict) -> dict:
    """An older flat config: its collection episode length was ``data_max_cycles``."""
    kept = {key: value for key, value in saved.items() if key != "data_max_cycles"}
    return {**kept, "max_cycles": saved.get("data_max_cycles", 200)}


EXPERIMENT = Experiment(
    name="gcrl", description="offline goal-conditioned RL in a maze (hier, hiql, flat, gcbc)",
    config_class=GCRLRunConfig, default_config=None, train=train, evaluate=evaluate_run,
    plot=plot, progress_key="step", summary_keys=FINAL, curves=CURVES, final=FINAL,
    load_policy=load_policy, report=summarize_runs, legacy=legacy)
"""The gcrl experiment's record in the registry."""
