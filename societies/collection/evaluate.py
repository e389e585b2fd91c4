"""Measures of a collection run (SCIENCE.md, "Information gain"): coverage, the noisy TV,
spreading out, and the quality of what the data teaches (a fresh model, an offline agent).

Pure functions of positions and episodes; nothing here steps a collector.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import torch

from socius.agents.dynamics import DynamicsConfig, DynamicsModel, prediction_error
from socius.agents.gcrl import GCRLConfig
from socius.agents.tabular import free_cells, state_distances
from socius.envs import core
from socius.envs.layouts import distances_from
from socius.envs.maze_v0 import MazeConfig, build_world
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.societies.navigation.gcrl import GCRLRunConfig
from socius.societies.navigation.gcrl import train as train_gcrl

NEVER = np.iinfo(np.int64).max


def collector_mask(observation: dict[str, np.ndarray]) -> np.ndarray:
    """Allowed moves ``[..., 5]``: the world's mask minus the step onto the agent's own goal
    (arrival would end the episode early and waste the rest of it)."""
    position, goal = observation["position"], observation["goal"]
    onto_goal = ((position[..., :1] + MOVE_ROW == goal[..., :1])
                 & (position[..., 1:] + MOVE_COL == goal[..., 1:]))
    onto_goal[..., 0] = False
    return observation["action_mask"].astype(bool) & ~onto_goal


def transitions(episodes: list, width: int) -> dict[str, np.ndarray]:
    """Equal-length episodes as time-major chains ``C = E * N`` (episode-major, then agent):
    ``cells``/``positions``/``views`` ``[T + 1, C, ...]``, ``moves``/``masks`` ``[T, C, ...]``,
    ``agents [C]``."""
    if len({episode.length for episode in episodes}) != 1:
        raise ValueError("a chunk's episodes must all have the same length")

    def chains(key):
        stacked = np.stack([episode.observations[key] for episode in episodes], axis=1)
        return stacked.reshape(stacked.shape[0], -1, *stacked.shape[3:])  # [T + 1, E * N, ...]

    positions = chains("position").astype(np.int64)
    observation = {key: chains(key) for key in ("position", "goal", "action_mask")}
    moves = np.stack([episode.actions[..., 0] for episode in episodes], axis=1)
    agents = episodes[0].observations["position"].shape[1]
    return {"positions": positions, "cells": positions[..., 0] * width + positions[..., 1],
            "views": chains("view"), "moves": moves.reshape(moves.shape[0], -1),
            "masks": collector_mask({k: v[:-1] for k, v in observation.items()}),
            "allowed": observation["action_mask"][:-1].astype(bool),
            "agents": np.tile(np.arange(agents), len(episodes))}


def reachable_cells(world) -> np.ndarray:
    """bool ``[H * W]``: free cells reachable from the fixed start."""
    start = tuple(int(v) for v in np.divmod(world.info["start_cells"][0, 0], world.width))
    return (distances_from(world.info["walls"][0], start) >= 0).ravel()


def probe_pairs(world) -> tuple[np.ndarray, np.ndarray]:
    """Every (reachable cell, allowed move) pair, moves into walls left out: cells and
    moves ``[P]``."""
    walls = world.info["walls"][0]
    row, col = np.divmod(np.flatnonzero(reachable_cells(world)), world.width)
    target_free = ~walls[row[:, None] + MOVE_ROW, col[:, None] + MOVE_COL]  # [R, 5]
    which, move = np.nonzero(target_free)
    return row[which] * world.width + col[which], move


def coverage(visited: np.ndarray, reachable: np.ndarray) -> float:
    """Fraction of reachable cells visited at least once (bool ``[H * W]`` each)."""
    return float((visited & reachable).sum() / reachable.sum())


def steps_to_coverage(first_visit: np.ndarray, reachable: np.ndarray,
                      fraction: float) -> int | None:
    """Fewest steps after which ``fraction`` of the reachable cells had been visited
    (None when the run never got there)."""
    needed = int(np.ceil(fraction * reachable.sum()))
    ordered = np.sort(first_visit[reachable])
    return None if ordered[needed - 1] == NEVER else int(ordered[needed - 1])


def tv_in_view(positions: np.ndarray, tv_cell: tuple[int, int], radius: int) -> np.ndarray:
    """bool ``[...]``: the TV cell lies inside the view window at ``positions [..., 2]``."""
    offset = np.abs(positions - np.asarray(tv_cell))
    return offset.max(axis=-1) <= radius


def visitation_overlap(visits: np.ndarray) -> float:
    """Mean over agent pairs of the histogram intersection of their visitation distributions
    ``visits [N, cells]``: 1 when they visit the same cells as often, 0 when disjoint."""
    share = visits / np.maximum(visits.sum(axis=1, keepdims=True), 1)
    pairs = list(itertools.combinations(range(len(visits)), 2))
    return float(np.mean([np.minimum(share[i], share[j]).sum() for i, j in pairs]))


class Record:
    """What a run has visited so far: the step of each cell's first visit, visit counts per
    agent, steps with the TV in view, and the summed distance between agents."""

    def __init__(self, first_visit, visits, tv_steps=0, agent_steps=0, pair_sum=0.0,
                 pair_count=0):
        self.first_visit, self.visits = np.asarray(first_visit), np.asarray(visits)
        self.tv_steps, self.agent_steps = int(tv_steps), int(agent_steps)
        self.pair_sum, self.pair_count = float(pair_sum), int(pair_count)
        self._distances = None

    @classmethod
    def empty(cls, world) -> Record:
        """Nothing visited yet."""
        cells = world.height * world.width
        return cls(np.full(cells, NEVER, np.int64), np.zeros((world.num_agents, cells), np.int64))

    def state_dict(self) -> dict:
        """The constructor's arguments."""
        return {"first_visit": self.first_visit.copy(), "visits": self.visits.copy(),
                "tv_steps": self.tv_steps, "agent_steps": self.agent_steps,
                "pair_sum": self.pair_sum, "pair_count": self.pair_count}

    def update(self, chunk: dict, step0: int, num_envs: int, world) -> dict[str, float]:
        """Fold in a chunk (``transitions``) that started at environment step ``step0``;
        the chunk's row of measures."""
        positions, cells = chunk["positions"], chunk["cells"]  # [T + 1, C, 2], [T + 1, C]
        steps = np.broadcast_to(step0 + num_envs * np.arange(len(cells))[:, None], cells.shape)
        np.minimum.at(self.first_visit, cells.ravel(), steps.ravel())
        agents = world.num_agents
        np.add.at(self.visits, (np.broadcast_to(chunk["agents"], cells[:-1].shape).ravel(),
                                cells[:-1].ravel()), 1)
        row = {"coverage": coverage(self.first_visit < NEVER, reachable_cells(world))}
        acted = positions[:-1]
        self.agent_steps += acted.shape[0] * acted.shape[1]
        if "tv_cell" in world.info:
            seen = tv_in_view(acted, np.divmod(int(world.info["tv_cell"][0]), world.width),
                              world.config.view_radius)
            self.tv_steps += int(seen.sum())
            row["tv_in_view"] = float(seen.mean())
        else:
            row["tv_in_view"] = 0.0
        row["tv_in_view_total"] = self.tv_steps / self.agent_steps
        if agents > 1:
            row["overlap"] = visitation_overlap(self.visits)
            row["pair_distance"] = self._pair_distance(world, cells[:-1], agents)
        return row

    def _pair_distance(self, world, cells: np.ndarray, agents: int) -> float:
        """Mean shortest-path distance between agents of one environment at the same step."""
        if self._distances is None:
            walls = world.info["walls"][0]
            self._distances = (state_distances(walls), free_cells(walls)[1].ravel())
        distance, index = self._distances
        states = index[cells].reshape(cells.shape[0], -1, agents)  # [T, E, N]
        pairs = list(itertools.combinations(range(agents), 2))
        values = np.stack([distance[states[..., i], states[..., j]] for i, j in pairs])
        self.pair_sum += float(values.sum())
        self.pair_count += values.size
        return float(values.mean())


