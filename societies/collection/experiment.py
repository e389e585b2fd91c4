"""The collection experiment's commands: run, resume, plot and evaluate a run directory, and
summarise several runs against their controls.

A run directory holds ``config.json``, ``metrics.jsonl`` (one row per chunk), ``timing.jsonl``,
``checkpoint.pt`` (atomic), ``dataset.npz`` (the episodes, in the multi-agent dataset format),
``evaluation.json`` (coverage, noisy TV, spreading out, fresh-model error, offline agent),
``curves.png`` and ``heatmap.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from socius.societies.runs.files import atomic_write
from socius.societies.collection import evaluate as measures
from socius.societies.collection.train import CollectConfig, config_from_run, make_world, train
from socius.societies.engine.datasets import load_dataset
from socius.societies.runs.directory import RunDirectory, apply_overrides
from socius.societies.runs.tensorboard import export as export_tensorboard


def config_from(base: dict, overrides: list[str]) -> CollectConfig:
    """A config from a YAML mapping and ``key=value`` overrides."""
    return apply_overrides(CollectConfig, base, overrides)


def run(config: CollectConfig, out: str | Path, progress: bool = True) -> dict:
    """Collect (or continue collecting) in ``out``, then evaluate and plot the run."""
    rows = train(config, out, progress=progress)
    summary = evaluate_run(out)
    figures = plot(out)
    export_tensorboard(out)
    keys = ("coverage", "steps_to_90", "tv_in_view", "model_error", "hier_success", "overlap")
    return {"run": str(out), "steps": rows[-1]["steps"] if rows else 0,
            **{k: summary[k] for k in keys if k in summary}, **figures}


def resume(run_dir: str | Path) -> dict:
    """Continue a killed run from its last checkpoint (the same metrics, row for row)."""
    return run(config_from_run(run_dir), run_dir)


def load_record(run_dir: str | Path) -> measures.Record:
    """What the run has visited, from its last checkpoint."""
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    return measures.Record(**checkpoint["record"])


def evaluate_run(run_dir: str | Path) -> dict:
    """Every measure of a run's data, saved to ``evaluation.json``."""
    config = config_from_run(run_dir)
    world = make_world(config)
    record = load_record(run_dir)
    episodes = load_dataset(Path(run_dir) / "dataset.npz", expect_env="maze_v0").episodes
    reachable = measures.reachable_cells(world)
    report = {"collector": config.collector, "seed": config.seed,
              "num_agents": config.num_agents,
              "steps": int(record.agent_steps // config.num_agents),
              "coverage": measures.coverage(record.first_visit < measures.NEVER, reachable),
              "tv_in_view": record.tv_steps / max(record.agent_steps, 1)}
    for fraction in (0.5, 0.9, 1.0):
        report[f"steps_to_{round(fraction * 100)}"] = measures.steps_to_coverage(
            record.first_visit, reachable, fraction)
    if config.num_agents > 1:
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
    text = json.dumps(report, indent=2)
    atomic_write(Path(run_dir) / "evaluation.json", lambda p: Path(p).write_text(text))
    return report


def plot(run_dir: str | Path) -> dict:
    """Coverage, the noisy TV and disagreement against steps (``curves.png``) and the visit
    counts of every cell (``heatmap.png``)."""
    from socius.viz.plots import heatmaps, training_curves

    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    config = config_from_run(run_dir)
    world = make_world(config)
    path = Path(run_dir)
    training_curves(rows, "steps", {"coverage": ["coverage"],
                                    "noisy TV in view": ["tv_in_view", "tv_in_view_total"],
                                    "ensemble": ["disagreement", "prediction_error"]},
                    path / "curves.png", f"collect, collector={config.collector}")
    visits = load_record(run_dir).visits.reshape(-1, world.height, world.width)
    grids = {f"agent {i}" if len(visits) > 1 else config.collector: np.log10(1 + grid)
             for i, grid in enumerate(visits)}
    heatmaps(grids, path / "heatmap.png", "visits per cell", blocked=world.info["walls"][0],
             label="log10(1 + visits)")
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
    from socius.societies.runs.statistics import bootstrap_interval

    groups: dict[str, list[tuple[Path, dict]]] = {}
    for directory in map(Path, run_dirs):
        report = json.loads((directory / "evaluation.json").read_text())
        name = report["collector"] + (f" x{report['num_agents']}"
                                      if report["num_agents"] > 1 else "")
        groups.setdefault(name, []).append((directory, report))
    columns = ["steps_to_90", "steps_to_100", "coverage", "tv_in_view", "model_error",
               "hier_success", "overlap", "pair_distance"]
    generator = np.random.default_rng(0)
    table = ["| collector | seeds | " + " | ".join(columns) + " |",
             "|---" * (len(columns) + 2) + "|"]
    for name, members in groups.items():
        cells = []
        for column in columns:
            values = [r.get(column) for _, r in members]
            if any(v is None for v in values):
                cells.append("never" if column.startswith("steps") and values else "-")
                continue
            mean, low, high = bootstrap_interval(values, generator)
            digits = 0 if column.startswith("steps") else 4 if column == "model_error" else 3
            cells.append(f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]")
        table.append(f"| {name} | {len(members)} | " + " | ".join(cells) + " |")
    if figures is not None:
        _figures(groups, str(figures))
    return "\n".join(table)


def _figures(groups: dict, prefix: str) -> None:
    """Mean curves over seeds by collector, and the first run's visit heatmap of each."""
    from socius.viz.plots import heatmaps, training_curves

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
    training_curves(early, "steps", {"coverage (mean over seeds)": names},
                    f"{prefix}_coverage.png", "coverage of reachable cells, first 30k steps")
    training_curves(rows, "steps", {
        "ensemble disagreement": [f"{n} disagreement" for n in names],
        "noisy TV in view (cumulative)": [f"{n} tv_in_view_total" for n in names]},
        f"{prefix}_disagreement.png", "disagreement and the noisy TV against steps")
    grids = {}
    for name, members in groups.items():
        directory = members[0][0]
        config = config_from_run(directory)
        world = make_world(config)
        visits = load_record(directory).visits.sum(axis=0).reshape(world.height, world.width)
        grids[name] = np.log10(1 + visits)
    heatmaps(grids, f"{prefix}_heatmaps.png", "visits per cell (first seed)",
             blocked=world.info["walls"][0], label="log10(1 + visits)")
