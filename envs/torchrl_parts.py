"""Pieces of the TorchRL adapter: its presentation of observations (by torch casts, or
both of a step's observations in one kernel pass), its groups' specs, the root entries it
carries over, and small helpers over TensorDicts and indices."""

from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.data import Binary, Bounded, Composite, Unbounded

from socius.envs import kernels, spaces
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


FLAT_KEYS = tuple(key for key in spaces.OBSERVATION_KEYS if key != "action_mask")
"""The keys the adapter shows, in order (its layout keeps the mask in ``info``): the six
``flat_rows_into`` takes."""


def present_step(present, observation: dict[str, np.ndarray], final_observation: dict | None,
                 final_index: np.ndarray, columns: list[tuple[str, int, int]] | None,
                 mask_size: int) -> tuple[tuple[np.ndarray, np.ndarray],
                                          tuple[np.ndarray, np.ndarray]]:
    """``present`` (an observation to its shown array and mask) of a step's two
    observations: after the restarts, and the same where worlds ``final_index`` show
    ``final_observation``, the observation they ended on (what ``next`` holds). With the
    flat layout's ``columns`` and the kernels, both come from one pass."""
    compiled = kernels.compiled()
    if (compiled is None or not final_index.size or columns is None
            or tuple(key for key, _, _ in columns) != FLAT_KEYS):
        current = present(observation)
        if not final_index.size:
            return current, current
        shown, mask = current[0].copy(), current[1].copy()
        shown[final_index], mask[final_index] = present(final_observation)
        return current, (shown, mask)
    # One pass writes both: a copy of the first and a scatter of the ended rows would pass
    # over every row again.
    moves = observation["action_mask"]
    batch, agents = moves.shape[:2]
    width = columns[-1][2]
    shown, following = (np.empty((batch, agents, width), np.float32) for _ in range(2))
    compiled.flat_rows_into(*(observation[key].reshape(-1) for key in FLAT_KEYS),
                            *(final_observation[key].reshape(-1) for key in FLAT_KEYS),
                            final_index, shown, following)
    mask, following_mask = (np.empty((batch, agents, mask_size), np.int8) for _ in range(2))
    per_move = (batch, agents, moves.shape[-1], -1)
    compiled.joint_mask_into(moves, final_observation["action_mask"], final_index,
                             mask.reshape(per_move), following_mask.reshape(per_move))
    return (shown, mask), (following, following_mask)


def group_observation_spec(low: torch.Tensor, high: torch.Tensor, shape: torch.Size,
                           actions: int, info_keys: tuple[str, ...], spatial=None) -> Composite:
    """A group's observation spec ``shape = [B, n]``: the flat observation within ``low``
    and ``high`` (or the view as an image and the rest, with the ``spatial`` encoder), the
    joint actions' mask and the info outcomes."""
    fields = {"observation": Bounded(low.expand(*shape, -1), high.expand(*shape, -1),
                                     shape=(*shape, low.numel()), dtype=torch.float32)}
    if spatial is not None:
        cut = spatial.view_size
        fields = {"view": Bounded(0.0, 1.0, shape=(*shape, *spatial.view_shape),
                                  dtype=torch.float32),
                  "observation": Bounded(low[cut:].expand(*shape, -1),
                                         high[cut:].expand(*shape, -1),
                                         shape=(*shape, low.numel() - cut), dtype=torch.float32)}
    return Composite(
        **fields,
        action_mask=Binary(n=actions, shape=(*shape, actions), dtype=torch.bool),
        info=Composite({key: Unbounded(shape=shape, dtype=torch.float32) for key in info_keys},
                       shape=shape),
        shape=shape)


def is_plain(value) -> bool:
    """Whether ``value`` is a plain ``TensorDict`` (not a lazy stack, a view or missing)."""
    return type(value) is TensorDict


def kept_from_root(root: TensorDict, groups, excluded: set[tuple], replaced: set[str],
                   info_keys: tuple[str, ...]) -> dict | None:
    """What ``step_mdp`` carries over from ``root`` (what it does not exclude; nested
    TensorDicts as shallow copies, as it makes them) less the groups' entries it takes from
    ``next`` (``replaced``), as a tree; None where a group is no plain TensorDict or its
    ``info`` is not a plain TensorDict of exactly ``info_keys`` (TorchRL's generic path
    then merges them). Root keys it takes from ``next`` (a ``state``) are kept here: the
    caller's output overrides them."""
    kept = {}
    for key, value in root.items():
        if (key,) in excluded:
            continue
        if key not in groups:
            kept[key] = value if isinstance(value, torch.Tensor) else value.copy()
            continue
        if not is_plain(value):
            return None
        group = kept[key] = {}
        for name, item in value.items():
            if name == "info":
                if not is_plain(item) or set(item.keys()) != set(info_keys):
                    return None
            elif name not in replaced and (key, name) not in excluded:
                group[name] = item if isinstance(item, torch.Tensor) else item.copy()
    return kept


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
