"""Online navigation: the navigator gathers its own data in the training mazes and learns
from it as it goes (``NavigateConfig.collector="self"``), with all-goals hindsight or,
as the control, only towards the goals its episodes were given.

The data come in rounds. In each, ``rollout_envs`` worlds play ``rollout_steps`` steps
with the navigator as it is (its hierarchical mode: moves drawn by progress, so it
explores while its values are poor), on a bank of ``train_layouts`` mazes (one drawn per
episode). The round's finished episodes join the data, then the navigator takes its
share of the run's updates. Every environment step counts towards ``data_steps``,
episodes cut off at the end of a round included.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from socius.agents.map_dataset import MapDataset
from socius.agents.navigator_policy import NavigatorPolicy
from socius.envs import random
from socius.envs.maze_v0 import build_world
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes


def layout_bank(config) -> object:
    """The online run's world: ``train_layouts`` mazes carved from ``layout_seed``, one
    drawn per episode."""
    return build_world(dataclasses.replace(config.world, num_layouts=config.train_layouts))


def rounds(config) -> int:
    """Rounds of collection the budget of environment steps allows."""
    return max(1, math.ceil(config.data_steps / (config.rollout_envs * config.rollout_steps)))


def updates_after(config, round_index: int) -> int:
    """Updates the run has taken once round ``round_index`` (from 0) has been learned from:
    ``steps`` spread evenly over the rounds."""
    return (round_index + 1) * config.steps // rounds(config)


def episode_layouts(world, episodes: list) -> np.ndarray:
    """The bank index of each episode's maze, drawn again from its episode key (the world
    draws it so when the episode starts)."""
    keys = random.episode_keys(np.array([e.seed for e in episodes]),
                               np.array([e.env_index for e in episodes]),
                               np.array([e.episode for e in episodes]))
    return random.integers(keys, random.PURPOSE_LAYOUT, (), len(world.info["walls"]))


def collect_round(config, world, navigator, round_index: int) -> MapDataset | None:
    """One round of the navigator's own episodes as a map dataset (None if none ended)."""
    steps = min(config.rollout_steps, math.ceil(
        (config.data_steps - round_index * config.rollout_envs * config.rollout_steps)
        / config.rollout_envs))
    venv = VectorEnv(world, config.rollout_envs, seed=config.seed * 100_003 + round_index)
    policy = NavigatorPolicy(navigator, "hierarchical", world.height, world.width)
    episodes = record_episodes(venv, policy,
                               np.random.default_rng([config.seed, 2, round_index]), steps)
    if not episodes:
        return None
    owners = episode_layouts(world, episodes)
    walls = world.info["walls"]
    by_layout = [(walls[index], [e for e, owner in zip(episodes, owners) if owner == index])
                 for index in np.unique(owners)]
    return MapDataset(by_layout)
