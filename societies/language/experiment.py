"""The language experiment's commands: run, resume, plot and evaluate a run directory.

A run directory holds ``config.json``, ``metrics.jsonl`` (one row per evaluation),
``timing.jsonl``, ``checkpoint.pt`` (atomic), ``evaluation.json`` (the final, full
evaluation with cross-play), ``episodes.json`` (sampled episode records),
``curves.png`` and ``tensorboard/`` (the metrics as TensorBoard events).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from socius.societies.runs.files import atomic_write
from socius.societies.language.train import (
    LanguageConfig,
    config_from_run,
    make_population,
    make_world,
    train,
)
from socius.societies.language.evaluate import (
    cross_play_matrix,
    evaluate,
    play_evaluation,
    random_pairs,
)
from socius.societies.runs.directory import RunDirectory, apply_overrides
from socius.societies.runs.tensorboard import export as export_tensorboard


def config_from(base: dict, overrides: list[str]) -> LanguageConfig:
    """A config from a YAML mapping and ``key=value`` overrides."""
    return apply_overrides(LanguageConfig, base, overrides)


def run(config: LanguageConfig, out: str | Path, progress: bool = True) -> dict:
    """Train (or continue) the run in ``out``, then evaluate it fully and plot it."""
    rows = train(config, out, progress=progress)
    summary = evaluate_run(out)
    figure = plot(out)["plot"]
    export_tensorboard(out)
    return {"run": str(out), "rounds": rows[-1]["round"] if rows else 0, **{
        k: summary[k] for k in ("success", "success_heldout", "chance") if k in summary},
        "plot": figure}


def resume(run_dir: str | Path) -> dict:
    """Continue a killed run from its last checkpoint (the same metrics, row for row)."""
    return run(config_from_run(run_dir), run_dir)


def load_population(run_dir: str | Path):
    """The config and the population of a run's last checkpoint."""
    config = config_from_run(run_dir)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    population = make_population(config, make_world(config, "train"),
                                 torch.Generator().manual_seed(config.seed))
    population.load_state_dict(checkpoint["population"])
    return config, population


def evaluate_run(run_dir: str | Path) -> dict:
    """Every figure of a run's last checkpoint, saved to ``evaluation.json``."""
    config, population = load_population(run_dir)
    report = evaluate(config, population, seed=config.seed)
    path = Path(run_dir)
    text = json.dumps(report, indent=2)
    atomic_write(path / "evaluation.json", lambda p: Path(p).write_text(text))
    episodes = play_evaluation(config, population, "train",
                               random_pairs(config, config.seed)[:16], config.seed)
    sample = {"target": episodes.speaker["goal"][0].tolist(),
              "message": episodes.tokens[0].tolist(),
              "moves": episodes.moves.T.tolist(), "reward": episodes.rewards.T.tolist(),
              "members": episodes.members.tolist()}
    atomic_write(path / "episodes.json", lambda p: Path(p).write_text(json.dumps(sample)))
    return report


def cross_play_between(speakers_run: str | Path, listeners_run: str | Path) -> list[list[float]]:
    """Success of each speaker of one run with each listener of another (same world)."""
    config, speakers = load_population(speakers_run)
    other, listeners = load_population(listeners_run)
    if config.world_settings("train") != other.world_settings("train") or (
            config.population != other.population):
        raise ValueError(f"{speakers_run} and {listeners_run} differ in world or population "
                         "size; cross-play needs the same ones")
    return cross_play_matrix(config, speakers, listeners, config.seed).tolist()


def plot(run_dir: str | Path) -> dict:
    """Success and topographic similarity over training, saved as ``curves.png``."""
    from socius.viz.plots import training_curves

    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    target = Path(run_dir) / "curves.png"
    chance = rows[-1].get("chance", float("nan"))
    training_curves(rows, "episodes", {
        "success": ["success", "success_heldout", "success_shuffled"],
        "structure": ["topsim", "topsim_unique", "topsim_null_p99"],
        "influence (nats)": ["cic", "signalling", "signalling_permuted"]},
        target, f"language, channel={config_from_run(run_dir).channel}",
        reference={"success": chance})
    return {"plot": str(target), **heatmap_figures(run_dir)}


CURVES = ("episodes", {"success": "success", "held-out success": "success_heldout",
                       "topographic similarity": "topsim", "CIC (nats)": "cic"})
"""What ``socius plot`` overlays for several language runs: x key, panel title -> key."""
FINAL = ("success", "success_heldout", "topsim", "cic")
"""The ``evaluation.json`` figures a grid tabulates for each cell."""


def heatmap_figures(run_dir: str | Path) -> dict:
    """Cross-play (from ``evaluation.json``) and token usage by attribute value (played
    from the last checkpoint) as ``cross_play.png`` and ``token_usage.png``."""
    import numpy as np

    from socius.societies.language.metrics import token_usage
    from socius.viz.plots import matrix_heatmap

    path, figures = Path(run_dir), {}
    evaluation = path / "evaluation.json"
    cross = json.loads(evaluation.read_text()).get("cross_play") if evaluation.is_file() else None
    if cross:
        matrix_heatmap(np.array(cross), path / "cross_play.png", "cross-play success",
                       "listener", "speaker", label="success", vmin=0, vmax=1)
        figures["cross_play"] = str(path / "cross_play.png")
    if not RunDirectory(run_dir).has_checkpoint():
        return figures
    config, population = load_population(run_dir)
    if not config.message_length:
        return figures
    episodes = play_evaluation(config, population, "train", random_pairs(config, config.seed),
                               config.seed)
    usage = token_usage(episodes.speaker["goal"][0].numpy(), episodes.tokens[0].numpy(),
                        config.vocab_size)  # [attribute, value, token]
    labels = [f"{name} {value}" for name in ("colour", "shape")
              for value in range(usage.shape[1])]
    rows = usage.reshape(-1, config.vocab_size)
    seen = ~np.isnan(rows).all(axis=1)
    matrix_heatmap(rows[seen], path / "token_usage.png",
                   "share of each token by the target's attribute value", "token",
                   "target attribute", yticks=[lab for lab, s in zip(labels, seen) if s],
                   label="share of tokens", vmin=0, vmax=1)
    figures["token_usage"] = str(path / "token_usage.png")
    return figures
