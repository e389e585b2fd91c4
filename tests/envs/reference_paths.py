"""A slow, obviously-correct shortest-path oracle: one breadth-first search with a queue.

Like ``reference_world`` it imports nothing from socius and takes plain data, so the
batched search of ``socius.envs.layouts`` is checked against something written apart
from it.
"""

from __future__ import annotations

from collections import deque

STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right


def reference_distances(walls: list[list[bool]], start: tuple[int, int]) -> list[list[int]]:
    """Steps from ``start`` to every cell through non-wall cells (-1 where unreachable);
    the start counts as reached even on a wall."""
    height, width = len(walls), len(walls[0])
    distance = [[-1] * width for _ in range(height)]
    distance[start[0]][start[1]] = 0
    queue = deque([start])
    while queue:
        row, col = queue.popleft()
        for d_row, d_col in STEPS:
            r, c = row + d_row, col + d_col
            if 0 <= r < height and 0 <= c < width and not walls[r][c] and distance[r][c] < 0:
                distance[r][c] = distance[row][col] + 1
                queue.append((r, c))
    return distance
