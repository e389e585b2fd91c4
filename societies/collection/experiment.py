"""The collection experiment's record: evaluation and figures of a run directory, and the
table of several runs against their controls (``socius report collect``).

A run directory holds ``config.json``, ``metrics.jsonl`` (one row per chunk), ``timing.jsonl``,
``checkpoint.pt`` (atomic), ``dataset.npz`` (the episodes, in the multi-agent dataset format),
``evaluation.json`` (coverage, noisy TV, spreading out, fresh-model error, offline agent),
``curves.png`` and ``heatmap.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from socius.societies.collection import evaluate as measures
from socius.societies.collection.collectors import Learner, make_policy
from socius.societies.collection.config import CollectConfig
from socius.societies.collection.train import make_world, train
from socius.societies.engine.datasets import load_dataset
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.experiment import EVALUATION, Experiment
from socius.societies.runs.figures import save_figure
from socius.societies.runs.tables import interval_table
from socius.societies.viewer.cast import Cast
from socius.viz.plots import heatmaps, training_curves


def load_record(run_dir: str | Path) -> measures.Record:
    """What the run has visited, from its last checkpoint."""
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    return measures.Record(**checkpoint["record"])


def load_policy(run_dir: str | Path) -> Cast:
    """The run's maze with its last checkpoint's collector in every seat (a subgoal
    collector's subgoals are drawn); scripted controls play as they collected."""
    config = EXPERIMENT.config_of(run_dir)
    world = make_world(config)
    learner = Learner(config, world)
    learner.load_state_dict(RunDirectory(run_dir).require_checkpoint()["learner"])
    return Cast("maze_v0", world, make_policy(config, world, learner, load_record(run_dir)),
                str(run_dir))


def evaluate_run(run_dir: str | Path) -> dict:
    """Every measure of a run's data: coverage, the noisy TV, spreading out, the error of a
    fresh model trained on it and, with ``hier_steps``, an offline agent trained on it."""
    config = EXPERIMENT.config_of(run_dir)
    world = make_world(config)
    record = load_record(run_dir)
    episodes = load_dataset(Path(run_dir) / "dataset.npz", expect_env="maze_v0").episodes
    reachable = measures.reachable_cells(world)
    report = {"collector": config.collector, "agent": config.agent, "seed": config.seed,
              "num_agents": config.world.num_agents,
              "steps": int(record.agent_steps // config.world.num_agents),
              "coverage": measures.coverage(record.first_visit < measures.NEVER, reachable),
              "tv_in_view": record.tv_steps / max(record.agent_steps, 1)}
    for fraction in (0.5, 0.9, 1.0):
        report[f"steps_to_{round(fraction * 100)}"] = measures.steps_to_coverage(
            record.first_visit, reachable, fraction)
    if config.world.num_agents > 1:
        report["overlap"] = measures.visitation_overlap(record.visits)
        report["pair_distance"] = record.pair_sum / max(record.pair_count, 1)
    held_out = measures.held_out_transitions(world, config.seed, config.eval_repeats)
    report["model_error"] = measures.model_error(episodes, world, held_out, config.dynamics(),
                                                 config.eval_model_steps, config.seed)
    if config.hier_steps:
        hier = measures.hierarchical_success(episodes, world, config.hier_steps,
                                             config.hier_pairs, config.hier_subgoal_steps,
                                             config.seed)
        report.update({f"hier_{k}": v for k, v in hier.items()
                       if k.startswith(("success", "pairs"))})
    return report


def plot(run_dir: str | Path) -> dict:
    """Coverage, the noisy TV and disagreement against steps (``curves.png``) and the visit
    counts of every cell (``heatmap.png``)."""
    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    config = EXPERIMENT.config_of(run_dir)
    world = make_world(config)
    path = Path(run_dir)
    save_figure(training_curves(rows, "steps", {
        "coverage": ["coverage"], "noisy TV in view": ["tv_in_view", "tv_in_view_total"],
        "ensemble": ["disagreement", "prediction_error"]},
        f"collect, collector={config.collector}"), path / "curves.png")
    visits = load_record(run_dir).visits.reshape(-1, world.height, world.width)
    grids = {f"agent {i}" if len(visits) > 1 else config.collector: np.log10(1 + grid)
             for i, grid in enumerate(visits)}
    save_figure(heatmaps(grids, "visits per cell", blocked=world.info["walls"][0],
                         label="log10(1 + visits)"), path / "heatmap.png")
    return {"plot": str(path / "curves.png"), "heatmap": str(path / "heatmap.png")}


CURVES = ("steps", {"coverage": "coverage", "noisy TV in view": "tv_in_view",
                    "disagreement": "disagreement"})
"""What ``socius plot`` overlays for several collection runs: x key, panel title -> key."""
FINAL = ("coverage", "steps_to_90", "tv_in_view", "model_error")
"""The ``evaluation.json`` figures a grid tabulates for each cell."""


def summarize(run_dirs: list[str | Path], figures: str | Path | None = None) -> str:
    """A markdown table of every measure by collector (mean [95% bootstrap interval] over
    seeds), and optionally figures ``<figures>_coverage.png``, ``_disagreement.png`` and
    ``_heatmaps.png`` (visit counts of each collector's first run)."""
    groups: dict[str, list[tuple[Path, dict]]] = {}
    for directory in map(Path, run_dirs):
        report = json.loads((directory / EVALUATION).read_text())
        agent = report.get("agent", "flat")  # runs evaluated before agents had a seat
        name = report["collector"] + ("" if agent == "flat" else f" ({agent})") + (
            f" x{report['num_agents']}" if report["num_agents"] > 1 else "")
        groups.setdefault(name, []).append((directory, report))
    columns = ["steps_to_90", "steps_to_100", "coverage", "tv_in_view", "model_error",
               "hier_success", "overlap", "pair_distance"]
    rows = {name: {"seeds": str(len(members)),
                   **{column: [report.get(column) for _, report in members]
                      for column in columns}} for name, members in groups.items()}
    formats = {c: ".0f" if c.startswith("steps") else ".4f" if c == "model_error" else ".3f"
               for c in columns}
    # steps_to_* is None for a seed that never reached that coverage.
    never = {column: "never" for column in columns if column.startswith("steps")}
    table = interval_table(rows, ["seeds", *columns], np.random.default_rng(0),
                           label="collector", formats=formats, missing=never)
    if figures is not None:
        _figures(groups, str(figures))
    return table


def _figures(groups: dict, prefix: str) -> None:
    """Mean curves over seeds by collector, and the first run's visit heatmap of each."""
    curves: dict[int, dict] = {}
    for name, members in groups.items():
        runs = [RunDirectory(directory).rows() for directory, _ in members]
        for index, row in enumerate(runs[0]):
            merged = curves.setdefault(row["steps"], {"steps": row["steps"]})
            for key in ("coverage", "disagreement", "tv_in_view_total"):
                merged[f"{name}"
                       f"{'' if key == 'coverage' else ' ' + key}"] = float(
                    np.mean([rows[index][key] for rows in runs if index < len(rows)]))
    rows = [curves[step] for step in sorted(curves)]
    names = list(groups)
    # The collectors differ in the first tens of thousands of steps; later all sit at 1.
    early = [row for row in rows if row["steps"] <= 30_000]
    save_figure(training_curves(early, "steps", {"coverage (mean over seeds)": names},
                                "coverage of reachable cells, first 30k steps"),
                f"{prefix}_coverage.png")
    save_figure(training_curves(rows, "steps", {
        "ensemble disagreement": [f"{n} disagreement" for n in names],
        "noisy TV in view (cumulative)": [f"{n} tv_in_view_total" for n in names]},
        "disagreement and the noisy TV against steps"), f"{prefix}_disagreement.png")
    grids = {}
    for name, members in groups.items():
        directory = members[0][0]
        config = EXPERIMENT.config_of(directory)
        world = make_world(config)
        visits = load_record(directory).visits.sum(axis=0).reshape(world.height, world.width)
        grids[name] = np.log10(1 + visits)
    save_figure(heatmaps(grids, "visits per cell (first seed)", blocked=world.info["walls"][0],
                         label="log10(1 + visits)"), f"{prefix}_heatmaps.png")


def legacy(saved: dict) -> dict:
    """An older flat config: its noisy TV was the integer 0 or 1."""
    return {**saved, "noisy_tv": bool(saved.get("noisy_tv", 1))}


EXPERIMENT = Experiment(
    name="collect",
    description="a collector gathers data by information gain (maze_v0 with a noisy TV)",
    config_class=CollectConfig, default_config="collect", train=train, evaluate=evaluate_run,
    plot=plot, progress_key="steps",
    summary_keys=("coverage", "steps_to_90", "tv_in_view", "model_error", "hier_success",
                  "overlap"),
    curves=CURVES, final=FINAL, report=summarize, legacy=legacy, load_policy=load_policy)
"""The collection experiment's record in the registry (its runs hold data, not agents to
seat: ``socius replay RUN/dataset.npz`` plays them)."""
