"""Gymnasium spaces of a world: one observation space and one action space for all agents."""

from __future__ import annotations

import gymnasium
import numpy as np

from socius.envs.moves import NUM_MOVES
from socius.envs.world import World

OBSERVATION_KEYS = ("view", "others", "inbox", "goal", "goal_mask", "position", "action_mask")


def observation_bounds(world: World) -> dict[str, tuple[np.ndarray, np.ndarray, type]]:
    """(low, high, dtype) of every observation key."""
    config = world.config
    side = world.view_side
    radius = config.view_radius
    length = config.message_length
    tiles = int(world.info.get("num_tiles", 0))
    view_high = np.broadcast_to(
        np.array([2, config.n_colours, config.n_shapes, tiles, len(world.role_names)],
                 dtype=np.uint8)[:, None, None], (5, side, side))
    others_low = np.array([0, -radius, -radius, 0, 0, 0] + [0] * length, dtype=np.int32)
    others_high = np.array([1, radius, radius, world.num_agents - 1,
                            len(world.role_names) - 1, NUM_MOVES] + [config.vocab_size] * length,
                           dtype=np.int32)
    others_shape = (config.max_others, 6 + length)
    goal_shape = (world.goal_size,)
    return {
        "view": (np.zeros((5, side, side), np.uint8), view_high.copy(), np.uint8),
        "others": (np.broadcast_to(others_low, others_shape).copy(),
                   np.broadcast_to(others_high, others_shape).copy(), np.int32),
        "inbox": (np.zeros((world.inbox_size, length), np.int32),
                  np.full((world.inbox_size, length), config.vocab_size, np.int32), np.int32),
        "goal": (np.zeros(goal_shape, np.int32), np.full(goal_shape, world.goal_high, np.int32),
                 np.int32),
        "goal_mask": (np.zeros(goal_shape, np.int8), np.ones(goal_shape, np.int8), np.int8),
        "position": (np.full(2, -1, np.int32),
                     np.array([world.height - 1, world.width - 1], np.int32), np.int32),
        "action_mask": (np.zeros(NUM_MOVES, np.int8), np.ones(NUM_MOVES, np.int8), np.int8),
    }


def observation_space(world: World) -> gymnasium.Space:
    """The Dict observation space (or its flat Box when ``config.flatten``)."""
    bounds = observation_bounds(world)
    if world.config.flatten:
        low = np.concatenate([bounds[k][0].ravel().astype(np.int32) for k in OBSERVATION_KEYS])
        high = np.concatenate([bounds[k][1].ravel().astype(np.int32) for k in OBSERVATION_KEYS])
        return gymnasium.spaces.Box(low, high, dtype=np.int32)
    return gymnasium.spaces.Dict({
        key: gymnasium.spaces.Box(low, high, shape=low.shape, dtype=dtype)
        for key, (low, high, dtype) in bounds.items()
    })


class MoveTokenSpace(gymnasium.spaces.MultiDiscrete):
    """MultiDiscrete ``[move, token_1, ..., token_L]`` whose ``sample`` also takes the
    observation's 1-D move ``action_mask`` (PettingZoo's test suite passes it as is)."""

    def sample(self, mask=None, probability=None):
        """A random action; ``mask`` may be the 1-D move mask or gymnasium's tuple form."""
        if isinstance(mask, np.ndarray) and mask.shape == (NUM_MOVES,):
            mask = (mask.astype(np.int8),) + tuple(
                np.ones(int(n), dtype=np.int8) for n in self.nvec[1:])
        return super().sample(mask=mask, probability=probability)


def action_space(world: World) -> MoveTokenSpace:
    """MultiDiscrete: one move in [0, 5), then L tokens in [0, V)."""
    config = world.config
    return MoveTokenSpace(
        np.array([NUM_MOVES] + [config.vocab_size] * config.message_length, dtype=np.int64))


def flatten_observation(observation: dict[str, np.ndarray]) -> np.ndarray:
    """Concatenate the keys of a batched observation ``[B, N, ...]`` into int32 ``[B, N, F]``."""
    lead = observation["position"].shape[:-1]
    return np.concatenate(
        [observation[key].reshape(*lead, -1).astype(np.int32) for key in OBSERVATION_KEYS],
        axis=-1)


def state_bounds(world: World) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the flat global state used by centralised critics."""
    config = world.config
    cells = world.height * world.width
    grid_high = np.repeat([2, config.n_colours, config.n_shapes,
                           int(world.info.get("num_tiles", 0)), len(world.role_names)], cells)
    agent_low = np.tile(np.concatenate([[-1, -1, 0], np.zeros(world.goal_size)]),
                        world.num_agents)
    agent_high = np.tile(np.concatenate([[world.height - 1, world.width - 1, 1],
                                         np.full(world.goal_size, world.goal_high)]),
                         world.num_agents)
    low = np.concatenate([np.zeros(cells * 5), agent_low, [0]])
    high = np.concatenate([grid_high, agent_high, [config.max_cycles]])
    return low.astype(np.int32), high.astype(np.int32)


def state_space(world: World) -> gymnasium.spaces.Box:
    """Box of the global state: the grid's 5 planes, then (row, col, finished, goal) per agent."""
    low, high = state_bounds(world)
    return gymnasium.spaces.Box(low, high, dtype=np.int32)
