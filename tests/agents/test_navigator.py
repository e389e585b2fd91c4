"""The socius navigator: its data (maps rebuilt from views, hindsight floors), its
subgoal candidates, clear errors, and a small seeded run on unseen mazes against the
random walker."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from socius.agents.map_dataset import MapDataset, move_successors
from socius.agents.map_memory import OPEN, UNKNOWN, WALL
from socius.agents.navigator import Navigator, NavigatorConfig
from socius.agents.navigator_policy import NavigatorPolicy
from socius.agents.scripted import GoalSeeker, NoisyPolicy, RandomPolicy
from socius.envs.maze_v0 import MazeConfig, build_world
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes
from socius.societies.navigation.unseen import arrival_steps, evaluation_layouts

SMALL = MazeConfig(layout="maze", size=11, view_radius=2, max_cycles=44)


def small_dataset(layouts: int = 20, steps: int = 100) -> MapDataset:
    """The noisy expert's episodes in ``layouts`` 11 x 11 mazes (about 13k transitions)."""
    policy = NoisyPolicy(GoalSeeker(), RandomPolicy(1, 0), 0.5)
    by_layout = []
    for index in range(layouts):
        world = build_world(dataclasses.replace(SMALL, layout_seed=index))
        venv = VectorEnv(world, 8, seed=index)
        episodes = record_episodes(venv, policy, np.random.default_rng(index), steps)
        by_layout.append((world.info["walls"][0], episodes))
    return MapDataset(by_layout)


def success(policy) -> float:
    """Share of 60 pairs on six unseen 11 x 11 mazes reached within 3d + 20 steps."""
    layouts = evaluation_layouts(SMALL, layout_seed=9_000, layouts=6, pairs=60, seed=0)
    arrived = arrival_steps(policy, layouts, seed=0)
    return float(((arrived > 0) & (arrived <= 3 * layouts.distance + 20)).mean())


@pytest.fixture(scope="module")
def dataset():
    return small_dataset()


def test_maps_grow_along_each_trajectory_and_agree_with_the_layout(dataset):
    here = dataset.source
    before, after = dataset.maps[here], dataset.maps[here + 1]
    assert ((before == UNKNOWN) | (before == after)).all()
    assert (after != UNKNOWN).sum() > (before != UNKNOWN).sum()
    walls = ~dataset.open[dataset.layout]
    known = dataset.maps != UNKNOWN
    assert ((dataset.maps == WALL) == walls)[known].all()
    assert (dataset.maps[np.arange(len(dataset.cells)), dataset.cells[:, 0],
                         dataset.cells[:, 1]] == OPEN).all()


def test_the_hindsight_floor_is_gamma_to_the_first_visit(dataset):
    config = NavigatorConfig(batch_size=256, gamma=0.9)
    batch = dataset.sample(np.random.default_rng(0), config)
    for row in range(0, 256, 17):
        floor = batch["reach_floor"][row]
        # Rebuild from the trajectory: rows after the sampled one, up to its end.
        first = int(batch["row"][row])
        last = int(dataset.last[np.searchsorted(dataset.source, first)])
        expected = np.zeros_like(floor)
        for j in range(last - first, 0, -1):
            cell = dataset.cells[first + j]
            expected[cell[0], cell[1]] = 0.9 ** (j - 1)
        assert np.allclose(floor, expected)
    ahead_met = batch["achieves"]
    assert (batch["onward_floor"][ahead_met] <= 1).all()
    assert batch["onward_floor"].min() >= 0


