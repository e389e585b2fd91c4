"""An explicit map memory of what an agent has seen, and the planner that uses it.

The memory is allocentric: agents of ``maze_v0`` know their coordinates (``position``),
so each view can be written where it belongs. Every cell is ``UNKNOWN``, ``OPEN`` or
``WALL``; a new view overwrites what it shows. It is the memory ``m`` of the socius
navigator (``socius.agents.navigator``) and of the map-memory planner, the ceiling that
learned navigators on unseen layouts are judged against (SCIENCE.md, "A ceiling for
partial views"): it remembers every cell it has seen, assumes unseen cells are open and
replans every step.
"""

from __future__ import annotations

import numpy as np

from socius.agents.scripted import as_numpy, distance_maps, downhill_moves
from socius.envs.state import FREE
from socius.envs.state import WALL as WALL_TERRAIN

UNKNOWN, OPEN, WALL = 0, 1, 2
"""Values of a map memory's cells."""


def empty_maps(shape: tuple[int, ...], height: int, width: int) -> np.ndarray:
    """Maps ``[*shape, H, W]`` that know nothing yet."""
    return np.zeros((*shape, height, width), dtype=np.int8)


def remember(maps: np.ndarray, view: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``maps [K, H, W]`` with each view ``[K, 5, S, S]`` (terrain in channel 0) written
    around its agent's ``position [K, 2]``; cells outside the grid are skipped."""
    count, height, width = maps.shape
    side = view.shape[-1]
    radius = (side - 1) // 2
    offsets = np.arange(-radius, radius + 1)
    rows = position[:, 0, None, None] + offsets[None, :, None]  # [K, S, 1]
    cols = position[:, 1, None, None] + offsets[None, None, :]  # [K, 1, S]
    rows, cols = np.broadcast_arrays(rows, cols)
    terrain = view[:, 0]
    seen = ((terrain == FREE) | (terrain == WALL_TERRAIN)) & (rows >= 0) & (rows < height) \
        & (cols >= 0) & (cols < width) & (position[:, :1, None] >= 0)
    agent = np.broadcast_to(np.arange(count)[:, None, None], rows.shape)
    updated = maps.copy()
    updated[agent[seen], rows[seen], cols[seen]] = np.where(terrain[seen] == FREE, OPEN, WALL)
    return updated


def remember_batch(maps: np.ndarray, observation: dict, done: np.ndarray) -> np.ndarray:
    """Maps ``[B, N, H, W]`` after this step's observation, forgotten where ``done[B]``
    (a new episode starts)."""
    maps = np.where(np.asarray(done, dtype=bool)[:, None, None, None], UNKNOWN, maps)
    batch, agents, height, width = maps.shape
    view = np.asarray(observation["view"]).reshape(batch * agents, *observation["view"].shape[2:])
    position = np.asarray(observation["position"]).reshape(batch * agents, 2)
    return remember(maps.reshape(-1, height, width), view, position).reshape(maps.shape)


class MapPlanner:
    """Walks the shortest path to its goal on its map memory, with unseen cells taken as
    open, replanning every step. It reads only its observation (view, position, goal)."""

    def __init__(self, height: int, width: int, message_length: int = 0):
        self.height, self.width, self.message_length = height, width, message_length

    def initial_state(self, batch: int) -> dict[str, np.ndarray | None]:
        """No map yet (it takes its agent axis from the first observation)."""
        return {"map": None}

    def act(self, observation, state, done, generator, privileged=None):
        """One step downhill on each agent's map: actions ``[B, N, 1 + L]``."""
        observation = as_numpy(observation)
        batch, agents = observation["position"].shape[:2]
        maps = state["map"]
        if maps is None:
            maps = empty_maps((batch, agents), self.height, self.width)
        maps = remember_batch(maps, observation, done)
        goal = observation["goal"][..., :2].reshape(-1, 2).astype(np.int64)
        position = np.maximum(observation["position"].reshape(-1, 2), 0)
        distance = distance_maps(maps.reshape(-1, self.height, self.width) == WALL, goal)
        moves = downhill_moves(distance, position).reshape(batch, agents)
        action = np.zeros((batch, agents, 1 + self.message_length), dtype=np.int64)
        action[..., 0] = moves
        return action, {"map": maps}
