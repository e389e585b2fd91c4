"""Checks on actions that name the agent and field at fault; nothing is ever clipped."""

from __future__ import annotations

import numpy as np

from socius.envs import kernels
from socius.envs.moves import NUM_MOVES
from socius.envs.world import World


def check_actions(world: World, actions: np.ndarray, batch: int) -> None:
    """Raise TypeError/ValueError unless ``actions`` is int ``[B, N, 1 + L]`` within range."""
    if not isinstance(actions, np.ndarray):
        raise TypeError(f"actions must be a numpy integer array; got {type(actions).__name__}")
    if actions.dtype.kind not in "iu":
        raise TypeError(f"actions must have an integer dtype; got {actions.dtype}")
    expected = (batch, world.num_agents, 1 + world.config.message_length)
    if actions.shape != expected:
        raise ValueError(
            f"actions must have shape [num_envs, num_agents, 1 + message_length] = {expected}; "
            f"got {tuple(actions.shape)}"
        )
    high = world.info["action_high"]  # [1 + L]: 5, then V for every token
    compiled = kernels.compiled()
    if compiled is not None:
        if compiled.actions_in_range(actions, high):
            return
    elif not ((actions < 0) | (actions >= high)).any():
        return
    moves = actions[..., 0]
    if moves.min() < 0 or moves.max() >= NUM_MOVES:
        _raise_first(world, (moves < 0) | (moves >= NUM_MOVES), moves,
                     "move", f"an integer in [0, {NUM_MOVES})")
    tokens = actions[..., 1:]
    vocab = world.config.vocab_size
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab):
        bad = ((tokens < 0) | (tokens >= vocab)).any(axis=-1)
        _raise_first(world, bad, tokens, "message token", f"integers in [0, {vocab})")


def _raise_first(world: World, bad: np.ndarray, values: np.ndarray, field: str,
                 expected: str) -> None:
    env, agent = (int(i[0]) for i in np.nonzero(bad))
    raise ValueError(
        f"{field} of agent '{world.agent_names[agent]}' in environment {env} must be "
        f"{expected}; got {values[env, agent].tolist()}"
    )
