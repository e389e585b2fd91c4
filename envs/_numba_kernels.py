"""The numba kernels behind ``kernels.py`` (imported only when numba is installed).

Each kernel writes into arrays its caller allocated, and loops over worlds and agents in
compiled code: the loops the numpy path avoids are cheap here. The rules are those of
``observe.observe`` and ``core._apply_moves``, which stay the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from socius.envs._numba_present import (  # noqa: F401 (the namespace)
    flat_rows_into,
    joint_mask_into,
)
from socius.envs._numba_random import smallest_draws_into  # noqa: F401 (the namespace)
from socius.envs._numba_referential import (  # noqa: F401 (the namespace)
    referential_outcome_into,
    referential_start_into,
)
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.envs.state import AGENT, FREE, OUTSIDE, TERRAIN

PLANES = 5
# Global arrays are frozen into the compiled code as constants.
move_row = MOVE_ROW.astype(np.int64)
move_col = MOVE_COL.astype(np.int64)


@njit(cache=True, nogil=True)
def observe_into(cells, occupant, row, col, finished, step_count, last_move, last_message,
                 goal, embodied, role, goal_visible, rank_row, rank_col, sender, heard,
                 rank_grid, radius, hearing, opening, limit, pairwise_limit,
                 view, others, inbox, goal_out, goal_mask, position, action_mask):
    """Every agent's observation of every world, written into the output arrays."""
    batch, agents = row.shape
    side = 2 * radius + 1
    length = last_message.shape[2]
    slots = others.shape[2]
    goal_size = goal.shape[2]
    senders = sender.shape[1]
    height, width = cells.shape[2], cells.shape[3]
    flat_cells = cells.reshape(-1)
    flat_view = view.reshape(-1)
    flat_others = others.reshape(-1)
    chosen = np.empty(max(limit, 1), dtype=np.int64)
    scratch_rank = np.empty(agents, dtype=np.int64)
    scratch_agent = np.empty(agents, dtype=np.int64)
    for b in range(batch):
        opened = step_count[b] >= opening
        for i in range(agents):
            r = row[b, i]
            c = col[b, i]
            position[b, i, 0] = r
            position[b, i, 1] = c
            for g in range(goal_size):
                goal_out[b, i, g] = goal[b, i, g] * goal_visible[i, g]
                goal_mask[b, i, g] = goal_visible[i, g]
            # The window's top-left corner in the padded grid is the agent's own cell.
            out = np.uint64((b * agents + i) * PLANES * side * side)
            if embodied[i]:
                source = np.uint64(((b * PLANES) * height + r) * width + c)
                # A window side known at compile time lets each row compile to a block copy:
                # the common sides get their own branch.
                if side == 5:
                    _copy_window(flat_view, out, flat_cells, source, 5, height, width)
                elif side == 9:
                    _copy_window(flat_view, out, flat_cells, source, 9, height, width)
                elif side == 3:
                    _copy_window(flat_view, out, flat_cells, source, 3, height, width)
                elif side == 7:
                    _copy_window(flat_view, out, flat_cells, source, 7, height, width)
                else:
                    _copy_window(flat_view, out, flat_cells, source, side, height, width)
            else:
                block = side * side
                for x in range(block):
                    flat_view[out + np.uint64(x)] = OUTSIDE
                for x in range(block, PLANES * block):
                    flat_view[out + np.uint64(x)] = 0
            # Moves: stay always; a step into free terrain while the agent may act.
            active = embodied[i] and not finished[b, i] and opened
            action_mask[b, i, 0] = 1
            sees = embodied[i] if radius >= 1 else r >= 0
            for m in range(1, 5):
                free = False
                if sees:
                    y = min(max(r + radius + move_row[m], 0), height - 1)
                    x = min(max(c + radius + move_col[m], 0), width - 1)
                    free = cells[b, TERRAIN, y, x] == FREE
                action_mask[b, i, m] = 1 if (free and active) else 0
            # The nearest agents in view: few agents are compared pairwise, many are
            # found by scanning the window's cells in rank order.
            found = 0
            if embodied[i] and agents <= pairwise_limit:
                found = _nearest_pairwise(b, i, row, col, embodied, rank_grid, radius, limit,
                                          chosen, scratch_rank, scratch_agent)
            elif embodied[i]:
                for k in range(rank_row.shape[0]):
                    if found >= limit:
                        break
                    j = occupant[b, r + rank_row[k], c + rank_col[k]]
                    if j >= 0 and j != i:
                        chosen[found] = j
                        found += 1
            for s in range(found):
                j = chosen[s]
                others[b, i, s, 0] = 1
                others[b, i, s, 1] = row[b, j] - r
                others[b, i, s, 2] = col[b, j] - c
                others[b, i, s, 3] = j
                others[b, i, s, 4] = role[j]
                others[b, i, s, 5] = last_move[b, j] + 1
                for t in range(length):
                    others[b, i, s, 6 + t] = last_message[b, j, t] + 1
            # The empty slots are one run of the flat array (unsigned: see _copy_window).
            record = 6 + length
            blank = np.uint64(((b * agents + i) * slots + found) * record)
            for x in range((slots - found) * record):
                flat_others[blank + np.uint64(x)] = 0
            # What the agent hears: its group's senders, or the agents near enough.
            if hearing < 0:
                for s in range(senders):
                    for t in range(length):
                        inbox[b, i, s, t] = (last_message[b, sender[i, s], t] + 1
                                             if heard[i, s] else 0)
            else:
                for s in range(slots):
                    near = (s < found and max(abs(others[b, i, s, 1]),
                                              abs(others[b, i, s, 2])) <= hearing)
                    for t in range(length):
                        inbox[b, i, s, t] = others[b, i, s, 6 + t] if near else 0


