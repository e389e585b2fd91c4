"""Goal-conditioned values read as probabilities of reaching the goal (SCIENCE.md).

These pure functions are the single source of every value target in socius: the
tabular fixed-point tests and the learned agents call the same code. They use
only arithmetic operators, so they work on numpy arrays and torch tensors alike.

Flat rule (reward on arrival, ``r = 1[s' achieves g]``)::

    Q(s, a, g) <- r + gamma * (1 - r) * max_a' Q(s', a', g)

so ``max_a Q*(s, a, g) = gamma ** (d - 1)`` at shortest-path distance d >= 1.

Hierarchical rule, over subgoals g1 reachable within k steps::

    V_H(s, goal) = max_g1 alpha * P_k(s -> g1)
                          * [R(g1, goal) + gamma * (1 - R(g1, goal)) * V_H(g1, goal)]

with one discount per completed subgoal, and alpha < 1 charging each query, so
``V_H = alpha ** n * gamma ** (n - 1)`` with ``n = ceil(d / k)`` (1 at d = 0).
"""

from __future__ import annotations

import math

import numpy as np


def flat_target(reward, next_value, gamma: float):
    """Flat reach-probability target ``r + gamma * (1 - r) * max_a' Q(s', a', g)``.

    ``reward`` is 1 when the transition achieves the goal (the episode ends for
    that goal), so no value is bootstrapped past arrival.
    """
    return reward + gamma * (1 - reward) * next_value


def hierarchical_target(reach_probability, achieves, subgoal_value, alpha: float,
                        gamma: float):
    """One subgoal's term ``alpha * P_k(s -> g1) * [R + gamma * (1 - R) * V_H(g1, goal)]``.

    ``reach_probability`` is P_k from the level below, ``achieves`` is R(g1, goal)
    in {0, 1} and ``subgoal_value`` is V_H(g1, goal). The caller maximises over g1.
    """
    return alpha * reach_probability * (achieves + gamma * (1 - achieves) * subgoal_value)


def steps_of_progress(value, gamma: float):
    """Express a reach probability as steps, ``log V / (-log gamma)`` (0 at V = 1).

    Advantages in these units stay informative where raw probabilities are
    nearly flat: about 0.07 apart for a 10-step subgoal at d = 40 with gamma = 0.99.
    Works on tensors (``value.log()``) and numpy arrays (``numpy.log``).
    """
    log = value.log() if hasattr(value, "log") else _numpy_log(value)
    return log / (-math.log(gamma))


def expectile_loss(prediction, target, tau: float):
    """Expectile regression ``|tau - 1(u < 0)| * u**2`` with ``u = target - prediction``
    (IQL/HIQL); the caller averages. tau > 0.5 leans towards the best in-data outcomes."""
    difference = target - prediction
    weight = tau - (difference < 0) * 1.0
    return abs(weight) * difference * difference


def flat_exact(distance, gamma: float):
    """The exact flat value ``gamma ** (d - 1)`` for d >= 1 (and 1 at d = 0)."""
    return gamma ** max(distance - 1, 0)


def hierarchical_exact(distance, k: int, alpha: float, gamma: float):
    """The exact one-level hierarchical value ``alpha**n * gamma**(n-1)``, n = ceil(d / k)."""
    if distance == 0:
        return 1.0
    subgoals = math.ceil(distance / k)
    return alpha ** subgoals * gamma ** (subgoals - 1)


def _numpy_log(value):
    """The natural log of a number or array (values may also be torch tensors)."""
    return np.log(value)
