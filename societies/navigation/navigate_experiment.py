"""The navigate experiment's record: a run's trained navigator, its evaluation and curves,
its agent in the viewer (with its subgoals), and the table over finished runs
(``socius report navigate``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from socius.agents.navigator import Navigator
from socius.agents.navigator_policy import NavigatorPolicy
from socius.envs.maze_v0 import build_world
from socius.societies.navigation.navigate import (
    NavigateConfig,
    evaluate,
    evaluation_set,
    modes,
    planner_report,
    train,
)
from socius.societies.navigation.unseen import DISTANCE_BUCKETS, LIMITS, bucket_label
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.experiment import Experiment
from socius.societies.runs.figures import save_figure
from socius.societies.runs.tables import interval_table
from socius.societies.viewer.cast import Cast
from socius.viz.plots import training_curves


def load_navigator(run_dir: str | Path) -> tuple[NavigateConfig, Navigator]:
    """The config and the trained navigator of a run (its last checkpoint)."""
    config = EXPERIMENT.config_of(run_dir)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    navigator = Navigator(config.learner, torch.Generator().manual_seed(0))
    navigator.load_state_dict(checkpoint["navigator"])
    return config, navigator


def evaluate_run(run_dir: str | Path) -> dict:
    """The run's modes and the planner on its unseen mazes."""
    config, navigator = load_navigator(run_dir)
    layouts = evaluation_set(config)
    return {**evaluate(navigator, config, layouts), **planner_report(config, layouts)}


def plot(run_dir: str | Path) -> dict:
    """Success within 3d + 20 of each mode beside the planner, and the losses
    (``curves.png``)."""
    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    config = EXPERIMENT.config_of(run_dir)
    names = [*modes(config), "planner"]
    losses = [key for key in ("v", "v_high", "clone") if key in rows[-1]]
    target = Path(run_dir) / "curves.png"
    save_figure(training_curves(rows, "step", {
        "success within 3d + 20": [f"{name}_success_3d+20" for name in names],
        "success within 3d + 20, d >= 50": [f"{name}_success_3d+20_d50+" for name in names],
        "losses": losses}, f"navigate, learner={config.learner.learner}"), target)
    return {"plot": str(target)}


def load_policy(run_dir: str | Path) -> Cast:
    """The run's first unseen maze, walked by its navigator (subgoals drawn where it has
    them)."""
    config, navigator = load_navigator(run_dir)
    mode = modes(config)[0]
    world = build_world(dataclasses.replace(config.world, layout_seed=config.eval_layout_seed,
                                            max_cycles=4 * config.world.size ** 2))
    return Cast("maze_v0", world, NavigatorPolicy(navigator, mode, world.height, world.width),
                f"{run_dir} ({mode})")


def summarize_runs(run_dirs: list[str | Path], plot: str | Path | None = None) -> str:
    """A markdown table of final success on unseen mazes by agent (mean [95% bootstrap
    interval] over seeds), the planner's on the same pairs beside them."""
    finals: dict[str, list[dict]] = {}
    planner_seeds = set()  # every learner's run of a seed holds the same planner figures
    for directory in run_dirs:
        config = EXPERIMENT.config_of(directory)
        # The run's latest evaluation of its last checkpoint (``socius evaluate`` renews it).
        run = RunDirectory(directory)
        last = run.rows()[-1:]
        if last and (run.path / "evaluation.json").exists():
            last = [{**last[0], **json.loads((run.path / "evaluation.json").read_text())}]
        for row in last:
            planner = () if config.seed in planner_seeds else ("planner",)
            planner_seeds.add(config.seed)
            for name in (*modes(config), *planner):
                finals.setdefault(name, []).append(
                    {key[len(name) + 1:]: value for key, value in row.items()
                     if key.startswith(f"{name}_success")} | {"step": row["step"]})
    columns = [f"success_{limit}" for limit in LIMITS] + [
        f"success_3d+20_{bucket_label(low, high)}" for low, high in DISTANCE_BUCKETS]
    return interval_table(
        {name: {"runs": str(len(rows)), "updates": str(rows[0]["step"]),
                **{c: [r[c] for r in rows] for c in columns}} for name, rows in finals.items()},
        ["runs", "updates", *columns], np.random.default_rng(0), label="agent", formats=".1f",
        scale=100.0)


CURVES = ("step", {"success within 3d + 20": "hierarchical_success_3d+20"})
"""What ``socius plot`` overlays for several navigate runs: x key, panel title -> key."""
FINAL = ("hierarchical_success_3d+20", "hiql_success_3d+20", "flat_success_3d+20",
         "gcbc_success_3d+20", "planner_success_3d+20")
"""The ``evaluation.json`` figures a grid tabulates for each cell."""

EXPERIMENT = Experiment(
    name="navigate", description="unseen mazes: the two-level navigator, its flat control, "
    "GC-BC and the map-memory planner", config_class=NavigateConfig, default_config=None,
    train=train, evaluate=evaluate_run, plot=plot, progress_key="step",
    summary_keys=FINAL, curves=CURVES, final=FINAL, load_policy=load_policy,
    report=summarize_runs, last_row_evaluates=True)
"""The navigate experiment's record in the registry."""
