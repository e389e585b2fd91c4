"""The categorical fields of an observation one-hot, as MLPs need them (numpy only; the
TorchRL adapter's ``one_hot=True``)."""

from __future__ import annotations

import numpy as np

from socius.envs import spaces
from socius.envs.world import World


class OneHotEncoder:
    """The observation with its categorical fields one-hot: each view cell's five codes,
    every inbox token and the goal, then ``others``, ``goal_mask`` and ``position`` as
    numbers. The same information as the flat vector, in the form MLPs learn from (a
    token's code as a magnitude is no use to a linear layer)."""

    def __init__(self, world: World):
        bounds = spaces.observation_bounds(world)
        self.view_values = bounds["view"][1][:, 0, 0].astype(np.int64) + 1  # per channel
        self.view_offset = np.concatenate([[0], np.cumsum(self.view_values)[:-1]])
        self.token_values = world.config.vocab_size + 1  # 0 is silence
        self.goal_values = int(bounds["goal"][1].max()) + 1
        sizes = {"view": int(np.prod(bounds["view"][0].shape[1:])) * int(self.view_values.sum()),
                 "inbox": bounds["inbox"][0].size * self.token_values,
                 "goal": bounds["goal"][0].size * self.goal_values}
        self.numeric = ("others", "goal_mask", "position")
        side = bounds["view"][0].shape[-1]
        self.view_shape = (side, side, int(self.view_values.sum()))
        """The one-hot view as an image ``(S, S, C)``: the first ``view_size`` features."""
        self.view_size = sizes["view"]
        low = [np.zeros(sizes[key], np.float32) for key in sizes]
        high = [np.ones(sizes[key], np.float32) for key in sizes]
        low += [bounds[key][0].ravel().astype(np.float32) for key in self.numeric]
        high += [bounds[key][1].ravel().astype(np.float32) for key in self.numeric]
        self.bounds = np.concatenate(low), np.concatenate(high)

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """float32 ``[B, N, F]`` of a core observation ``[B, N, ...]``."""
        view = observation["view"]  # [B, N, 5, S, S]
        lead = view.shape[:2]
        codes = np.moveaxis(view, 2, -1).reshape(*lead, -1, len(self.view_values))
        parts = [_hot(codes.astype(np.int64) + self.view_offset, int(self.view_values.sum())),
                 _hot(observation["inbox"].reshape(*lead, -1, 1), self.token_values),
                 _hot(observation["goal"].reshape(*lead, -1, 1), self.goal_values)]
        parts += [observation[key].reshape(*lead, -1).astype(np.float32)
                  for key in self.numeric]
        return np.concatenate(parts, axis=-1)


def _hot(codes: np.ndarray, width: int) -> np.ndarray:
    """float32 ``[B, N, C * width]``: ones at ``codes [B, N, C, K]`` within each row of
    ``width`` (K codes of disjoint ranges share a row)."""
    out = np.zeros((*codes.shape[:-1], width), dtype=np.float32)
    np.put_along_axis(out, codes, 1.0, axis=-1)
    return out.reshape(*codes.shape[:2], -1)
