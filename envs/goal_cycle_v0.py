"""``goal_cycle_v0``: visit K goal tiles in a hidden cyclic order (Ndousse et al. 2021).

Entering the next tile of the cycle earns +1 and advances the agent's place in
the cycle; entering any other tile costs ``penalty``. With ``resample_order``
the order is redrawn every episode, so within an episode it can only be found
by exploring, or by watching an agent that knows it. Views are partial.

Goal space: the cycle order, K tile indices. It is masked unless
``reveal_order`` (scripted experts read it from the state instead).
``info['desired_goal']`` is the cell of the tile the agent had to enter on this
step (before the step advances its place in the cycle) and
``info['achieved_goal']`` its own cell, so reward +1 iff the two are equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socius.envs import random
from socius.envs.config import WorldConfig, require
from socius.envs.facade import make_factories
from socius.envs.layouts import open_room
from socius.envs.state import TERRAIN, TILE, WALL
from socius.envs.world import EpisodeStart, Outcome, Task, World, group_inbox_sources, pad_grid

NAME = "goal_cycle_v0"


@dataclass(frozen=True)
class GoalCycleConfig(WorldConfig):
    """Settings of ``goal_cycle_v0``."""

    num_agents: int = 2
    """Total agents, named agent_<i>."""
    max_cycles: int = 200
    """Steps after which an episode is truncated."""
    view_radius: int = 2
    """Partial view radius."""
    message_length: int = 0
    """Tokens L per step; the imitation study is mute by default."""
    hearing_radius: int = 2
    """Agents in view within this radius are heard."""
    size: int = 9
    """Side of the square grid, border walls included."""
    num_tiles: int = 3
    """Goal tiles K in the cycle."""
    penalty: float = 1.0
    """Cost of entering a tile that is not the next one in the cycle."""
    resample_order: bool = True
    """Redraw the cycle order every episode (otherwise it is 0, 1, ..., K-1)."""
    reveal_order: bool = False
    """Show the order in the agents' goal observation."""
    num_obstacles: int = 0
    """Wall cells scattered at random in each episode's layout."""

    def check(self) -> None:
        """Raise ValueError naming the first impossible field."""
        super().check()
        require(self.size >= 3, "size", "an integer >= 3", self.size)
        require(self.num_tiles >= 1, "num_tiles", "an integer >= 1", self.num_tiles)
        require(self.num_obstacles >= 0, "num_obstacles", "an integer >= 0", self.num_obstacles)
        require(self.penalty >= 0, "penalty", "a number >= 0", self.penalty)
        free = (self.size - 2) ** 2
        require(self.num_agents + self.num_tiles + self.num_obstacles <= free, "num_agents",
                f"at most {free - self.num_tiles - self.num_obstacles} agents "
                f"(free cells {free} - tiles - obstacles)", self.num_agents)


def build_world(config: GoalCycleConfig) -> World:
    """Static world of a checked config."""
    agents = config.num_agents
    group = np.zeros(agents, dtype=np.int32)
    return World(
        name=NAME, config=config,
        task=Task(reset=reset_episodes, resolve=resolve, achieved_size=2),
        height=config.size, width=config.size,
        agent_names=tuple(f"agent_{i}" for i in range(agents)), role_names=("agent",),
        agent_role=np.zeros(agents, dtype=np.int32), embodied=np.ones(agents, dtype=bool),
        group=group, goal_size=config.num_tiles, goal_high=config.num_tiles - 1,
        goal_visible=np.full((agents, config.num_tiles), int(config.reveal_order), np.int8),
        free_cells=(config.size - 2) ** 2 - config.num_obstacles,
        info={"inbox_source": group_inbox_sources(group), "tile_high": config.num_tiles,
              "base_cells": pad_grid(open_room(config.size, config.size), config.view_radius)},
    )


def reset_episodes(world: World, keys: np.ndarray) -> EpisodeStart:
    """Draw obstacles, tiles, agent cells and cycle orders for ``len(keys)`` episodes."""
    config: GoalCycleConfig = world.config
    count, size, pad = len(keys), config.size, world.pad
    tiles, obstacles, agents = config.num_tiles, config.num_obstacles, config.num_agents
    interior = ~open_room(size, size).ravel()
    chosen = random.sample_cells(keys, random.PURPOSE_TILES,
                                 np.broadcast_to(interior, (count, size * size)),
                                 obstacles + tiles + agents)
    rows, cols = np.divmod(chosen, size)
    env = np.arange(count)[:, None]
    cells = np.repeat(world.info["base_cells"][None], count, axis=0)
    cells[env, TERRAIN, rows[:, :obstacles] + pad, cols[:, :obstacles] + pad] = WALL
    tile_row, tile_col = rows[:, obstacles:obstacles + tiles], cols[:, obstacles:obstacles + tiles]
    cells[env, TILE, tile_row + pad, tile_col + pad] = np.arange(1, tiles + 1)
    if config.resample_order:
        order = random.permutations(keys, random.PURPOSE_ORDER, tiles)
    else:
        order = np.broadcast_to(np.arange(tiles), (count, tiles)).copy()
    goal = np.repeat(order[:, None, :], agents, axis=1)
    task = {"order": order, "progress": np.zeros((count, agents), dtype=np.int64),
            "tile_row": tile_row, "tile_col": tile_col}
    return EpisodeStart(cells=cells, row=rows[:, obstacles + tiles:],
                        col=cols[:, obstacles + tiles:], goal=goal, task=task)


def resolve(world: World, state, moved: np.ndarray) -> Outcome:
    """Reward entering the next tile of the cycle and penalise entering any other."""
    config: GoalCycleConfig = world.config
    pad = world.pad
    env = np.arange(state.row.shape[0])[:, None]
    entered = np.where(moved, state.cells[env, TILE, state.row + pad, state.col + pad]
                       .astype(np.int64) - 1, -1)
    progress = state.task["progress"]
    expected = np.take_along_axis(state.task["order"], progress, axis=1)
    correct = (entered >= 0) & (entered == expected)
    wrong = (entered >= 0) & ~correct
    reward = correct.astype(np.float32) - np.float32(config.penalty) * wrong
    task = dict(state.task)
    task["progress"] = np.where(correct, (progress + 1) % config.num_tiles, progress)
    return cycle_outcome(state, reward, correct, tile_cells(state.task, expected), task)


def tile_cells(task: dict[str, np.ndarray], tile: np.ndarray) -> np.ndarray:
    """Cells ``[B, N, 2]`` of tile indices ``[B, N]`` (every index in [0, K))."""
    return np.stack([np.take_along_axis(task["tile_row"], tile, axis=1),
                     np.take_along_axis(task["tile_col"], tile, axis=1)], axis=-1)


def cycle_outcome(state, reward: np.ndarray, paid: np.ndarray, desired: np.ndarray,
                  task: dict[str, np.ndarray]) -> Outcome:
    """A Goal Cycle step's outcome: nobody finishes, the episode runs to ``max_cycles``, an
    agent's achieved goal is its cell and ``desired [B, N, 2]`` the cell that would pay."""
    return Outcome(
        reward=reward.astype(np.float32),
        finished=state.finished,
        terminated=np.zeros(state.row.shape[0], dtype=bool),
        goal_achieved=paid.astype(np.float32),
        achieved_goal=np.stack([state.row, state.col], axis=-1),
        desired_goal=desired.astype(np.int32),
        cells=state.cells,
        task=task,
    )


CONFIG = GoalCycleConfig
parallel_env, raw_env, env = make_factories(NAME, CONFIG, build_world)
