"""Build every agent's observation from a world state, with no loop over agents.

Keys (all arrays lead with ``[B, N]``):

- ``view`` uint8 ``[5, 2r+1, 2r+1]`` (channels first): egocentric window centred
  on the agent; channels are terrain (0 free, 1 wall, 2 outside), object
  colour+1, object shape+1, goal tile+1 and agent (0 none, else 1 + the role
  index of the agent standing there, the observer included). Agents off the grid
  see only OUTSIDE.
- ``others`` int32 ``[M, 6 + L]``: the M nearest agents in view, nearest first
  (Chebyshev, then Manhattan distance, then raster order). Columns: present,
  row offset, column offset, agent index, role, previous move+1 (0 none),
  previous tokens+1 (0 silence).
- ``inbox`` int32 ``[S, L]``: tokens+1 heard from each sender on the previous
  step (0 silence). Senders are the agent's group (``hearing_radius=-1``) or the
  agents of ``others`` within the hearing radius.
- ``goal`` int32 ``[G]`` and ``goal_mask`` int8 ``[G]``: the agent's goal, zeroed
  where the agent may not see it.
- ``position`` int32 ``[2]``: absolute (row, column); -1, -1 off the grid.
- ``action_mask`` int8 ``[5]``: moves the agent can make (stay is always allowed;
  a move is masked when the role cannot move, the agent has finished, the episode's
  opening steps are running (speakers talk first), or a wall is in the way).
"""

from __future__ import annotations

import numpy as np

from socius.envs import kernels
from socius.envs.moves import MOVE_COL, MOVE_ROW, NUM_MOVES
from socius.envs.state import FREE, OUTSIDE, TERRAIN, WorldState
from socius.envs.world import World

UNSEEN = np.iinfo(np.int64).max

# Agents beyond this many per world find their neighbours through the grid
# (O(N view^2)); below it a pairwise comparison (O(N^2)) is cheaper.
PAIRWISE_LIMIT = 16


def observation_tables(world: World) -> dict[str, np.ndarray]:
    """Precomputed neighbour orderings of the view window for ``world``."""
    tables = world.info.get("_tables")
    if tables is not None:
        return tables
    radius = world.config.view_radius
    d_row, d_col = np.meshgrid(np.arange(-radius, radius + 1), np.arange(-radius, radius + 1),
                               indexing="ij")
    chebyshev = np.maximum(np.abs(d_row), np.abs(d_col))
    manhattan = np.abs(d_row) + np.abs(d_col)
    raster = np.arange(d_row.size).reshape(d_row.shape)
    order_key = (chebyshev * 4 * (radius + 1) + manhattan) * d_row.size + raster
    rank = np.argsort(np.argsort(order_key.ravel(), kind="stable"), kind="stable")
    # Rank of every possible offset between two agents, UNSEEN outside the window.
    reach_row, reach_col = world.height + 1, world.width + 1
    rank_by_offset = np.full((2 * reach_row + 1, 2 * reach_col + 1), UNSEEN, dtype=np.int64)
    rank_by_offset[reach_row - radius: reach_row + radius + 1,
                   reach_col - radius: reach_col + radius + 1] = rank.reshape(d_row.shape)
    pair = world.embodied[:, None] & world.embodied[None, :] & ~np.eye(world.num_agents, dtype=bool)
    outside = np.zeros((5, 2 * radius + 1, 2 * radius + 1), dtype=np.uint8)
    outside[TERRAIN] = OUTSIDE
    source = world.inbox_source
    tables = {
        "rank_by_offset": rank_by_offset,
        # rank_by_offset flattened, indexed by the difference of two agents' codes
        # (row * offset_span + col), shifted so that offset (0, 0) sits at the centre.
        "rank_by_code": _rolled(rank_by_offset.ravel(),
                                reach_row * (2 * reach_col + 1) + reach_col),
        "offset_span": 2 * reach_col + 1,
        "reach": np.array([reach_row, reach_col]),
        "pair": pair,
        "by_rank": np.argsort(rank, kind="stable"),
        "neighbour_row": radius + MOVE_ROW[1:],
        "neighbour_col": radius + MOVE_COL[1:],
        # Slices where the agents allow: they index without a gather.
        "embodied": _selector(np.flatnonzero(world.embodied)),
        "disembodied": _selector(np.flatnonzero(~world.embodied)),
        "outside_view": outside,
        "self_index": np.arange(world.num_agents)[None, :, None],
        "sender": np.maximum(source, 0),
        "heard": (source >= 0)[None, :, :, None],
        "record_constant": np.stack([np.ones(world.num_agents, np.int32),
                                     np.arange(world.num_agents, dtype=np.int32),
                                     world.agent_role.astype(np.int32)], axis=-1),
    }
    world.info["_tables"] = tables
    return tables


