"""The TorchRL adapter's flat float32 presentation as kernels: one pass over a step's
observation writes both what ``next`` shows (the observation each ended world ended on)
and what the next step starts from (every world's observation after the restarts)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def flat_rows_into(view, others, inbox, goal, goal_mask, position, final_view, final_others,
                   final_inbox, final_goal, final_goal_mask, final_position, final_index,
                   current, following):
    """The six shown observation keys, each flat (``[B * N * K]``), cast to float32 end to
    end in that order into ``current [B, N, F]`` and ``following``, whose worlds
    ``final_index [D]`` show the ``final_`` keys (flat ``[D * N * K]``) instead: the
    observation they ended on."""
    batch, agents, columns = current.shape
    # numba checks no bounds: keys that do not fill the rows exactly would write astray.
    _check_widths(view, others, inbox, goal, goal_mask, position, batch * agents, columns)
    _check_widths(final_view, final_others, final_inbox, final_goal, final_goal_mask,
                  final_position, final_index.size * agents, columns)
    if following.shape != current.shape or (final_index.size and (
            final_index.min() < 0 or final_index.max() >= batch)):
        raise ValueError("following must have current's shape, and final_index index it")
    flat_current, flat_following = current.reshape(-1), following.reshape(-1)
    # Row by row, every key at once: the short keys' few columns of a row share its cache
    # lines, where one pass a key would fetch every row's lines again for each. Writing
    # both outputs from one source in one loop keeps it vectorized; the ended worlds'
    # rows of `following` are written again after.
    _rows_into(view, others, inbox, goal, goal_mask, position, np.arange(batch * agents),
               columns, flat_current, flat_following)
    ended = np.empty(final_index.size * agents, dtype=np.int64)
    for d in range(final_index.size):
        for i in range(agents):
            ended[d * agents + i] = final_index[d] * agents + i
    _rows_into(final_view, final_others, final_inbox, final_goal, final_goal_mask,
               final_position, ended, columns, flat_following, flat_following)


@njit(inline="always")
def _check_widths(view, others, inbox, goal, goal_mask, position, rows, columns):
    """Raise unless each key holds whole rows of ``rows`` and together they fill
    ``columns``."""
    total = 0
    for size in (view.size, others.size, inbox.size, goal.size, goal_mask.size,
                 position.size):
        if rows and size % rows:
            raise ValueError("every observation key must hold the same number of rows")
        total += size // rows if rows else 0
    if rows and total != columns:
        raise ValueError("the observation keys' columns must fill the flat observation")


@njit(inline="always")
def _rows_into(view, others, inbox, goal, goal_mask, position, target, columns, first,
               second):
    """Source rows ``r`` written to flat rows ``target[r]`` of ``first`` and ``second``."""
    rows = target.size
    widths = (view.size // rows, others.size // rows, inbox.size // rows, goal.size // rows,
              goal_mask.size // rows, position.size // rows)
    for r in range(rows):
        to = target[r] * columns
        to = _key_row_into(view, widths[0], r, to, first, second)
        to = _key_row_into(others, widths[1], r, to, first, second)
        to = _key_row_into(inbox, widths[2], r, to, first, second)
        to = _key_row_into(goal, widths[3], r, to, first, second)
        to = _key_row_into(goal_mask, widths[4], r, to, first, second)
        _key_row_into(position, widths[5], r, to, first, second)


@njit(inline="always")
def _key_row_into(source, width, row, to, first, second):
    """One key's ``width`` columns of source row ``row`` to flat offset ``to`` of ``first``
    and ``second``; returns the offset after them."""
    # Unsigned flat offsets spare numba's negative-index wrap, which keeps the loop from
    # compiling to vector instructions.
    start, from_ = np.uint64(to), np.uint64(row * width)
    for k in range(width):
        value = np.float32(source[from_ + np.uint64(k)])
        first[start + np.uint64(k)] = value
        second[start + np.uint64(k)] = value
    return to + width


@njit(cache=True, nogil=True)
def joint_mask_into(moves, final_moves, final_index, current, following):
    """The move mask ``moves [B, N, M]`` (int8 0/1) as the joint actions' mask
    ``[B, N, M, T]`` (every move's flag repeated over its T token choices, move-major) in
    ``current`` and ``following``, whose worlds ``final_index [D]`` take
    ``final_moves [D, N, M]`` instead."""
    batch, agents, count = moves.shape
    tokens = current.shape[3]
    for b in range(batch):
        for i in range(agents):
            for m in range(count):
                allowed = moves[b, i, m]
                for t in range(tokens):
                    current[b, i, m, t] = allowed
                    following[b, i, m, t] = allowed
    for d in range(final_index.size):
        b = final_index[d]
        for i in range(agents):
            for m in range(count):
                for t in range(tokens):
                    following[b, i, m, t] = final_moves[d, i, m]
