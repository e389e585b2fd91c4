"""Pieces of the TorchRL adapter: its presentation of observations by torch casts, and
small helpers over TensorDicts and indices."""

from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict

from socius.envs import spaces
from socius.envs.world import World


def flat_columns(world: World, observation: dict[str, np.ndarray]) -> list[tuple[str, int, int]]:
    """(key, start, end) of every shown key in the flat observation, in ``spaces``' order."""
    keys = spaces.shown_keys(world)
    sizes = [observation[key][0, 0].size for key in keys]
    ends = np.cumsum(sizes)
    return [(key, int(end - size), int(end)) for key, size, end in zip(keys, sizes, ends)]


def present_flat(observation: dict[str, np.ndarray], columns: list[tuple[str, int, int]],
                 mask_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``spaces.present`` of a flat float32 layout with the full mask in ``info``: the
    observation ``[B, N, F]`` and int8 mask ``[B, N, mask_size]``, cast by torch (faster
    than numpy's casts)."""
    moves = observation["action_mask"]
    lead = moves.shape[:-1]
    shown = np.empty((*lead, columns[-1][2]), np.float32)
    flat = torch.from_numpy(shown)
    for key, start, end in columns:
        flat[..., start:end].copy_(torch.from_numpy(observation[key]).reshape(*lead, -1))
    mask = np.empty((*lead, mask_size), np.int8)  # move-major joint index: each move repeated
    per_move = torch.from_numpy(mask).view(*lead, moves.shape[-1], -1)
    per_move.copy_(torch.from_numpy(moves)[..., None].expand(per_move.shape))
    return shown, mask


def is_plain(value) -> bool:
    """Whether ``value`` is a plain ``TensorDict`` (not a lazy stack, a view or missing)."""
    return type(value) is TensorDict


def leaves(tree: dict, prefix: tuple = ()) -> list[tuple]:
    """The nested keys of a key tree (``None`` at its leaves), as tuples."""
    found = []
    for key, below in tree.items():
        found += [(*prefix, key)] if below is None else leaves(below, (*prefix, key))
    return found


def as_slice(index: np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice where its entries are evenly spaced (numpy then gives a view,
    not a copy), else as it is."""
    steps = np.diff(index)
    if len(index) == 1 or (steps[0] > 0 and (steps == steps[0]).all()):
        step = 1 if len(index) == 1 else int(steps[0])
        return slice(int(index[0]), int(index[-1]) + 1, step)
    return index
