"""Wall layouts: bool arrays ``[H, W]`` (True = wall) with a border of walls, and the one
shortest-path search over them (``shortest_steps``) that every distance in socius uses."""

from __future__ import annotations

import numpy as np

from socius.envs.moves import MOVE_COL, MOVE_ROW

LAYOUTS = ("four_rooms", "maze", "open", "t_maze")


def open_room(height: int, width: int) -> np.ndarray:
    """An empty room surrounded by walls."""
    walls = np.zeros((height, width), dtype=bool)
    walls[[0, -1], :] = True
    walls[:, [0, -1]] = True
    return walls


def four_rooms(size: int, generator: np.random.Generator | None = None) -> np.ndarray:
    """Sutton et al.'s four rooms: a cross of walls with one doorway in each arm."""
    walls = open_room(size, size)
    middle = size // 2
    walls[middle, :] = True
    walls[:, middle] = True
    first, second = (middle + 1) // 2, middle + (size - middle) // 2
    if generator is not None:
        first = int(generator.integers(1, middle))
        second = int(generator.integers(middle + 1, size - 1))
    walls[first, middle] = walls[second, middle] = False
    walls[middle, first] = walls[middle, second] = False
    return walls


def maze(size: int, generator: np.random.Generator) -> np.ndarray:
    """A perfect maze carved by randomised depth-first search on the odd cells."""
    cells = size - 1 if size % 2 == 0 else size
    walls = np.ones((size, size), dtype=bool)
    start = (1, 1)
    walls[start] = False
    stack = [start]
    while stack:
        row, col = stack[-1]
        options = [(row + dr, col + dc, dr, dc) for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))
                   if 0 < row + dr < cells - 1 and 0 < col + dc < cells - 1
                   and walls[row + dr, col + dc]]
        if not options:
            stack.pop()
            continue
        new_row, new_col, dr, dc = options[int(generator.integers(len(options)))]
        walls[row + dr // 2, col + dc // 2] = False
        walls[new_row, new_col] = False
        stack.append((new_row, new_col))
    return walls


def t_maze(length: int) -> tuple[np.ndarray, tuple[int, int], tuple[tuple[int, int], ...]]:
    """A T: a stem of ``length`` cells up to a bar; returns (walls, start, (left, right) ends)."""
    height, width = length + 3, 7
    walls = np.ones((height, width), dtype=bool)
    centre = width // 2
    walls[1, 1 : width - 1] = False
    walls[1 : height - 1, centre] = False
    return walls, (height - 2, centre), ((1, 1), (1, width - 2))


def shortest_steps(walls: np.ndarray, start: np.ndarray, unreachable: int = -1,
                   dtype: type = np.int64) -> np.ndarray:
    """Breadth-first step counts ``[K, H, W]`` from the cells of ``start`` (bool ``[K, H, W]``)."""
    # The one shortest-path routine: K searches advance together, one frontier per step, so
    # a batch costs one array pass per distance instead of a Python loop per cell. Start
    # cells count as step 0 even on a wall (callers that want none there mask them out);
    # ``walls`` may be ``[H, W]`` shared by all K searches or ``[K, H, W]``.
    count, height, width = start.shape
    free = np.logical_not(np.broadcast_to(walls, start.shape))
    distance = np.full(start.shape, unreachable, dtype=dtype)
    frontier = start.copy()
    seen = start.copy()
    distance[frontier] = 0
    # A zero border stands for the outside of the grid, which no move enters.
    padded = np.zeros((count, height + 2, width + 2), dtype=bool)
    step = 0
    while frontier.any():
        step += 1
        padded[:, 1:-1, 1:-1] = frontier
        grown = np.zeros_like(frontier)
        # A cell is reached by move m from the cell one step of m behind it.
        for d_row, d_col in zip(MOVE_ROW[1:].tolist(), MOVE_COL[1:].tolist()):
            grown |= padded[:, 1 - d_row:1 - d_row + height, 1 - d_col:1 - d_col + width]
        frontier = grown & free & ~seen
        seen |= frontier
        distance[frontier] = step
    return distance


def distances_from(walls: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Shortest-path step counts from ``start`` to every cell (-1 where unreachable)."""
    origin = np.zeros((1, *walls.shape), dtype=bool)
    origin[(0, *start)] = True
    return shortest_steps(walls, origin)[0]
