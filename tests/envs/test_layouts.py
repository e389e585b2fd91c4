"""The one shortest-path search agrees with a plain queue BFS, in every caller's form."""

from __future__ import annotations

import numpy as np
import pytest
from reference_paths import reference_distances

from socius.envs import layouts


def random_walls(generator: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Walls at random (closed pockets included), so some cells are unreachable."""
    return generator.random((height, width)) < 0.35


def oracle(walls: np.ndarray, start) -> np.ndarray:
    return np.array(reference_distances(walls.tolist(), (int(start[0]), int(start[1]))))


@pytest.mark.parametrize("seed", range(6))
def test_shortest_steps_matches_a_queue_search_on_each_map(seed):
    generator = np.random.default_rng(seed)
    height, width = int(generator.integers(1, 12)), int(generator.integers(1, 12))
    walls = np.stack([random_walls(generator, height, width) for _ in range(5)])
    starts = np.stack([generator.integers(0, height, 5), generator.integers(0, width, 5)], 1)
    origin = np.zeros(walls.shape, dtype=bool)
    origin[np.arange(5), starts[:, 0], starts[:, 1]] = True
    distance = layouts.shortest_steps(walls, origin)
    assert distance.dtype == np.int64
    for k in range(5):
        assert np.array_equal(distance[k], oracle(walls[k], starts[k]))


def test_shortest_steps_shares_one_map_and_takes_the_callers_marker():
    generator = np.random.default_rng(7)
    walls = random_walls(generator, 9, 13)
    cells = np.argwhere(~walls)
    origin = np.zeros((len(cells), *walls.shape), dtype=bool)
    origin[np.arange(len(cells)), cells[:, 0], cells[:, 1]] = True
    marker = np.iinfo(np.int32).max
    distance = layouts.shortest_steps(walls, origin, unreachable=marker, dtype=np.int32)
    assert distance.dtype == np.int32
    for k, cell in enumerate(cells):
        expected = oracle(walls, cell)
        assert np.array_equal(distance[k], np.where(expected < 0, marker, expected))


def test_distances_from_starts_even_on_a_wall():
    walls = layouts.open_room(5, 6)
    distance = layouts.distances_from(walls, (0, 2))
    assert np.array_equal(distance, oracle(walls, (0, 2)))
    assert distance[0, 2] == 0 and distance[1, 2] == 1 and distance[0, 1] == -1


@pytest.mark.parametrize("size", [9, 15])
def test_distances_from_matches_a_queue_search_in_mazes(size):
    walls = layouts.maze(size, np.random.default_rng(size))
    start = tuple(np.argwhere(~walls)[0])
    assert np.array_equal(layouts.distances_from(walls, start), oracle(walls, start))
