"""Offline data for the navigator: every step's map memory, rebuilt from the recorded
views, and relabelled batches for its two levels (``socius.agents.navigator``)."""

from __future__ import annotations

import numpy as np

from socius.agents.map_memory import OPEN, empty_maps, remember
from socius.agents.navigator import NavigatorConfig
from socius.envs.moves import MOVE_COL, MOVE_ROW


class MapDataset:
    """Trajectories of one agent each, flattened: row i holds the map memory after the
    i-th observation (``maps [M, H, W]``), the agent's cell and its layout's open cells.
    Transition j goes from row ``source[j]`` by ``moves[j]`` to the next row; ``last[j]``
    is the final row of its trajectory."""

    FIELDS = ("maps", "cells", "goals", "layout", "open", "source", "moves", "last")

    def __init__(self, episodes_by_layout: list[tuple[np.ndarray, list]]):
        """``episodes_by_layout``: (walls ``[H, W]``, that layout's maze_v0 episodes)."""
        maps, cells, goals, layout, source, moves, last = [], [], [], [], [], [], []
        walls, offset = [], 0
        for index, (layout_walls, episodes) in enumerate(episodes_by_layout):
            walls.append(layout_walls)
            for episode_maps, episode_cells, episode_moves, episode_goals in _replayed(
                    layout_walls, episodes):
                steps = len(episode_moves)
                maps.append(episode_maps), cells.append(episode_cells)
                goals.append(episode_goals)
                layout.append(np.full(steps + 1, index))
                source.append(offset + np.arange(steps)), moves.append(episode_moves)
                last.append(np.full(steps, offset + steps))
                offset += steps + 1
        if offset == 0 or not source or sum(len(s) for s in source) == 0:
            raise ValueError("the dataset holds no transitions")
        self.maps = np.concatenate(maps)
        self.cells = np.concatenate(cells).astype(np.int64)
        self.goals = np.concatenate(goals).astype(np.int64)  # the goal each row was given
        self.layout = np.concatenate(layout)
        self.open = ~np.stack(walls)
        self.source = np.concatenate(source)
        self.moves = np.concatenate(moves).astype(np.int64)
        self.last = np.concatenate(last)
        self.free = [np.argwhere(~w) for w in walls]

    def extend(self, other: MapDataset) -> MapDataset:
        """This dataset followed by ``other``, its rows, layouts and transitions renumbered
        (an online run grows its data this way, and keeps all of it)."""
        rows, layouts = len(self.cells), len(self.free)
        shift = {"layout": layouts, "source": rows, "last": rows}
        return MapDataset.from_arrays(
            {name: np.concatenate([getattr(self, name), getattr(other, name)
                                   + shift.get(name, 0)]) for name in self.FIELDS}
            | {"free": self.free + other.free})

    def arrays(self) -> dict:
        """Everything the dataset holds, for a checkpoint (``from_arrays`` reads it)."""
        return {name: getattr(self, name) for name in self.FIELDS} | {"free": self.free}

    @classmethod
    def from_arrays(cls, arrays: dict) -> MapDataset:
        """The dataset ``arrays`` describes."""
        dataset = object.__new__(cls)
        for name in (*cls.FIELDS, "free"):
            setattr(dataset, name, arrays[name])
        return dataset

    def __len__(self) -> int:
        """Number of transitions."""
        return len(self.source)

    def sample(self, generator: np.random.Generator, config: NavigatorConfig) -> dict:
        """A batch: map, cell, move and next map and cell of each transition, its layout's
        open cells, a relabelled goal, and a subgoal reached j <= k steps later."""
        size = config.batch_size
        pick = generator.integers(0, len(self.source), size)
        here, last = self.source[pick], self.last[pick]
        # Goals the high level and GC-BC learn towards: anywhere later on the trajectory
        # (uniformly: geometric draws at gamma = 0.9 would keep them within one subgoal).
        future = here + 1 + (generator.random(size) * (last - here)).astype(np.int64)
        goal = self.cells[np.minimum(future, last)]
        if not config.hindsight:  # no relabelling: the goal the episode was given
            goal = self.goals[here]
        elif config.learner == "hierarchical":  # the rest of the goals: any open cell
            anywhere = generator.random(size) >= config.future_share
            for row in np.flatnonzero(anywhere):
                free = self.free[self.layout[here[row]]]
                goal[row] = free[generator.integers(len(free))]
        ahead = np.minimum(here + generator.integers(1, config.subgoal_steps + 1, size), last)
        # R: the goal is met on the way to the subgoal (any row in here+1 .. ahead).
        steps = np.arange(1, config.subgoal_steps + 1)
        route = np.minimum(here[:, None] + steps, ahead[:, None])
        achieves = (self.cells[route] == goal[:, None, :]).all(-1).any(-1)
        reach_floor, goal_steps = self._hindsight(here, last, goal, config.gamma)
        if not config.hindsight:  # what the trajectory shows of its own goal only
            at_goal = np.zeros_like(reach_floor)
            at_goal[np.arange(size), goal[:, 0], goal[:, 1]] = 1.0
            reach_floor = reach_floor * at_goal
        # V_H where the subgoal was reached, at least what the trajectory went on to show:
        # alpha^n gamma^(n-1) with n = ceil(steps left / k) (0 if it never met the goal).
        left = goal_steps - (ahead - here)
        subgoals = np.ceil(np.maximum(left, 1) / config.subgoal_steps)
        onward_floor = np.where(
            goal_steps < 0, 0.0, np.where(left <= 0, 1.0, config.alpha ** subgoals
                                          * config.gamma ** (subgoals - 1)))
        every_goal = {}
        if config.learner == "hierarchical" and config.body == "propagation":
            every_goal = self._every_goal(here, ahead, route, reach_floor, config)
        if config.known_moves:  # every move's successor on the current map
            next_map, next_cell = self.maps[here], move_successors(self.maps[here],
                                                                   self.cells[here])
        else:
            next_map, next_cell = self.maps[here + 1], self.cells[here + 1]
        return {"row": here, "map": self.maps[here], "cell": self.cells[here],
                "move": self.moves[pick], "next_map": next_map, "next_cell": next_cell,
                "open": self.open[self.layout[here]], "goal": goal,
                "subgoal": self.cells[ahead], "subgoal_map": self.maps[ahead],
                "achieves": achieves, "reach_floor": reach_floor,
                "onward_floor": onward_floor.astype(np.float32), **every_goal}

    def _every_goal(self, here, ahead, route, reach_floor, config) -> dict:
        """The high level's relabelling to every cell at once: ``route [B, H, W]``, the
        cells met on the way to the subgoal (R = 1 for those goals), and
        ``onward_floors [B, H, W]``, ``alpha^n gamma^(n-1)`` at every cell the trajectory
        entered after the subgoal, n = ceil(steps beyond the subgoal / k)."""
        size = len(here)
        on_route = np.zeros(reach_floor.shape, bool)
        cells = self.cells[route]  # [B, k, 2]
        on_route[np.arange(size)[:, None], cells[..., 0], cells[..., 1]] = True
        # The first entry j of each cell, read back from its floor gamma^(j - 1).
        entered = reach_floor > 0
        first = 1 + np.rint(np.log(np.where(entered, reach_floor, 1.0))
                            / np.log(config.gamma))
        left = np.maximum(first - (ahead - here)[:, None, None], 1)
        subgoals = np.ceil(left / config.subgoal_steps)
        floors = np.where(entered, config.alpha ** subgoals * config.gamma ** (subgoals - 1),
                          0.0)
        return {"route": on_route, "onward_floors": floors.astype(np.float32)}

    def _hindsight(self, here: np.ndarray, last: np.ndarray, goal: np.ndarray, gamma: float):
        """What each trajectory itself shows from row ``here`` on: ``gamma^(j-1)`` at every
        cell it first entered j steps later (``[B, H, W]``, 0 elsewhere: a floor under the
        reach value), and the steps until it met ``goal [B, 2]`` (-1: never)."""
        size = len(here)
        height, width = self.maps.shape[1:]
        length = int((last - here).max())
        steps = np.arange(1, length + 1)
        row = here[:, None] + steps
        valid = row <= last[:, None]
        cells = self.cells[np.minimum(row, last[:, None])]  # [B, J, 2]
        floor = np.zeros(size * height * width, np.float32)
        flat = (np.arange(size)[:, None] * height + cells[..., 0]) * width + cells[..., 1]
        np.maximum.at(floor, flat[valid], (gamma ** (steps - 1))[None].repeat(size, 0)[valid])
        met = valid & (cells == goal[:, None, :]).all(-1)
        goal_steps = np.where(met.any(1), met.argmax(1) + 1, -1)
        return floor.reshape(size, height, width), goal_steps


