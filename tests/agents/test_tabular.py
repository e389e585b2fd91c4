"""The all-pairs and batched distances of the agents are the shared search in their forms:
``state_distances`` int64 with -1, ``distance_maps`` int32 with ``UNREACHABLE``."""

from __future__ import annotations

import numpy as np
from reference_paths import reference_distances

from socius.agents.scripted import UNREACHABLE, distance_maps
from socius.agents.tabular import free_cells, state_distances
from socius.envs import layouts


def test_state_distances_match_a_queue_search_from_every_free_cell():
    generator = np.random.default_rng(0)
    walls = layouts.open_room(8, 9) | (generator.random((8, 9)) < 0.3)  # closed pockets too
    cells, _ = free_cells(walls)
    distance = state_distances(walls)
    assert distance.dtype == np.int64 and distance.shape == (len(cells), len(cells))
    for state, (row, col) in enumerate(cells):
        grid = np.array(reference_distances(walls.tolist(), (int(row), int(col))))
        assert np.array_equal(distance[state], grid[cells[:, 0], cells[:, 1]])
    assert (distance < 0).any(), "the layout should have unreachable pairs"


def test_distance_maps_mark_unreachable_cells_and_targets_on_walls():
    walls = np.stack([layouts.four_rooms(9), layouts.open_room(9, 9)])
    walls[1, 4, 1:8] = True  # cut the open room in two
    distance = distance_maps(walls, np.array([[1, 1], [0, 0]]))  # second target is a wall
    expected = np.array(reference_distances(walls[0].tolist(), (1, 1)))
    assert distance.dtype == np.int32
    assert np.array_equal(distance[0], np.where(expected < 0, UNREACHABLE, expected))
    assert (distance[1] == UNREACHABLE).all()
