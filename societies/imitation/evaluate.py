"""Evaluation of a social learner: returns with and without experts, on training and
held-out layouts, beside the expert, a random walker and an agent standing still in the
same seat. Normalised returns take the better of the last two as their base (SCIENCE.md).

Every setting plays the same episodes (seeds above 10**9) for the learner and the
scripted seats, and the settings with and without experts share their layouts,
tile orders and start cells (only the experts are taken away), so the transmission
score compares like with like.
"""

from __future__ import annotations

import numpy as np
import torch

from socius.agents.imitation import SocialLearner
from socius.societies.engine.stream import Record
from socius.societies.imitation.config import ImitationConfig, make_arenas
from socius.societies.imitation.metrics import (
    action_agreement,
    following_fraction,
    normalised_return,
    prediction_accuracy,
    transmission_score,
)
from socius.societies.imitation.rollout import play_episodes

SETTINGS = {"with": (True, False), "alone": (False, False),
            "heldout_with": (True, True), "heldout_alone": (False, True)}
"""Setting name -> (experts present, held-out layouts)."""


def episode_seed(config: ImitationConfig, seed: int, heldout: bool) -> int:
    """The seed of a setting's evaluation episodes."""
    return 1_000_000_007 + 7 * seed + int(heldout)


def play_setting(config: ImitationConfig, setting: str, seat: str, seed: int,
                 learner: SocialLearner | None = None, skill=None) -> Record:
    """One evaluation episode per environment of ``setting`` with ``seat`` in agent_0's
    place (a hierarchical learner walks with ``skill``)."""
    with_experts, heldout = SETTINGS[setting]
    arenas = make_arenas(config, config.eval_envs, heldout=heldout,
                         experts=config.eval_experts if with_experts else 0)
    generator = torch.Generator().manual_seed(seed)
    return play_episodes(arenas, seat, episode_seed(config, seed, heldout), learner, generator,
                         config=config, skill=skill)


def mean_return(episodes: Record) -> float:
    """Mean over environments of the seat's episode return."""
    return float(episodes.rewards.sum(0).mean())


def reference(config: ImitationConfig, seed: int = 0) -> dict[str, float]:
    """What the expert, the random walker and standing still score in the seat, and the
    base of normalised returns (the better of the last two), per setting: the same at
    every evaluation of a run, so a trainer computes it once."""
    report: dict[str, float] = {}
    for setting, (with_experts, _) in SETTINGS.items():
        walker = play_setting(config, setting, "random", seed)
        report[f"expert_{setting}"] = mean_return(play_setting(config, setting, "expert", seed))
        report[f"random_{setting}"] = mean_return(walker)
        report[f"still_{setting}"] = mean_return(play_setting(config, setting, "still", seed))
        report[f"base_{setting}"] = max(report[f"random_{setting}"], report[f"still_{setting}"])
        if with_experts:
            report[f"following_random_{setting}"] = following(config, walker)
    return report


def evaluate(config: ImitationConfig, learner: SocialLearner, seed: int = 0,
             baselines: dict[str, float] | None = None, skill=None) -> dict:
    """Every measure of the learner in every setting (sampled moves, fixed seeds), beside
    ``baselines`` (:func:`reference`, computed here when not given); a hierarchical
    learner walks with ``skill`` and its strays are counted."""
    baselines = reference(config, seed) if baselines is None else baselines
    report: dict[str, float] = {}
    for setting, (with_experts, _) in SETTINGS.items():
        learned = play_setting(config, setting, "learner", seed, learner, skill)
        if config.agent != "flat":
            report[f"strays_{setting}"] = float(learned.stray.sum(0).float().mean())
        expert = baselines[f"expert_{setting}"]
        report[f"return_{setting}"] = mean_return(learned)
        report[f"expert_{setting}"] = expert
        for scripted in ("random", "still", "base"):
            report[f"{scripted}_{setting}"] = baselines[f"{scripted}_{setting}"]
        report[f"normalised_{setting}"] = normalised_return(
            report[f"return_{setting}"], report[f"base_{setting}"], expert)
        report[f"agreement_{setting}"] = action_agreement(learned.moves, learned.expert_moves)
        if with_experts:
            report[f"following_{setting}"] = following(config, learned)
            report[f"following_random_{setting}"] = baselines[f"following_random_{setting}"]
            report[f"peer_accuracy_{setting}"] = prediction_accuracy(
                learned.peer_logits.numpy(), learned.peer_moves.numpy(),
                learned.peer_present.numpy())
            report[f"peer_majority_{setting}"] = majority_accuracy(learned)
            report[f"peer_repeat_{setting}"] = repeat_accuracy(learned)
    for prefix in ("", "heldout_"):
        report[f"transmission{'_' + prefix[:-1] if prefix else ''}"] = transmission_score(
            report[f"return_{prefix}with"], report[f"return_{prefix}alone"],
            report[f"expert_{prefix}with"])
    return report


def following(config: ImitationConfig, episodes: Record) -> float:
    """Fraction of steps with an expert adjacent or in view."""
    distance = episodes.expert_distance.numpy()
    return following_fraction(distance, distance <= config.world.view_radius, within=1)


def majority_accuracy(episodes: Record) -> float:
    """Accuracy of always predicting the experts' most common move (the head's baseline)."""
    targets = episodes.peer_moves[episodes.peer_present].numpy()
    if targets.size == 0:
        return float("nan")
    return float(np.bincount(targets).max() / targets.size)


def repeat_accuracy(episodes: Record) -> float:
    """Accuracy of predicting that each agent in view repeats its previous move, the
    baseline SCIENCE.md sets for next-move prediction."""
    previous = episodes.observation["others"][..., 5].long() - 1  # previous move + 1
    present = episodes.peer_present
    if not present.any():
        return float("nan")
    return float((previous[present] == episodes.peer_moves[present]).float().mean())