def move_successors(maps: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Where each move leads ``[B, 5, 2]`` from ``cells [B, 2]`` on ``maps [B, H, W]``: a
    move into a wall, an unknown cell or off the grid stays."""
    height, width = maps.shape[1:]
    after = cells[:, None, :] + np.stack([MOVE_ROW, MOVE_COL], -1)[None]
    inside = (after[..., 0] >= 0) & (after[..., 0] < height) & (after[..., 1] >= 0) \
        & (after[..., 1] < width)
    clipped = np.clip(after, 0, [height - 1, width - 1])
    kind = maps[np.arange(len(cells))[:, None], clipped[..., 0], clipped[..., 1]]
    return np.where((inside & (kind == OPEN))[..., None], after, cells[:, None, :])


def _replayed(walls: np.ndarray, episodes: list):
    """Each episode's maps ``[T + 1, H, W]``, cells ``[T + 1, 2]``, moves ``[T]`` and goals
    ``[T + 1, 2]`` of its only agent up to its arrival, the maps rebuilt step by step from
    its views (all the layout's episodes at once)."""
    if not episodes:
        return
    lengths = [int(e.alive[:-1, 0].sum()) for e in episodes]
    longest = max(lengths) + 1
    count = len(episodes)
    views = np.zeros((count, longest, *episodes[0].observations["view"].shape[2:]), np.uint8)
    cells = np.zeros((count, longest, 2), np.int64)
    for row, (episode, steps) in enumerate(zip(episodes, lengths)):
        views[row, : steps + 1] = episode.observations["view"][: steps + 1, 0]
        cells[row, : steps + 1] = episode.observations["position"][: steps + 1, 0]
    maps = np.empty((count, longest, *walls.shape), np.int8)
    current = empty_maps((count,), *walls.shape)
    for step in range(longest):
        current = remember(current, views[:, step], cells[:, step])
        maps[:, step] = current
    for row, (episode, steps) in enumerate(zip(episodes, lengths)):
        if steps > 0:
            yield maps[row, : steps + 1], cells[row, : steps + 1], \
                episode.actions[:steps, 0, 0], episode.goals[: steps + 1, 0, :2]
