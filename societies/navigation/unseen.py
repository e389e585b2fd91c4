"""Navigation on layouts never seen in training: the evaluation pairs and how a policy
is scored on them.

Each evaluation layout is a ``maze_v0`` maze carved from its own layout seed,
``eval_layout_seed + i``; training layouts come from the bank of ``layout_seed``, so the
two sets share no generator stream (``overlap`` checks it wall for wall). Pairs are drawn
uniformly over each layout's free cells, with their shortest-path distance d. A policy
plays each pair once, alone, for ``4d + 50`` steps at most; its arrival step then scores
it under every time limit at once (``2d + 20``, ``3d + 20``, ``4d + 50``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from socius.agents.tabular import free_cells, state_distances
from socius.envs.maze_v0 import MazeConfig, build_world
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes

LIMITS = {"2d+20": (2, 20), "3d+20": (3, 20), "4d+50": (4, 50)}
"""Time limits ``a * d + b`` under which success is reported."""
DISTANCE_BUCKETS = ((1, 25), (25, 50), (50, 10_000))


@dataclass(frozen=True)
class EvaluationLayouts:
    """Start/goal pairs on the evaluation layouts: ``worlds[i]`` holds pairs ``layout == i``."""

    worlds: list
    start: np.ndarray  # [P, 2]
    goal: np.ndarray  # [P, 2]
    distance: np.ndarray  # [P]
    layout: np.ndarray  # [P]


def evaluation_layouts(world: MazeConfig, layout_seed: int, layouts: int, pairs: int,
                       seed: int) -> EvaluationLayouts:
    """``pairs`` start/goal pairs spread evenly over ``layouts`` mazes of ``layout_seed + i``,
    each world long enough for the slowest limit."""
    generator = np.random.default_rng(seed)
    worlds, starts, goals, distances, owners = [], [], [], [], []
    for index in range(layouts):
        count = pairs // layouts + (index < pairs % layouts)
        probe = build_world(dataclasses.replace(world, layout_seed=layout_seed + index,
                                                num_layouts=1, max_cycles=1))
        walls = probe.info["walls"][0]
        cells, _ = free_cells(walls)
        distance = state_distances(walls)
        start = generator.integers(0, len(cells), count)
        goal = (start + 1 + generator.integers(0, len(cells) - 1, count)) % len(cells)
        d = distance[start, goal]
        limit = longest_limit(d)
        worlds.append(build_world(dataclasses.replace(
            world, layout_seed=layout_seed + index, num_layouts=1,
            max_cycles=int(limit.max()) + 1)))
        starts.append(cells[start]), goals.append(cells[goal]), distances.append(d)
        owners.append(np.full(count, index))
    return EvaluationLayouts(worlds, np.concatenate(starts), np.concatenate(goals),
                             np.concatenate(distances), np.concatenate(owners))


def longest_limit(distance: np.ndarray) -> np.ndarray:
    """The most generous time limit of ``LIMITS`` for each distance."""
    return np.max([scale * distance + offset for scale, offset in LIMITS.values()], axis=0)


def overlap(training_walls: list[np.ndarray], evaluation: EvaluationLayouts) -> int:
    """How many evaluation layouts are also training layouts (0 is required)."""
    bank = np.stack(training_walls)
    return sum(bool((bank == world.info["walls"][0]).all(axis=(1, 2)).any())
               for world in evaluation.worlds)


def arrival_steps(policy, layouts: EvaluationLayouts, seed: int) -> np.ndarray:
    """Steps each pair's agent took to reach its goal ``[P]`` (-1: not within the longest
    limit), played alone from the chosen start, its draws from a generator of ``seed``."""
    arrived = np.full(len(layouts.start), -1)
    for index, world in enumerate(layouts.worlds):
        pairs = np.flatnonzero(layouts.layout == index)
        arrived[pairs] = play_pairs(world, policy, layouts.start[pairs], layouts.goal[pairs],
                                    world.config.max_cycles, seed)
    return arrived


def play_pairs(world, policy, start: np.ndarray, goal: np.ndarray, steps: int,
               seed: int) -> np.ndarray:
    """One episode per start/goal pair ``[P, 2]`` of a one-agent maze, at most ``steps``
    long: the step each agent arrived on ``[P]`` (-1: never)."""
    venv = VectorEnv(world, len(start), seed=seed, auto_reset=False)
    episodes = record_episodes(venv, policy, np.random.default_rng(seed), steps,
                               place=(start[:, :1], start[:, 1:], goal[:, None, :]))
    arrived = np.full(len(start), -1)
    for episode in episodes:
        reached = np.flatnonzero(episode.goal_achieved[:, 0] > 0)
        if len(reached):
            arrived[episode.env_index] = reached[0] + 1
    return arrived


def bucket_label(low: int, high: int) -> str:
    """A distance bucket's name: ``d{low}-{high - 1}``, or ``d{low}+`` for the open one."""
    return f"d{low}+" if high > 1000 else f"d{low}-{high - 1}"


def success_report(arrived: np.ndarray, distance: np.ndarray, prefix: str = "") -> dict:
    """Success under every limit of ``LIMITS``, and by distance bucket at each limit."""
    report = {}
    for name, (scale, offset) in LIMITS.items():
        success = (arrived > 0) & (arrived <= scale * distance + offset)
        report[f"{prefix}success_{name}"] = float(success.mean())
        for low, high in DISTANCE_BUCKETS:
            inside = (distance >= low) & (distance < high)
            report[f"{prefix}success_{name}_{bucket_label(low, high)}"] = (
                float(success[inside].mean()) if inside.any() else float("nan"))
    return report