@njit(inline="always")
def _copy_window(flat_view, out, flat_cells, source, side, height, width):
    """Copy the ``side`` x ``side`` window of every plane starting at flat cell ``source``
    to flat view offset ``out``. Unsigned offsets spare numba's negative-index wrap, which
    kept each row from compiling to a block copy."""
    for p in range(PLANES):
        for y in range(side):
            to = out + np.uint64((p * side + y) * side)
            from_ = source + np.uint64((p * height + y) * width)
            for x in range(side):
                flat_view[to + np.uint64(x)] = flat_cells[from_ + np.uint64(x)]


@njit(cache=True, nogil=True)
def _nearest_pairwise(b, i, row, col, embodied, rank_grid, radius, limit, chosen,
                      rank, agent_of):
    """Agents in agent i's window of world b, nearest first (the window's rank order),
    written to ``chosen``; returns how many (at most ``limit``). ``rank`` and ``agent_of``
    are scratch space of N entries."""
    count = 0
    for j in range(row.shape[1]):
        dy, dx = row[b, j] - row[b, i], col[b, j] - col[b, i]
        if j != i and embodied[j] and abs(dy) <= radius and abs(dx) <= radius:
            rank[count] = rank_grid[dy + radius, dx + radius]
            agent_of[count] = j
            count += 1
    # Candidates are few: move the smallest ranks to the front (ranks are distinct).
    found = min(count, limit)
    for s in range(found):
        best = s
        for k in range(s + 1, count):
            if rank[k] < rank[best]:
                best = k
        rank[s], rank[best] = rank[best], rank[s]
        agent_of[s], agent_of[best] = agent_of[best], agent_of[s]
        chosen[s] = agent_of[s]
    return found


@njit(cache=True, nogil=True)
def move_into(cells, occupant, row, col, finished, step_count, actions, embodied, opening,
              role, pad,
              last_move, new_row, new_col, moved, new_occupant, new_cells):
    """Move every agent that can; ``new_occupant`` and ``new_cells`` start as copies of the
    grids and are changed in place. ``last_move`` gets each agent's move: the one it chose
    while it may act (embodied, not finished, past the opening steps), else 0."""
    batch, agents = row.shape
    height, width = occupant.shape[1], occupant.shape[2]
    claims = np.zeros(height * width, dtype=np.int32)  # movers wanting each cell
    target = np.empty(agents, dtype=np.int64)
    wants = np.empty(agents, dtype=np.bool_)
    for b in range(batch):
        opened = step_count[b] >= opening
        # A cell is wanted when it is free terrain and empty before anyone moves.
        for i in range(agents):
            m = actions[b, i, 0] if (embodied[i] and not finished[b, i] and opened) else 0
            last_move[b, i] = m
            wants[i] = False
            if m == 0 or row[b, i] < 0:
                continue
            y = row[b, i] + pad + move_row[m]
            x = col[b, i] + pad + move_col[m]
            if cells[b, TERRAIN, y, x] == FREE and occupant[b, y, x] < 0:
                wants[i] = True
                target[i] = y * width + x
                claims[target[i]] += 1
        # A cell wanted by two or more agents stays empty.
        for i in range(agents):
            m = last_move[b, i]
            go = wants[i] and claims[target[i]] == 1
            moved[b, i] = go
            if go:
                new_row[b, i] = row[b, i] + move_row[m]
                new_col[b, i] = col[b, i] + move_col[m]
                y_old, x_old = row[b, i] + pad, col[b, i] + pad
                y_new, x_new = new_row[b, i] + pad, new_col[b, i] + pad
                new_occupant[b, y_old, x_old] = -1
                new_occupant[b, y_new, x_new] = i
                new_cells[b, AGENT, y_old, x_old] = 0
                new_cells[b, AGENT, y_new, x_new] = role[i] + 1
            else:
                new_row[b, i] = row[b, i]
                new_col[b, i] = col[b, i]
        for i in range(agents):
            if wants[i]:
                claims[target[i]] = 0


@njit(cache=True, nogil=True)
def actions_in_range(actions, high):
    """Whether every component ``k`` of every action lies in ``[0, high[k])``."""
    batch, agents, width = actions.shape
    for b in range(batch):
        for i in range(agents):
            for k in range(width):
                if actions[b, i, k] < 0 or actions[b, i, k] >= high[k]:
                    return False
    return True


@njit(cache=True, nogil=True)
def place_agents_into(index, row, col, role, pad, occupant, cells):
    """``core._start_episodes``'s grids for worlds ``index`` whose row and col are new:
    occupant cleared to -1 and the agent plane to 0, then each agent on the grid written
    (agent index, role + 1)."""
    agents = row.shape[1]
    for d in range(index.shape[0]):
        b = index[d]
        occupant[b] = -1
        cells[b, AGENT] = 0
        for i in range(agents):
            if row[b, i] >= 0:
                y, x = row[b, i] + pad, col[b, i] + pad
                occupant[b, y, x] = i
                cells[b, AGENT, y, x] = role[i] + 1
