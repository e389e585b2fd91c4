"""The hierarchical agent's subgoal rule, run on exact values so any error is the rule's."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from socius.agents import tabular
from socius.agents.gcrl import GCRLAgent, GCRLConfig
from socius.agents.values import flat_exact, hierarchical_exact
from socius.envs import layouts


class ExactValue(nn.Module):
    """V(cell_a, cell_b) from a table over grid-cell indices (stands in for ReachValue)."""

    def __init__(self, table: np.ndarray):
        super().__init__()
        self.table = torch.as_tensor(table)

    def forward(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Table lookup ``[B]``."""
        return self.table[state, goal]


def exact_tables(walls, k, alpha, gamma):
    """Flat and hierarchical exact values over grid-cell indices, and the distances."""
    cells, _ = tabular.free_cells(walls)
    distance = tabular.state_distances(walls)
    size = walls.size
    index = cells[:, 0] * walls.shape[1] + cells[:, 1]
    flat = np.zeros((size, size), dtype=np.float32)
    high = np.zeros((size, size), dtype=np.float32)
    grid_distance = np.full((size, size), -1)
    flat_of = np.vectorize(lambda d: flat_exact(d, gamma))
    high_of = np.vectorize(lambda d: hierarchical_exact(d, k, alpha, gamma))
    flat[np.ix_(index, index)] = flat_of(distance)
    high[np.ix_(index, index)] = high_of(distance)
    grid_distance[np.ix_(index, index)] = distance
    return index, flat, high, grid_distance


def test_subgoals_lie_within_k_and_cost_exactly_one_subgoal_of_the_distance():
    k, alpha, gamma = 4, 0.99, 0.99
    walls = layouts.maze(13, np.random.default_rng(3))
    index, flat, high, distance = exact_tables(walls, k, alpha, gamma)
    agent = GCRLAgent(GCRLConfig(agent="hier", subgoal_steps=k, alpha=alpha, gamma=gamma),
                      walls.size, torch.Generator().manual_seed(0))
    agent.value, agent.high_value = ExactValue(flat), ExactValue(high)
    rng = np.random.default_rng(0)
    state = torch.as_tensor(rng.choice(index, 400))
    goal = torch.as_tensor(rng.choice(index, 400))
    known = torch.zeros(walls.size, dtype=torch.bool)
    known[torch.as_tensor(index)] = True
    subgoal = agent.choose_subgoal(state, goal, known).numpy()
    s, g = state.numpy(), goal.numpy()
    assert known[subgoal].all()
    to_subgoal, before, after = distance[s, subgoal], distance[s, g], distance[subgoal, g]
    far = before > 0
    assert (to_subgoal[far] >= 1).all() and (to_subgoal[far] <= k).all()
    # Each subgoal removes one k-block of distance: ceil(d / k) drops by exactly one.
    assert (np.ceil(after[far] / k) == np.ceil(before[far] / k) - 1).all()
    near = (before > 0) & (before <= k)
    assert near.any() and (subgoal[near] == g[near]).all()
    # The flat value breaks ties: subgoals sit a full k steps along a shortest path.
    assert (to_subgoal[far] + after[far] == before[far]).all()
    assert (after[far] == np.maximum(before[far] - k, 0)).all()


def test_subgoal_policy_replans_on_schedule_on_arrival_and_after_a_reset():
    from socius.agents.gcrl import SubgoalPolicy
    from socius.envs import make_vector

    venv = make_vector("maze_v0", 4, seed=0, layout="maze", size=9)
    walls = venv.world.info["walls"][0]
    agent = GCRLAgent(GCRLConfig(agent="hiql", subgoal_steps=3), walls.size,
                      torch.Generator().manual_seed(0))
    policy = SubgoalPolicy(agent, walls)
    observation = {k: v.numpy() for k, v in venv.reset().items()}
    state = policy.initial_state(4)
    done = np.ones(4, dtype=bool)
    ages = []
    for _ in range(7):
        action, state = policy.act(observation, state, done, None)
        assert action.shape == (4, 1, 1 + venv.world.config.message_length)
        subgoal = state["subgoal"]
        assert not walls[subgoal[..., 0], subgoal[..., 1]].any(), "subgoals are free cells"
        ages.append(state["age"].copy())
        done = np.zeros(4, dtype=bool)
        observation = {k: v.numpy() for k, v in venv.step(action)[0].items()}
    ages = np.stack(ages)[:, :, 0]
    assert ages.max() < 3, "a subgoal is picked again at least every k = 3 steps"
    _, state = policy.act(observation, state, np.array([True, False, False, False]), None)
    assert state["age"][0, 0] == 0
