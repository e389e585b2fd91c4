"""Social-learning metrics as pure functions of arrays (SCIENCE.md, "Imitation").

References: Ndousse et al. 2021 (Goal Cycle); Bhoopchand et al. 2023 (cultural
transmission). Nothing here plays an episode; the evaluation feeds these functions.
"""

from __future__ import annotations

import numpy as np


def normalised_return(mean_return: float, base_return: float, expert_return: float) -> float:
    """``(R - R_base) / (R_expert - R_base)``: 0 plays like the base (the better of a random
    walker and standing still), 1 like the expert."""
    gap = expert_return - base_return
    if not gap > 0:
        raise ValueError(f"expert_return must exceed base_return to normalise; got "
                         f"expert {expert_return!r}, base {base_return!r}")
    return float((mean_return - base_return) / gap)


def transmission_score(return_with_expert: float, return_alone: float,
                       expert_return: float) -> float:
    """``(R_with_expert - R_alone) / R_expert``: what the experts' presence adds, on the same
    layouts, as a fraction of what the expert earns."""
    if not expert_return > 0:
        raise ValueError(f"expert_return must be > 0; got {expert_return!r}")
    return float((return_with_expert - return_alone) / expert_return)


def following_fraction(distance, visible, within: int, alive=None) -> float:
    """Fraction of steps with some expert within ``within`` cells (Chebyshev) or in view.

    ``distance`` ``[T, E]`` learner-to-expert distances (any leading dims before ``E``),
    ``visible`` bool of the same shape, ``alive`` bool ``[T]`` (steps that count)."""
    distance, visible = np.asarray(distance), np.asarray(visible, dtype=bool)
    if distance.shape != visible.shape:
        raise ValueError(f"distance {distance.shape} and visible {visible.shape} must match")
    near = ((distance <= within) | visible).any(axis=-1)
    if alive is not None:
        near = near[np.asarray(alive, dtype=bool)]
    return float(near.mean()) if near.size else float("nan")


def action_agreement(learner_moves, expert_moves, alive=None) -> float:
    """Fraction of steps on which the learner's move equals the move the expert's policy
    would make in the learner's state (ties in the expert's policy count as disagreement)."""
    learner_moves, expert_moves = np.asarray(learner_moves), np.asarray(expert_moves)
    if learner_moves.shape != expert_moves.shape:
        raise ValueError(f"learner_moves {learner_moves.shape} and expert_moves "
                         f"{expert_moves.shape} must match")
    same = learner_moves == expert_moves
    if alive is not None:
        same = same[np.asarray(alive, dtype=bool)]
    return float(same.mean()) if same.size else float("nan")


def prediction_accuracy(logits, targets, present) -> float:
    """Accuracy of predicted moves ``argmax(logits[..., A])`` on ``targets`` where ``present``."""
    logits, targets = np.asarray(logits), np.asarray(targets)
    present = np.asarray(present, dtype=bool)
    if logits.shape[:-1] != targets.shape or targets.shape != present.shape:
        raise ValueError(f"logits {logits.shape[:-1]} + (A,), targets {targets.shape} and "
                         f"present {present.shape} must match")
    hits = logits.argmax(axis=-1) == targets
    return float(hits[present].mean()) if present.any() else float("nan")
