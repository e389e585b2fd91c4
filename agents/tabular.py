"""Tabular fixed points of the reach-probability rules on deterministic grids.

They iterate exactly the target functions of ``socius.agents.values`` (the ones
the learned agents train on) until nothing changes, so the exact values of
SCIENCE.md can be checked to 1e-6.
"""

from __future__ import annotations

import numpy as np

from socius.agents.values import flat_target, hierarchical_target
from socius.envs.layouts import shortest_steps
from socius.envs.moves import MOVE_COL, MOVE_ROW


def free_cells(walls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cells ``[S, 2]`` of the free cells, ``index[H, W]`` of each cell's state or -1)."""
    cells = np.argwhere(~walls)
    index = np.full(walls.shape, -1, dtype=np.int64)
    index[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
    return cells, index


def next_states(walls: np.ndarray) -> np.ndarray:
    """Deterministic grid dynamics ``[S, 5]``: moves into walls leave the agent in place."""
    cells, index = free_cells(walls)
    rows = cells[:, :1] + MOVE_ROW
    cols = cells[:, 1:] + MOVE_COL
    inside = (rows >= 0) & (rows < walls.shape[0]) & (cols >= 0) & (cols < walls.shape[1])
    target = np.where(inside, index[rows.clip(0, walls.shape[0] - 1),
                                    cols.clip(0, walls.shape[1] - 1)], -1)
    return np.where(target >= 0, target, np.arange(len(cells))[:, None])


def state_distances(walls: np.ndarray) -> np.ndarray:
    """All-pairs shortest-path steps between free cells ``[S, S]`` (-1 if unreachable)."""
    cells, _ = free_cells(walls)
    start = np.zeros((len(cells), *walls.shape), dtype=bool)
    start[np.arange(len(cells)), cells[:, 0], cells[:, 1]] = True
    flat = shortest_steps(walls, start).reshape(len(cells), walls.size)
    # np.take keeps rows contiguous, as the row-by-row fill it replaced did.
    return np.take(flat, cells[:, 0] * walls.shape[1] + cells[:, 1], axis=1)


def flat_q_values(walls: np.ndarray, goal: int, gamma: float, tolerance: float = 1e-13,
                  max_iterations: int = 100_000) -> np.ndarray:
    """Fixed point ``Q[S, 5]`` of the flat rule for goal state ``goal``."""
    following = next_states(walls)
    reward = (following == goal).astype(np.float64)
    q = np.zeros(following.shape)
    for _ in range(max_iterations):
        updated = flat_target(reward, q.max(axis=1)[following], gamma)
        if np.abs(updated - q).max() < tolerance:
            return updated
        q = updated
    raise RuntimeError("flat value iteration did not converge")


def reach_within(distance: np.ndarray, k: int) -> np.ndarray:
    """P_k on a deterministic grid: 1 where 0 < d(s, g1) <= k, else 0; ``[S, S]``."""
    return ((distance > 0) & (distance <= k)).astype(np.float64)


def hierarchical_values(reach: np.ndarray, goal: int, alpha: float, gamma: float,
                        tolerance: float = 1e-13, max_iterations: int = 100_000) -> np.ndarray:
    """Fixed point ``V_H[S]`` of the hierarchical rule, given P_k ``reach[S, S]`` from the
    level below; ``V_H(goal) = 1`` because arrival ends the episode."""
    achieves = np.zeros(len(reach))
    achieves[goal] = 1.0
    value = np.zeros(len(reach))
    value[goal] = 1.0
    for _ in range(max_iterations):
        terms = hierarchical_target(reach, achieves[None, :], value[None, :], alpha, gamma)
        updated = terms.max(axis=1)
        updated[goal] = 1.0
        if np.abs(updated - value).max() < tolerance:
            return updated
        value = updated
    raise RuntimeError("hierarchical value iteration did not converge")


def level_reach(values_to_each_goal: np.ndarray, distance: np.ndarray, k: int) -> np.ndarray:
    """P_k of the level above: the lower level's ``V[s, g1]`` for subgoals within k steps.

    ``values_to_each_goal[s, g1]`` is the lower level's value of reaching g1 from s.
    """
    return np.where((distance > 0) & (distance <= k), values_to_each_goal, 0.0)
