"""Gymnasium spaces of a world: one observation space and one action space for all agents."""

from __future__ import annotations

from typing import Any

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
    tiles = int(world.info.get("tile_high", 0))
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
    """The observation space as the world's config presents it (see ``present``): a Dict, a
    flat Box (``flatten``), or either wrapped with its mask (``mask_in='wrapped'``)."""
    config = world.config
    bounds = dict(observation_bounds(world))
    size = mask_size(world)
    bounds["action_mask"] = (np.zeros(size, np.int8), np.ones(size, np.int8), np.int8)
    keys = shown_keys(world)
    if config.flatten:
        dtype = np.dtype(config.flat_dtype)
        inner = gymnasium.spaces.Box(
            np.concatenate([bounds[k][0].ravel() for k in keys]).astype(dtype),
            np.concatenate([bounds[k][1].ravel() for k in keys]).astype(dtype), dtype=dtype)
    else:
        inner = gymnasium.spaces.Dict({
            key: gymnasium.spaces.Box(bounds[key][0], bounds[key][1], shape=bounds[key][0].shape,
                                      dtype=bounds[key][2]) for key in keys})
    if config.mask_in != "wrapped":
        return inner
    return gymnasium.spaces.Dict({"observation": inner,
                                  "action_mask": gymnasium.spaces.Box(0, 1, (size,), np.int8)})


def shown_keys(world: World) -> tuple[str, ...]:
    """The observation keys shown: ``action_mask`` only where the mask goes in the Dict."""
    keys = world.info.get("_shown_keys")
    if keys is None:  # asked on every step: made once per world
        inside = world.config.mask_in == "observation"
        keys = world.info["_shown_keys"] = tuple(
            key for key in OBSERVATION_KEYS if key != "action_mask" or inside)
    return keys


class MoveTokenSpace(gymnasium.spaces.MultiDiscrete):
    """MultiDiscrete ``[move, token_1, ..., token_L]`` whose ``sample`` also takes the
    observation's 1-D mask: the move mask, or every component's mask end to end (PettingZoo's
    test suite passes the observation's mask as it is)."""

    def sample(self, mask=None, probability=None):
        """A random action; ``mask`` may be 1-D (moves, or all components) or gymnasium's
        tuple form."""
        if isinstance(mask, np.ndarray) and mask.ndim == 1:
            sizes = self.nvec if len(mask) == self.nvec.sum() else self.nvec[:1]
            parts = np.split(mask.astype(np.int8), np.cumsum(sizes)[:-1])
            mask = tuple(parts) + tuple(np.ones(int(n), dtype=np.int8)
                                        for n in self.nvec[len(parts):])
        return super().sample(mask=mask, probability=probability)


def action_components(world: World) -> np.ndarray:
    """int64 ``[1 + L]``: the sizes of an action's parts, 5 moves then V per token (how the
    core reads actions, whatever space a library sees)."""
    config = world.config
    return np.array([NUM_MOVES] + [config.vocab_size] * config.message_length, dtype=np.int64)


def is_joint(world: World) -> bool:
    """Whether actions are one Discrete: asked for (``joint_actions``), or a mute world."""
    return world.config.joint_actions or world.config.message_length == 0


def action_space(world: World) -> gymnasium.Space:
    """Discrete ``5 V^L`` when actions are joint (``Discrete(5)`` in a mute world), else
    MultiDiscrete ``[move, token_1, ..., token_L]``."""
    sizes = action_components(world)
    if is_joint(world):
        return gymnasium.spaces.Discrete(int(np.prod(sizes)))
    return MoveTokenSpace(sizes)


