"""The imitation experiment's record: its evaluation of a run directory, its figures and
its learner for the viewer.

A run directory holds ``config.json``, ``experiment.txt``, ``metrics.jsonl`` (one row per
evaluation), ``timing.jsonl``, ``checkpoint.pt`` (atomic), ``evaluation.json`` (the final
evaluation), ``curves.png`` and ``tensorboard/``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from socius.agents.experts import scripted_expert
from socius.agents.policy import NetworkPolicy
from socius.agents.scripted import SeatedPolicy
from socius.agents.subgoal_cells import LowLevel
from socius.societies.imitation.config import ImitationConfig, build_world, make_learner
from socius.societies.imitation.evaluate import evaluate
from socius.societies.imitation.subgoals import CellLearnerPolicy
from socius.societies.imitation.train import train
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.experiment import Experiment
from socius.societies.runs.figures import save_figure
from socius.societies.viewer.cast import Cast
from socius.viz.plots import training_curves


def load_learner(run_dir: str | Path):
    """The config, the learner and the low level (None unless hierarchical) of a run's
    last checkpoint."""
    config = EXPERIMENT.config_of(run_dir)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    generator = torch.Generator().manual_seed(config.seed)
    learner = make_learner(config, generator)
    learner.load_state_dict(checkpoint["learner"])
    world = build_world(config)
    low = LowLevel.start(config, (world.height, world.width), generator).restore(checkpoint)
    return config, learner, low.skill


def evaluate_run(run_dir: str | Path) -> dict:
    """Every measure of a run's last checkpoint."""
    config, learner, skill = load_learner(run_dir)
    return evaluate(config, learner, seed=config.seed, skill=skill)


def plot(run_dir: str | Path) -> dict:
    """Normalised returns, following and the auxiliary head over training (``curves.png``)."""
    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    config = EXPERIMENT.config_of(run_dir)
    target = Path(run_dir) / "curves.png"
    save_figure(training_curves(rows, "env_steps", {
        "normalised return": ["normalised_with", "normalised_alone",
                              "normalised_heldout_with", "normalised_heldout_alone"],
        "social": ["following_with", "following_random_with", "agreement_with",
                   "transmission"],
        "peer-move prediction": ["peer_accuracy_with", "peer_majority_with",
                                 "peer_repeat_with"]},
        f"imitation, method={config.method}, experts={config.experts}, "
                f"aux_weight={config.aux_weight}",
        reference={"normalised_with": 0.0}), target)
    return {"plot": str(target)}


def load_policy(run_dir: str | Path) -> Cast:
    """The run's training world with its learner in agent_0's seat beside the experts."""
    config, learner, skill = load_learner(run_dir)
    if config.reward_input:
        raise ValueError(f"{run_dir}: runs with reward_input=true read the previous reward, "
                         "which the viewer does not feed; pick another run")
    world = build_world(config, config.world_for(config.experts))
    seat = (NetworkPolicy(learner, world.num_agents) if config.agent == "flat" else
            CellLearnerPolicy(config, learner, skill, (world.height, world.width)))
    policy = SeatedPolicy(seat, scripted_expert(world), seat=0)
    return Cast(config.task, world, policy, str(run_dir))


CURVES = ("env_steps", {"normalised return, with experts": "normalised_with",
                        "normalised return, alone": "normalised_alone",
                        "transmission": "transmission",
                        "peer-move prediction": "peer_accuracy_with"})
"""What ``socius plot`` overlays for several imitation runs: x key, panel title -> key."""
FINAL = ("normalised_with", "normalised_alone", "transmission", "following_with")
"""The ``evaluation.json`` figures a grid tabulates for each cell."""

def legacy(saved: dict) -> dict:
    """An older flat config: ``experts`` beside the learner are now world.num_agents - 1."""
    kept = {key: value for key, value in saved.items() if key != "experts"}
    return {**kept, "num_agents": saved.get("experts", 2) + 1}


EXPERIMENT = Experiment(
    name="imitation",
    description="a recurrent learner learns from experts in view (goal_cycle_v1)",
    config_class=ImitationConfig, default_config="imitation", train=train,
    evaluate=evaluate_run, plot=plot, progress_key="env_steps",
    summary_keys=("normalised_with", "normalised_alone", "transmission", "following_with",
                  "peer_accuracy_with"),
    curves=CURVES, final=FINAL, load_policy=load_policy, legacy=legacy)
"""The imitation experiment's record in the registry."""
