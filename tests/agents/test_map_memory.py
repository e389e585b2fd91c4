"""The map memory and the map-memory planner: what is written where, forgetting, and the
planner's arrival on unseen mazes from its observation alone."""

from __future__ import annotations

import numpy as np

from socius.agents.map_memory import OPEN, UNKNOWN, WALL, MapPlanner, empty_maps, remember
from socius.envs import core
from socius.envs.maze_v0 import MazeConfig, build_world
from socius.envs.vector import VectorEnv
from socius.societies.navigation.unseen import arrival_steps, evaluation_layouts


def maze(size: int = 11, view_radius: int = 1) -> object:
    return build_world(MazeConfig(layout="maze", size=size, view_radius=view_radius,
                                  max_cycles=50))


def test_a_view_is_written_where_it_was_seen_and_nowhere_else():
    world = maze()
    venv = VectorEnv(world, 4, seed=0)
    venv.reset(seed=0)
    observation = core.observe(world, venv.state)
    maps = remember(empty_maps((4,), world.height, world.width),
                    observation["view"][:, 0], observation["position"][:, 0])
    walls = world.info["walls"][0]
    for env in range(4):
        row, col = observation["position"][env, 0]
        seen = np.zeros_like(walls)
        seen[max(row - 1, 0): row + 2, max(col - 1, 0): col + 2] = True
        assert (maps[env][~seen] == UNKNOWN).all()
        expected = np.where(walls, WALL, OPEN)
        assert (maps[env][seen] == expected[seen]).all()


def test_a_new_view_adds_to_the_map_and_a_new_episode_forgets_it():
    world = maze()
    planner = MapPlanner(world.height, world.width)
    venv = VectorEnv(world, 2, seed=1)
    venv.reset(seed=1)
    state, done = planner.initial_state(2), np.ones(2, bool)
    known = []
    for _ in range(6):
        observation = core.observe(world, venv.state)
        action, state = planner.act(observation, state, done, None)
        known.append((state["map"] != UNKNOWN).sum(axis=(-1, -2))[:, 0])
        done[:] = False
        venv.step(action)
    assert all((later >= earlier).all() for earlier, later in zip(known, known[1:]))
    assert (known[-1] > known[0]).all()
    _, state = planner.act(core.observe(world, venv.state), state, np.array([True, False]), None)
    assert (state["map"][0] != UNKNOWN).sum() == 9  # only the fresh 3x3 view
    assert (state["map"][1] != UNKNOWN).sum() >= known[-1][1]


def test_the_planner_walks_straight_to_a_goal_it_can_see_in_an_open_room():
    world = build_world(MazeConfig(layout="open", size=9, view_radius=8, max_cycles=40))
    venv = VectorEnv(world, 1, seed=0, auto_reset=False)
    venv.reset(seed=0)
    venv.place(np.array([[1]]), np.array([[1]]), np.array([[[7, 6]]]))
    planner = MapPlanner(world.height, world.width)
    state, done, steps = planner.initial_state(1), np.ones(1, bool), 0
    while not venv.state.finished[0, 0]:
        action, state = planner.act(core.observe(world, venv.state), state, done, None)
        done[:] = False
        venv.step(action)
        steps += 1
    assert steps == 6 + 5


def test_the_planner_reaches_goals_on_unseen_mazes_within_the_generous_limit():
    base = MazeConfig(layout="maze", size=15, view_radius=2, max_cycles=1)
    layouts = evaluation_layouts(base, layout_seed=500, layouts=3, pairs=30, seed=0)
    arrived = arrival_steps(MapPlanner(15, 15), layouts, seed=0)
    within = (arrived > 0) & (arrived <= 4 * layouts.distance + 50)
    assert within.mean() >= 0.9
    # It never beats the shortest path, and it is no oracle: some pair takes a detour.
    assert (arrived[arrived > 0] >= layouts.distance[arrived > 0]).all()
    assert (arrived > layouts.distance).any()