def _rolled(table: np.ndarray, centre: int) -> np.ndarray:
    """``table`` rotated so that a signed index ``k`` reads ``table[centre + k]``."""
    return np.roll(table, -centre)


def _selector(index: np.ndarray):
    """``index`` as a slice when it is an arithmetic progression, else the index array."""
    if len(index) == 0:
        return slice(0, 0)
    step = int(index[1] - index[0]) if len(index) > 1 else 1
    if step > 0 and (index == index[0] + step * np.arange(len(index))).all():
        return slice(int(index[0]), int(index[-1]) + 1, step)
    return index


def observe(world: World, state: WorldState) -> dict[str, np.ndarray]:
    """Observation dict of every agent: arrays ``[B, N, ...]`` (see module doc)."""
    compiled = kernels.compiled()
    if compiled is not None:
        return _observe_compiled(world, state, compiled)
    config = world.config
    tables = observation_tables(world)
    batch, agents = state.row.shape
    view = gather_views(world, state)
    others_index, present = _nearest_others(world, state, tables)
    others = _describe_others(world, state, others_index, present, tables)
    missing = config.max_others - others.shape[2]
    if missing:
        others = np.concatenate([others, np.zeros((batch, agents, missing, others.shape[3]),
                                                  np.int32)], axis=2)
        present = np.concatenate([present, np.zeros((batch, agents, missing), bool)], axis=2)
    inbox = _inbox(world, state, others, present, tables)

    active = world.embodied[None, :] & ~state.finished
    if world.opening_steps:
        active = active & (state.step_count >= world.opening_steps)[:, None]
    action_mask = np.ones((batch, agents, NUM_MOVES), dtype=np.int8)
    if config.view_radius >= 1:
        neighbour = view[:, :, TERRAIN, tables["neighbour_row"], tables["neighbour_col"]]
    else:
        neighbour = _neighbour_terrain(world, state)
    action_mask[:, :, 1:] = (neighbour == FREE) & active[:, :, None]

    position = np.empty((batch, agents, 2), dtype=np.int32)
    position[..., 0] = state.row
    position[..., 1] = state.col
    return {
        "view": view,
        "others": others,
        "inbox": inbox,
        "goal": state.goal * world.goal_visible,
        "goal_mask": np.repeat(world.goal_visible[None], batch, axis=0),
        "position": position,
        "action_mask": action_mask,
    }


