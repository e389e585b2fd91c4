"""``referential_v0``'s kernels: a group's outcome, and fresh episodes."""

from __future__ import annotations

import numpy as np
from numba import njit

from socius.envs._numba_random import counters_of, smallest_of_row, unit_draw
from socius.envs.state import COLOUR, SHAPE


@njit(cache=True, nogil=True)
def referential_outcome_into(cells, row, col, finished, goal, step_count, member_group,
                             listener, pad, max_cycles, timeout_cost,
                             reward, new_finished, terminated, achieved, success, wrong,
                             timeout):
    """``referential_v0.resolve``: each group's outcome once its listener stands on an
    object or the episode runs out, shared by the group's members."""
    batch, agents = row.shape
    groups = listener.shape[0]
    cost = np.float32(timeout_cost)
    outcome = np.zeros((groups, 3), dtype=np.float32)  # success, wrong, timeout
    arrived = np.zeros(groups, dtype=np.bool_)
    where = np.zeros((groups, 2), dtype=np.int32)
    for b in range(batch):
        last_step = step_count[b] + 1 >= max_cycles
        for g in range(groups):
            k = listener[g]
            y, x = row[b, k] + pad, col[b, k] + pad
            colour = np.int32(cells[b, 1, y, x]) - 1
            shape = np.int32(cells[b, 2, y, x]) - 1
            on_object = colour >= 0
            searching = not finished[b, k]
            arriving = on_object and searching
            hit = colour == goal[b, k, 0] and shape == goal[b, k, 1]
            outcome[g, 0] = 1.0 if (arriving and hit) else 0.0
            outcome[g, 1] = 1.0 if (arriving and not hit) else 0.0
            outcome[g, 2] = 1.0 if (last_step and searching and not arriving) else 0.0
            arrived[g] = arriving
            where[g, 0] = colour if on_object else -1
            where[g, 1] = shape if on_object else -1
        ended = True
        for i in range(agents):
            g = member_group[i]
            success[b, i] = outcome[g, 0]
            wrong[b, i] = outcome[g, 1]
            timeout[b, i] = outcome[g, 2]
            reward[b, i] = outcome[g, 0] - cost * outcome[g, 2]
            new_finished[b, i] = finished[b, i] or arrived[g]
            achieved[b, i, 0] = where[g, 0]
            achieved[b, i, 1] = where[g, 1]
        for g in range(groups):
            ended = ended and new_finished[b, listener[g]]
        terminated[b] = ended


@njit(cache=True, nogil=True)
def referential_start_into(keys, index, base, pairs, objects_key, goals_key, agents_key,
                           interior, listeners, member_group, pad, side,
                           cells, row, col, goal, target, colour, shape, object_row,
                           object_col):
    """``referential_v0.reset_episodes`` for rooms of random distractors (no held-out test
    targets, no contrast): the same draws, episode ``keys[d]`` written into row
    ``index[d]`` of the outputs, its cells starting from the empty room ``base``. ``cells``
    must be C-contiguous (numba refuses to compile the reshape otherwise)."""
    count = keys.shape[0]
    groups, objects = target.shape[1], colour.shape[1]
    pair_counters = counters_of(objects_key, pairs.shape[0])
    # One goals stream serves both target draws: an element's counter depends on its index.
    goal_counters = counters_of(goals_key, max(objects, groups))
    object_counters = goal_counters[:objects]
    cell_counters = counters_of(agents_key, interior.shape[0])
    every_pair = np.ones(pairs.shape[0], dtype=np.bool_)
    every_object = np.ones(objects, dtype=np.bool_)
    score = np.empty(max(pairs.shape[0], interior.shape[0], objects), dtype=np.float64)
    choice = np.empty(objects, dtype=np.int64)
    order = np.empty(objects, dtype=np.int64)
    placed = np.empty(objects + groups, dtype=np.int64)
    flat_cells = cells.reshape(cells.shape[0], -1)
    flat_base = base.reshape(-1)
    for d in range(count):
        key = np.uint64(keys[d])
        b = index[d]
        # A flat loop over contiguous rows compiles to a plain copy; numba's slice
        # assignment (its broadcasting code) cost twice the draws.
        room = flat_cells[b]
        for c in range(flat_base.shape[0]):
            room[c] = flat_base[c]
        smallest_of_row(key, pair_counters, every_pair, score, choice)
        if groups <= objects:  # distinct targets: the first of a permutation of the objects
            smallest_of_row(key, object_counters, every_object, score, order)
            for g in range(groups):
                target[b, g] = order[g]
        else:
            for g in range(groups):
                target[b, g] = min(np.int64(unit_draw(key, goal_counters[g]) * objects),
                                   objects - 1)
        smallest_of_row(key, cell_counters, interior, score, placed)
        for k in range(objects):
            colour[b, k] = pairs[choice[k], 0]
            shape[b, k] = pairs[choice[k], 1]
            object_row[b, k] = placed[k] // side
            object_col[b, k] = placed[k] % side
            y, x = object_row[b, k] + pad, object_col[b, k] + pad
            cells[b, COLOUR, y, x] = colour[b, k] + 1
            cells[b, SHAPE, y, x] = shape[b, k] + 1
        for i in range(row.shape[1]):
            row[b, i] = -1
            col[b, i] = -1
        for g in range(groups):
            row[b, listeners[g]] = placed[objects + g] // side
            col[b, listeners[g]] = placed[objects + g] % side
        for i in range(row.shape[1]):
            aim = target[b, member_group[i]]
            goal[b, i, 0] = colour[b, aim]
            goal[b, i, 1] = shape[b, aim]