def held_out_transitions(world, seed: int, repeats: int) -> dict[str, np.ndarray]:
    """Transitions from a uniform sample of reachable states: every (reachable cell, move)
    ``repeats`` times, stepped in a one-agent copy of ``world``: ``cells``, ``moves``, ``views``."""
    single = build_world(dataclasses.replace(world.config, num_agents=1, max_cycles=10))
    cells = np.flatnonzero(reachable_cells(world))
    cell = np.repeat(cells, 5 * repeats)
    move = np.tile(np.repeat(np.arange(5), repeats), len(cells))
    state, _ = core.reset(single, 50_000 + seed, len(cell))
    row, col = np.divmod(cell, world.width)
    state = core.relocate(single, state, row[:, None], col[:, None])
    _, result = core.step(single, state, move.reshape(-1, 1, 1), auto_reset=False)
    return {"cells": cell, "moves": move, "views": result.observation["view"][:, 0]}


def model_error(episodes: list, world, held_out: dict, config: DynamicsConfig, steps: int,
                seed: int) -> float:
    """Held-out squared error of a fresh one-member model trained ``steps`` gradient steps on
    the transitions of ``episodes``."""
    model = DynamicsModel(dataclasses.replace(config, members=1), world,
                          torch.Generator().manual_seed(seed))
    for episode in episodes:
        model.buffer_add(transitions([episode], world.width))
    model.update(np.random.default_rng(seed), steps)
    with torch.no_grad():
        errors = [prediction_error(model.predict(held_out["cells"][part],
                                                 held_out["moves"][part]),
                                   model.targets(held_out["views"][part]))
                  for part in np.array_split(np.arange(len(held_out["cells"])), 8)]
    return float(torch.cat(errors).mean())


def hierarchical_success(episodes: list, world, steps: int, pairs: int, subgoal_steps: int,
                         seed: int) -> dict[str, float]:
    """Success of the offline ``hier`` agent (``socius.societies.navigation.gcrl``) trained on
    ``episodes`` for ``steps`` gradient steps, on held-out start/goal pairs."""
    config = world.config
    maze = MazeConfig(layout=config.layout, size=config.size, layout_seed=config.layout_seed)
    run = GCRLRunConfig(world=maze, steps=steps, eval_every=steps, eval_pairs=pairs, seed=seed,
                        learner=GCRLConfig(agent="hier", subgoal_steps=subgoal_steps))
    return train_gcrl(run, progress=False, episodes=episodes)[-1]