def test_candidates_are_remembered_open_cells_within_reach_and_not_the_agents_own():
    navigator = Navigator(NavigatorConfig(), torch.Generator().manual_seed(0))
    policy = NavigatorPolicy(navigator, "hierarchical", 9, 9, subgoal_beta=50.0)
    maps = torch.zeros(2, 9, 9, dtype=torch.int8)
    maps[0, 4, 3:6] = OPEN  # the agent's cell and its two neighbours
    maps[0, 3, 4] = WALL
    cell = torch.tensor([[4, 4], [4, 4]])
    goal = torch.tensor([[8, 8], [1, 1]])
    reach = torch.ones(2, 9, 9)
    generator = np.random.default_rng(0)
    picks = {tuple(policy._choose(maps, cell, goal, reach, generator)[0]) for _ in range(20)}
    assert picks <= {(4, 3), (4, 5)}
    assert tuple(policy._choose(maps, cell, goal, reach, generator)[1]) == (1, 1)  # no map
    maps[0, 4, 5] = UNKNOWN
    reach[0, 4, 3] = 0.0  # out of reach, and the other neighbour forgotten: the goal again
    assert tuple(policy._choose(maps, cell, goal, reach, generator)[0]) == (8, 8)
    maps[0, 4, 5] = OPEN
    maps[0, 2, 4] = OPEN
    goal[0] = torch.tensor([2, 4])  # the goal is a candidate: it scores alpha, the most
    assert tuple(policy._choose(maps, cell, goal, reach, generator)[0]) == (2, 4)


def test_bad_settings_name_their_field():
    with pytest.raises(ValueError, match="learner"):
        NavigatorConfig(learner="hiql")
    with pytest.raises(ValueError, match="expectile"):
        NavigatorConfig(expectile=1.5)
    clone = Navigator(NavigatorConfig(learner="gcbc"), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="mode"):
        NavigatorPolicy(clone, "flat", 9, 9)
    with pytest.raises(ValueError, match="mode"):
        NavigatorPolicy(clone, "bfs", 9, 9)
    low = Navigator(NavigatorConfig(learner="low"), torch.Generator().manual_seed(0))
    walking = NavigatorPolicy(low, "flat", 9, 9)  # the low level alone walks
    venv = VectorEnv(build_world(MazeConfig(layout="maze", size=9)), 2, seed=0)
    observation = venv.reset(seed=0)
    observation = observation[0] if isinstance(observation, tuple) else observation
    action, _ = walking.act(observation, walking.initial_state(2), np.ones(2, bool),
                            np.random.default_rng(0))
    assert action.shape[:2] == (2, 1)
    with pytest.raises(ValueError, match="mode"):
        NavigatorPolicy(low, "hierarchical", 9, 9)  # it has no high level


@pytest.mark.slow  # about a minute of training
def test_a_small_run_walks_unseen_mazes_far_better_than_the_random_walker(
        dataset, one_torch_thread):
    scores = {"random": success(RandomPolicy(1, 0))}
    for learner in ("hierarchical", "gcbc"):
        config = NavigatorConfig(learner=learner)
        navigator = Navigator(config, torch.Generator().manual_seed(0))
        batches = np.random.default_rng(1)
        for _ in range(400):
            navigator.update(dataset.sample(batches, config))
        for mode in ("hierarchical", "flat") if learner == "hierarchical" else ("gcbc",):
            scores[mode] = success(NavigatorPolicy(navigator, mode, 11, 11))
    # 400 updates of 32 transitions (here: random 0.12, hierarchical 0.27, flat 0.30,
    # GC-BC 0.22): both value agents walk unseen mazes at more than twice the random
    # walker's rate, and GC-BC clears it too.
    assert scores["hierarchical"] >= scores["random"] + 0.1, scores
    assert scores["flat"] >= scores["random"] + 0.1, scores
    assert scores["gcbc"] >= scores["random"] + 0.05, scores


def test_the_propagation_body_names_its_bad_settings():
    with pytest.raises(ValueError, match="body"):
        NavigatorConfig(body="vin")
    with pytest.raises(ValueError, match="map_kinds"):
        NavigatorConfig(body="propagation", map_kinds=4)  # objects end walks: no factor


def test_known_moves_lead_to_open_neighbours_and_otherwise_stay():
    maps = np.full((1, 5, 5), WALL, np.int8)
    maps[0, 1:4, 2] = OPEN  # a vertical corridor through the agent's cell
    maps[0, 2, 3] = UNKNOWN
    after = move_successors(maps, np.array([[2, 2]]))[0]
    # stay, up, down, left (wall), right (unknown): MOVE_ROW / MOVE_COL order
    reached = {tuple(cell) for cell in after}
    assert reached == {(2, 2), (1, 2), (3, 2)}
    edge = move_successors(np.full((1, 3, 3), OPEN, np.int8), np.array([[0, 0]]))[0]
    assert (edge >= 0).all()  # off the grid: stay