def _compiled_arguments(world: World) -> tuple:
    """The world's constants as ``observe_into`` takes them, and the trailing shapes of the
    seven outputs; made once per world."""
    made = world.info.get("_compiled_observe")
    if made is not None:
        return made
    config = world.config
    tables = observation_tables(world)
    by_rank, side = tables["by_rank"], world.view_side
    source = world.inbox_source
    constants = (
        *kernels.agent_constants(world),
        np.ascontiguousarray(world.goal_visible, dtype=np.int8),
        (by_rank // side).astype(np.int64),  # the window's cells in rank order
        (by_rank % side).astype(np.int64),
        np.ascontiguousarray(np.maximum(source, 0), dtype=np.int64),
        np.ascontiguousarray(source >= 0, dtype=np.bool_),
        np.argsort(by_rank).reshape(side, side).astype(np.int64),  # each cell's rank
        config.view_radius, config.hearing_radius, world.opening_steps,
        min(config.max_others, world.num_agents - 1), PAIRWISE_LIMIT)
    length, goal = config.message_length, world.goal_size
    shapes = ((5, side, side), (config.max_others, 6 + length), (world.inbox_size, length),
              (goal,), (goal,), (2,), (NUM_MOVES,))
    made = world.info["_compiled_observe"] = (constants, shapes)
    return made


_OUTPUT_DTYPES = (np.uint8, np.int32, np.int32, np.int32, np.int8, np.int32, np.int8)


def _observe_compiled(world: World, state: WorldState, compiled) -> dict[str, np.ndarray]:
    """``observe`` through the compiled kernel: the same keys, dtypes and bytes."""
    constants, shapes = _compiled_arguments(world)
    lead = state.row.shape
    outputs = [np.empty(lead + shape, dtype)
               for shape, dtype in zip(shapes, _OUTPUT_DTYPES)]
    compiled.observe_into(np.ascontiguousarray(state.cells), state.occupant, state.row,
                          state.col, state.finished, state.step_count, state.last_move,
                          state.last_message, state.goal, *constants, *outputs)
    return dict(zip(OUTPUT_KEYS, outputs))


OUTPUT_KEYS = ("view", "others", "inbox", "goal", "goal_mask", "position", "action_mask")


def gather_views(world: World, state: WorldState) -> np.ndarray:
    """The ``view`` observation uint8 ``[B, N, 5, 2r+1, 2r+1]`` of every agent."""
    tables = observation_tables(world)
    side = world.view_side
    if len(world.info["embodied_index"]) == world.num_agents:
        return view_windows(state.cells, state.row, state.col, side)
    body = tables["embodied"]
    view = np.empty((*state.row.shape, 5, side, side), dtype=np.uint8)
    view[:, tables["disembodied"]] = tables["outside_view"]
    view[:, body] = view_windows(state.cells, state.row[:, body], state.col[:, body], side)
    return view


def _nearest_others(world, state, tables):
    """Indices ``[B, N, min(M, N-1)]`` of the nearest visible agents, and which slots are filled."""
    batch, agents = state.row.shape
    # Slots beyond N - 1 are always empty: observe() pads them instead of searching them.
    limit = min(world.config.max_others, agents - 1)
    radius = world.config.view_radius
    self_index = tables["self_index"]
    if agents <= PAIRWISE_LIMIT:
        # Embodied agents are always on the grid, so the static pair mask covers "on grid".
        # An agent's code row * span + col makes every offset between two agents one index.
        code = state.row * tables["offset_span"] + state.col
        looked_up = tables["rank_by_code"][code[:, None, :] - code[:, :, None]]
        rank = np.where(tables["pair"], looked_up, UNSEEN)
        env = np.arange(batch)[:, None, None]
        if limit == 1:
            # The first minimum is what a stable sort puts first.
            order = rank.argmin(axis=-1)[..., None]
        else:
            order = np.argsort(rank, axis=-1, kind="stable")[..., :limit]
        present = rank[env, self_index, order] != UNSEEN
    else:
        side = 2 * radius + 1
        row, col = np.maximum(state.row, 0), np.maximum(state.col, 0)
        windows = window_view(state.occupant, side)[np.arange(batch)[:, None], row, col]
        ranked = windows.reshape(batch, agents, -1)[..., tables["by_rank"]]
        visible = (ranked >= 0) & (ranked != self_index) & (state.row >= 0)[:, :, None]
        slots = np.argsort(~visible, axis=-1, kind="stable")[..., :limit]
        env = np.arange(batch)[:, None, None]
        order = ranked[env, self_index, slots]
        present = visible[env, self_index, slots]
    return np.where(present, order, 0).astype(np.int64, copy=False), present


# From this many windows on, gathering whole window rows (one void item per row) beats
# gathering bytes; below it the void dtype's set-up costs more than it saves.
ROW_GATHER_FROM = 64


def view_windows(cells: np.ndarray, row: np.ndarray, col: np.ndarray, side: int) -> np.ndarray:
    """The side x side windows of every plane of ``cells [B, P, H, W]`` whose top-left corners
    are ``(row, col) [B, K]``: uint8 ``[B, K, P, side, side]``."""
    batch, planes, height, width = cells.shape
    if row.size < ROW_GATHER_FROM or not cells.flags.c_contiguous:
        return window_view(cells, side)[np.arange(batch)[:, None], :, row, col]
    # Axis 0 of `rows` is a window's first byte in the flat grid; each item is one window
    # row of `side` bytes, so a window is P x side items instead of P x side x side bytes.
    span = (planes - 1) * height * width + (side - 1) * width + side
    rows = np.ndarray((cells.size - span + 1, planes, side), np.dtype((np.void, side)), cells,
                      0, (1, height * width, width))
    start = np.arange(batch)[:, None] * (planes * height * width) + row * width + col
    return rows[start].view(np.uint8).reshape(*row.shape, planes, side, side)


def window_view(grid: np.ndarray, side: int) -> np.ndarray:
    """Every side x side window of the last two axes, without copying:
    ``[..., H - side + 1, W - side + 1, side, side]``, indexed by the top-left corner."""
    *lead, height, width = grid.shape
    shape = (*lead, height - side + 1, width - side + 1, side, side)
    strides = (*grid.strides, *grid.strides[-2:])
    if grid.flags.c_contiguous:
        return np.ndarray(shape, grid.dtype, buffer=grid, strides=strides)
    return np.lib.stride_tricks.as_strided(grid, shape, strides, writeable=False)


def _describe_others(world, state, index, present, tables):
    """The ``others`` array ``[B, N, M, 6 + L]`` for chosen agent indices."""
    batch, agents = state.row.shape
    length = world.config.message_length
    # One record per agent, gathered once per slot: fewer, larger copies.
    record = np.empty((batch, agents, 6 + length), dtype=np.int32)
    record[..., [0, 3, 4]] = tables["record_constant"]
    record[..., 1] = state.row
    record[..., 2] = state.col
    record[..., 5] = state.last_move + 1
    record[..., 6:] = state.last_message + 1
    if batch == 1:
        others = record[0, index[0]][None]
    else:
        others = record[np.arange(batch)[:, None, None], index]
    others[..., 1] -= state.row[:, :, None]
    others[..., 2] -= state.col[:, :, None]
    others *= present[..., None]
    return others


def _inbox(world, state, others, present, tables):
    """Tokens+1 heard from each sender: ``[B, N, S, L]``."""
    hearing = world.config.hearing_radius
    if hearing < 0:
        heard = state.last_message[:, tables["sender"]] + 1
        return np.where(tables["heard"], heard, 0).astype(np.int32)
    near = present & (np.maximum(np.abs(others[..., 1]), np.abs(others[..., 2])) <= hearing)
    return np.where(near[..., None], others[..., 6:], 0).astype(np.int32)


def _neighbour_terrain(world, state):
    """Terrain of the four neighbouring cells ``[B, N, 4]`` (used when the view is 1x1)."""
    batch = state.row.shape[0]
    pad = world.pad
    rows = np.clip(state.row[:, :, None] + MOVE_ROW[1:] + pad, 0, world.padded_shape[0] - 1)
    cols = np.clip(state.col[:, :, None] + MOVE_COL[1:] + pad, 0, world.padded_shape[1] - 1)
    terrain = state.cells[np.arange(batch)[:, None, None], TERRAIN, rows, cols]
    return np.where((state.row >= 0)[:, :, None], terrain, OUTSIDE)
