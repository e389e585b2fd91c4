"""Reach-probability values: tabular fixed points against the exact values of SCIENCE.md."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
import torch

from socius.agents import tabular
from socius.agents.values import (
    expectile_loss,
    flat_exact,
    flat_target,
    hierarchical_exact,
    steps_of_progress,
)
from socius.envs import layouts

GRIDS = {
    "open7": layouts.open_room(7, 7),
    "four_rooms11": layouts.four_rooms(11),
    "maze11": layouts.maze(11, np.random.default_rng(2)),
}


def goals_of(walls, count=3):
    cells, _ = tabular.free_cells(walls)
    return np.linspace(0, len(cells) - 1, count).astype(int)


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_flat_fixed_point_is_gamma_to_the_distance_minus_one(grid, gamma):
    walls = GRIDS[grid]
    distance = tabular.state_distances(walls)
    for goal in goals_of(walls):
        q = tabular.flat_q_values(walls, goal, gamma)
        assert q.min() >= 0 and q.max() <= 1
        d = distance[:, goal]
        away = d >= 1
        expected = np.array([flat_exact(int(x), gamma) for x in d[away]])
        assert np.abs(q.max(axis=1)[away] - expected).max() < 1e-6


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_hierarchical_fixed_point_matches_alpha_n_gamma_n_minus_one(grid, k):
    walls = GRIDS[grid]
    alpha, gamma = 0.99, 0.95
    distance = tabular.state_distances(walls)
    reach = tabular.reach_within(distance, k)
    for goal in goals_of(walls):
        value = tabular.hierarchical_values(reach, goal, alpha, gamma)
        expected = np.array([hierarchical_exact(int(x), k, alpha, gamma)
                             for x in distance[:, goal]])
        assert np.abs(value - expected).max() < 1e-6


def test_one_level_with_k_one_is_the_flat_value_with_alpha():
    # With k = 1 every step is a subgoal: alpha**d * gamma**(d-1).
    walls = GRIDS["four_rooms11"]
    distance = tabular.state_distances(walls)
    value = tabular.hierarchical_values(tabular.reach_within(distance, 1), 0, 1.0, 0.9)
    flat = tabular.flat_q_values(walls, 0, 0.9).max(axis=1)
    away = distance[:, 0] >= 1
    assert np.abs(value[away] - flat[away]).max() < 1e-9


def test_discounting_per_subgoal_keeps_long_horizons_alive():
    # SCIENCE.md: 500 steps with subgoals every 10 is gamma**50, not gamma**500.
    gamma = 0.99
    assert flat_exact(501, gamma) < 0.007
    assert hierarchical_exact(500, 10, 1.0, gamma) == pytest.approx(gamma ** 49)
    assert hierarchical_exact(500, 10, 0.99, gamma) > 0.35


def best_chain_value(reach, goal, alpha, gamma):
    """Independent check: max over subgoal chains of the product of hop terms (Dijkstra on
    -log terms, searching backwards from the goal)."""
    size = len(reach)
    cost = np.full(size, np.inf)
    cost[goal] = 0.0
    heap = [(0.0, goal)]
    while heap:
        here, node = heapq.heappop(heap)
        if here > cost[node]:
            continue
        for source in range(size):
            p = reach[source, node]
            if p <= 0 or source == goal:
                continue
            hop = -math.log(alpha * p) + (0.0 if node == goal else -math.log(gamma))
            if here + hop < cost[source] - 1e-15:
                cost[source] = here + hop
                heapq.heappush(heap, (cost[source], source))
    return np.exp(-cost)


def test_two_levels_compose_through_the_lower_level_values():
    walls = GRIDS["maze11"]
    alpha, gamma, k1, k2 = 0.98, 0.9, 2, 6
    distance = tabular.state_distances(walls)
    lower = np.stack([tabular.hierarchical_values(tabular.reach_within(distance, k1), g,
                                                  alpha, gamma) for g in range(len(walls[~walls]))],
                     axis=1)  # lower[s, g1]
    reach = tabular.level_reach(lower, distance, k2)
    for goal in goals_of(walls):
        value = tabular.hierarchical_values(reach, goal, alpha, gamma)
        assert np.abs(value - best_chain_value(reach, goal, alpha, gamma)).max() < 1e-9
        assert ((value > 0) == (distance[:, goal] >= 0)).all()


def test_targets_work_on_tensors_and_arrays():
    reward = torch.tensor([1.0, 0.0])
    next_value = torch.tensor([0.5, 0.5])
    assert flat_target(reward, next_value, 0.9).tolist() == pytest.approx([1.0, 0.45])
    assert flat_target(np.array([0.0]), np.array([1.0]), 0.9).tolist() == pytest.approx([0.9])
    steps = steps_of_progress(torch.tensor([1.0, 0.99 ** 10]), 0.99)
    assert steps.tolist() == pytest.approx([0.0, -10.0])
    assert steps_of_progress(np.array([0.99 ** 3]), 0.99).tolist() == pytest.approx([-3.0])


def test_expectile_loss_weights_underestimates_by_tau():
    prediction = torch.zeros(2)
    target = torch.tensor([1.0, -1.0])
    loss = expectile_loss(prediction, target, 0.8)
    assert loss.tolist() == pytest.approx([0.8, 0.2])
