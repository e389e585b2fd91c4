"""The imitation experiment's commands: run, resume, plot and evaluate a run directory.

A run directory holds ``config.json``, ``experiment.txt``, ``metrics.jsonl`` (one row per
evaluation), ``timing.jsonl``, ``checkpoint.pt`` (atomic), ``evaluation.json`` (the final
evaluation), ``curves.png`` and ``tensorboard/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from socius.societies.runs.files import atomic_write
from socius.societies.imitation.train import ImitationConfig, make_learner, train
from socius.societies.imitation.evaluate import evaluate
from socius.societies.runs.directory import RunDirectory, apply_overrides
from socius.societies.runs.tensorboard import export as export_tensorboard


def config_from(base: dict, overrides: list[str]) -> ImitationConfig:
    """A config from a YAML mapping and ``key=value`` overrides."""
    return apply_overrides(ImitationConfig, base, overrides)


def config_from_run(path: str | Path) -> ImitationConfig:
    """The config saved in a run directory."""
    return ImitationConfig(**RunDirectory(path).config())


def run(config: ImitationConfig, out: str | Path, progress: bool = True) -> dict:
    """Train (or continue) the run in ``out``, then evaluate and plot it."""
    train(config, out, progress=progress)
    report = evaluate_run(out)
    figure = plot(out)["plot"]
    export_tensorboard(out)
    keys = ("normalised_with", "normalised_alone", "transmission", "following_with",
            "peer_accuracy_with")
    return {"run": str(out), "env_steps": RunDirectory(out).rows()[-1]["env_steps"],
            **{k: round(report[k], 3) for k in keys}, "plot": figure}


def resume(run_dir: str | Path) -> dict:
    """Continue a killed run from its last checkpoint."""
    return run(config_from_run(run_dir), run_dir)


def load_learner(run_dir: str | Path):
    """The config and the learner of a run's last checkpoint."""
    config = config_from_run(run_dir)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    learner = make_learner(config, torch.Generator().manual_seed(config.seed))
    learner.load_state_dict(checkpoint["learner"])
    return config, learner


def evaluate_run(run_dir: str | Path) -> dict:
    """Every measure of a run's last checkpoint, saved to ``evaluation.json``."""
    config, learner = load_learner(run_dir)
    report = evaluate(config, learner, seed=config.seed)
    text = json.dumps(report, indent=2)
    atomic_write(Path(run_dir) / "evaluation.json", lambda p: Path(p).write_text(text))
    return report


def plot(run_dir: str | Path) -> dict:
    """Normalised returns, following and the auxiliary head over training (``curves.png``)."""
    from socius.viz.plots import training_curves

    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    config = config_from_run(run_dir)
    target = Path(run_dir) / "curves.png"
    training_curves(rows, "env_steps", {
        "normalised return": ["normalised_with", "normalised_alone",
                              "normalised_heldout_with", "normalised_heldout_alone"],
        "social": ["following_with", "following_random_with", "agreement_with",
                   "transmission"],
        "peer-move prediction": ["peer_accuracy_with", "peer_majority_with"]},
        target, f"imitation, method={config.method}, experts={config.experts}, "
                f"aux_weight={config.aux_weight}",
        reference={"normalised_with": 0.0})
    return {"plot": str(target)}


CURVES = ("env_steps", {"normalised return, with experts": "normalised_with",
                        "normalised return, alone": "normalised_alone",
                        "transmission": "transmission",
                        "peer-move prediction": "peer_accuracy_with"})
"""What ``socius plot`` overlays for several imitation runs: x key, panel title -> key."""
FINAL = ("normalised_with", "normalised_alone", "transmission", "following_with")
"""The ``evaluation.json`` figures a grid tabulates for each cell."""
