"""Wall layouts: bool arrays ``[H, W]`` (True = wall) with a border of walls."""

from __future__ import annotations

from collections import deque

import numpy as np

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


def distances_from(walls: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Shortest-path step counts from ``start`` to every cell (-1 where unreachable)."""
    distance = np.full(walls.shape, -1, dtype=np.int64)
    distance[start] = 0
    queue = deque([start])
    while queue:
        row, col = queue.popleft()
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nr, nc = row + dr, col + dc
            if (0 <= nr < walls.shape[0] and 0 <= nc < walls.shape[1]
                    and not walls[nr, nc] and distance[nr, nc] < 0):
                distance[nr, nc] = distance[row, col] + 1
                queue.append((nr, nc))
    return distance