def decode_actions(world: World, actions: np.ndarray) -> np.ndarray:
    """Joint actions ``[...]`` as int64 ``[..., 1 + L]``: move, then tokens (the move is
    the most significant digit, token 1 the next)."""
    sizes = action_components(world)
    digits = np.cumprod(sizes[::-1])[::-1]  # [5 V^L, V^L, ..., V]
    places = np.append(digits[1:], 1)
    actions = np.asarray(actions, dtype=np.int64)
    return (actions[..., None] // places) % sizes


def decode_checked(world: World, actions) -> np.ndarray:
    """Joint actions ``[...]`` decoded as ``decode_actions`` does, after a ValueError for
    any index outside ``[0, 5 V^L)`` (decoding alone would wrap it round)."""
    actions = np.asarray(actions)
    size = int(np.prod(action_components(world)))
    if actions.dtype.kind not in "iu":
        raise ValueError(f"joint actions must be integers; got dtype {actions.dtype}")
    if actions.size and (actions.min() < 0 or actions.max() >= size):
        raise ValueError(f"joint actions must be integers in [0, {size}); got values "
                         f"from {actions.min()} to {actions.max()}")
    return decode_actions(world, actions)


def encode_actions(world: World, actions: np.ndarray) -> np.ndarray:
    """Actions ``[..., 1 + L]`` (move, tokens) as their joint index ``[...]``."""
    sizes = action_components(world)
    places = np.append(np.cumprod(sizes[::-1])[::-1][1:], 1)
    return (np.asarray(actions, dtype=np.int64) * places).sum(axis=-1)


def mask_size(world: World) -> int:
    """Entries of the action mask: 5 (moves), 5 + L V (components) or 5 V^L (full)."""
    sizes = action_components(world)
    return {"moves": NUM_MOVES, "components": int(sizes.sum()),
            "full": int(np.prod(sizes))}[world.config.action_mask]


def extend_mask(world: World, move_mask: np.ndarray) -> np.ndarray:
    """The core's move mask ``[..., 5]`` as the config's mask ``[..., mask_size]`` (every
    token is always allowed)."""
    kind = world.config.action_mask
    if kind == "moves":
        return move_mask
    sizes = action_components(world)
    if kind == "components":
        ones = np.ones((*move_mask.shape[:-1], int(sizes[1:].sum())), dtype=np.int8)
        return np.concatenate([move_mask, ones], axis=-1)
    return np.repeat(move_mask, int(np.prod(sizes[1:])), axis=-1)  # move-major joint index


class InfoMask(np.ndarray):
    """An action mask for ``info`` that answers ``mask == None`` with False, as a list would.

    PettingZoo's test suite samples with ``info['action_mask']`` and needs an ndarray;
    AgileRL 2.58's IPPO asks ``None in masks``, which a plain ndarray of several entries
    cannot answer. This one serves both."""

    def __eq__(self, other):
        return False if other is None else super().__eq__(other)

    def __ne__(self, other):
        return True if other is None else super().__ne__(other)


def info_mask(mask: np.ndarray) -> InfoMask:
    """One agent's mask ``[mask_size]`` as an independent int8 :class:`InfoMask`."""
    return np.array(mask, dtype=np.int8).view(InfoMask)


def present(world: World, observation: dict[str, np.ndarray]) -> tuple[Any, np.ndarray]:
    """A batched core observation ``[B, N, ...]`` as the config presents it, and the action
    mask ``[B, N, mask_size]`` (for ``mask_in='info'``)."""
    config = world.config
    mask = extend_mask(world, observation["action_mask"])
    keys = shown_keys(world)
    parts = {key: mask if key == "action_mask" else observation[key] for key in keys}
    if config.flatten:
        lead = observation["position"].shape[:-1]
        flat = [parts[key].reshape(*lead, -1) for key in keys]
        ends = np.cumsum([part.shape[-1] for part in flat])
        shown = np.empty((*lead, int(ends[-1])), dtype=config.flat_dtype)
        for part, end in zip(flat, ends):  # cast while copying: one pass, no temporaries
            shown[..., end - part.shape[-1]:end] = part
    else:
        shown = parts
    if config.mask_in == "wrapped":
        shown = {"observation": shown, "action_mask": mask}
    return shown, mask


def state_bounds(world: World) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the flat global state used by centralised critics."""
    config = world.config
    cells = world.height * world.width
    grid_high = np.repeat([2, config.n_colours, config.n_shapes,
                           int(world.info.get("tile_high", 0)), len(world.role_names)], cells)
    agent_low = np.tile(np.concatenate([[-1, -1, 0], np.zeros(world.goal_size)]),
                        world.num_agents)
    agent_high = np.tile(np.concatenate([[world.height - 1, world.width - 1, 1],
                                         np.full(world.goal_size, world.goal_high)]),
                         world.num_agents)
    low = np.concatenate([np.zeros(cells * 5), agent_low, [0]])
    high = np.concatenate([grid_high, agent_high, [world.config.max_cycles]])
    return low.astype(np.int32), high.astype(np.int32)


def state_space(world: World) -> gymnasium.spaces.Box:
    """Box of the global state: the grid's 5 planes, then (row, col, finished, goal) per agent."""
    low, high = state_bounds(world)
    return gymnasium.spaces.Box(low, high, dtype=np.int32)