def test_without_hindsight_only_the_episodes_own_goal_is_learned(dataset):
    config = NavigatorConfig(hindsight=False, batch_size=64)
    batch = dataset.sample(np.random.default_rng(0), config)
    assert (batch["goal"] == dataset.goals[batch["row"]]).all()
    assert (dataset.goals[dataset.source] == dataset.goals[dataset.source + 1]).all()
    floor = batch["reach_floor"]
    off_goal = np.ones_like(floor, bool)
    off_goal[np.arange(64), batch["goal"][:, 0], batch["goal"][:, 1]] = False
    assert (floor[off_goal] == 0).all() and (floor > 0).any()


def test_propagated_values_walk_unseen_mazes_after_a_few_hundred_updates(
        dataset, one_torch_thread):
    scores = {}
    for body in ("conv", "propagation"):
        config = NavigatorConfig(learner="low", body=body, known_moves=body == "propagation")
        navigator = Navigator(config, torch.Generator().manual_seed(0))
        batches = np.random.default_rng(1)
        for _ in range(300):
            navigator.update(dataset.sample(batches, config))
        scores[body] = success(NavigatorPolicy(navigator, "flat", 11, 11))
    scores["random"] = success(RandomPolicy(1, 0))
    # 300 updates of 32 transitions (here: random 0.12, conv 0.32, propagation 1.00):
    # values carried along the whole maze, against a 12-layer net's dozen cells.
    assert scores["propagation"] >= scores["conv"] + 0.2, scores
    assert scores["propagation"] >= scores["random"] + 0.4, scores


def test_the_learned_high_value_ranks_subgoals_far_better_than_chance(dataset, one_torch_thread):
    config = NavigatorConfig(body="propagation", known_moves=True)
    navigator = Navigator(config, torch.Generator().manual_seed(0))
    batches = np.random.default_rng(1)
    for _ in range(300):
        navigator.update(dataset.sample(batches, config))
    ranked = success(NavigatorPolicy(navigator, "hierarchical", 11, 11))
    # The control: the same candidates and walks, each subgoal drawn uniformly.
    uniform = success(NavigatorPolicy(navigator, "hierarchical", 11, 11, subgoal_beta=1e-6))
    flat = success(NavigatorPolicy(navigator, "flat", 11, 11))
    # 300 updates of 32 transitions (here: V_H 1.00, uniform subgoals 0.52, flat 1.00).
    assert ranked >= uniform + 0.3, (ranked, uniform)
    assert ranked >= flat - 0.1, (ranked, flat)


def test_a_propagated_value_reads_the_same_from_the_start_or_towards_the_goal():
    navigator = Navigator(NavigatorConfig(body="propagation"), torch.Generator().manual_seed(0))
    generator = np.random.default_rng(0)
    maps = torch.as_tensor(generator.choice([UNKNOWN, OPEN, WALL], (4, 9, 9),
                                            p=[0.4, 0.4, 0.2]).astype(np.int8))
    start, goal = torch.tensor([[1, 1], [4, 4], [0, 8], [7, 2]]), torch.tensor(
        [[7, 7], [0, 0], [8, 0], [2, 6]])
    maps[torch.arange(4), start[:, 0], start[:, 1]] = OPEN
    with torch.no_grad():
        forward = navigator.reach(maps, start)[torch.arange(4), goal[:, 0], goal[:, 1]]
        backward = navigator.reach_towards(maps, goal)[torch.arange(4), start[:, 0], start[:, 1]]
    assert torch.allclose(forward, backward, rtol=1e-4) and (forward > 0).any()
    conv = Navigator(NavigatorConfig(), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="mode"):
        NavigatorPolicy(conv, "hiql", 9, 9)  # a conv low level values one start per pass
