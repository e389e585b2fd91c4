"""Build every agent's observation from a world state, with no loop over agents.

Keys (all arrays lead with ``[B, N]``):

- ``view`` uint8 ``[2r+1, 2r+1, 5]``: egocentric window; channels are terrain
  (0 free, 1 wall, 2 outside), object colour+1, object shape+1, goal tile+1 and
  agent (0 none, else 1 + the role index of the agent standing there).
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
  a move is masked when the role cannot move, the agent has finished, or a wall
  is in the way).
"""

from __future__ import annotations

import numpy as np

from socius.envs.state import FREE, OUTSIDE, TERRAIN, WorldState
from socius.envs.world import World

# Agents beyond this many per world find their neighbours through the grid
# (O(N view^2)); below it a pairwise comparison (O(N^2)) is cheaper.
PAIRWISE_LIMIT = 16

MOVE_ROW = np.array([0, -1, 1, 0, 0], dtype=np.int32)
MOVE_COL = np.array([0, 0, 0, -1, 1], dtype=np.int32)


def observation_tables(world: World) -> dict[str, np.ndarray]:
    """Precomputed window offsets and neighbour orderings for ``world``."""
    tables = world.info.get("_tables")
    if tables is not None:
        return tables
    radius = world.config.view_radius
    _, padded_width = world.padded_shape
    d_row, d_col = np.meshgrid(np.arange(-radius, radius + 1), np.arange(-radius, radius + 1),
                               indexing="ij")
    chebyshev = np.maximum(np.abs(d_row), np.abs(d_col))
    manhattan = np.abs(d_row) + np.abs(d_col)
    raster = np.arange(d_row.size).reshape(d_row.shape)
    order_key = (chebyshev * 4 * (radius + 1) + manhattan) * d_row.size + raster
    rank = np.argsort(np.argsort(order_key.ravel(), kind="stable"), kind="stable")
    neighbour = [(radius + int(dr)) * (2 * radius + 1) + radius + int(dc)
                 for dr, dc in zip(MOVE_ROW[1:], MOVE_COL[1:])]
    tables = {
        "offsets": (d_row * padded_width + d_col).ravel().astype(np.int64),
        "rank": rank.reshape(d_row.shape).astype(np.int64),
        "by_rank": np.argsort(rank, kind="stable"),
        "neighbour": np.array(neighbour, dtype=np.int64),
        "role_code": np.concatenate([[0], world.agent_role + 1]).astype(np.uint8),
    }
    world.info["_tables"] = tables
    return tables


def observe(world: World, state: WorldState) -> dict[str, np.ndarray]:
    """Observation dict of every agent: arrays ``[B, N, ...]`` (see module doc)."""
    config = world.config
    tables = observation_tables(world)
    batch, agents = state.row.shape
    padded_height, padded_width = world.padded_shape
    radius = config.view_radius
    side = 2 * radius + 1
    embodied = world.embodied
    on_grid = state.row >= 0

    # Off-grid agents look from the padded corner, then see only OUTSIDE.
    view_row = np.where(on_grid, state.row + radius, radius)
    view_col = np.where(on_grid, state.col + radius, radius)
    env_base = np.arange(batch, dtype=np.int64)[:, None] * (padded_height * padded_width)
    centre = env_base + view_row * padded_width + view_col
    window = centre[:, :, None] + tables["offsets"]
    view = np.empty((batch, agents, side * side, 5), dtype=np.uint8)
    view[..., :4] = state.cells.reshape(-1, 4)[window]
    occupant_window = state.occupant.reshape(-1)[window]
    view[..., 4] = tables["role_code"][occupant_window + 1]
    if not embodied.all():
        off = ~on_grid
        view[off] = 0
        view[off, :, TERRAIN] = OUTSIDE

    others_index, present = _nearest_others(world, state, occupant_window, tables)
    others = _describe_others(world, state, others_index, present)
    inbox = _inbox(world, state, others, others_index, present)

    active = embodied[None, :] & ~state.finished
    action_mask = np.ones((batch, agents, 5), dtype=np.int8)
    if radius >= 1:
        neighbour_free = view[:, :, tables["neighbour"], TERRAIN] == FREE
    else:
        neighbour_free = _neighbour_terrain(world, state) == FREE
    action_mask[:, :, 1:] = neighbour_free & active[:, :, None]

    goal_visible = world.goal_visible[None]
    return {
        "view": view.reshape(batch, agents, side, side, 5),
        "others": others,
        "inbox": inbox,
        "goal": state.goal * goal_visible,
        "goal_mask": np.broadcast_to(goal_visible, state.goal.shape).copy(),
        "position": np.stack([state.row, state.col], axis=-1),
        "action_mask": action_mask,
    }


def _nearest_others(world, state, occupant_window, tables):
    """Indices ``[B, N, M]`` of the nearest visible agents, and whether each slot is filled."""
    batch, agents = state.row.shape
    limit = world.config.max_others
    radius = world.config.view_radius
    self_index = np.arange(agents)[None, :, None]
    if agents <= PAIRWISE_LIMIT:
        d_row = state.row[:, None, :] - state.row[:, :, None]
        d_col = state.col[:, None, :] - state.col[:, :, None]
        on_grid = state.row >= 0
        visible = ((np.abs(d_row) <= radius) & (np.abs(d_col) <= radius)
                   & on_grid[:, None, :] & on_grid[:, :, None] & (self_index != np.arange(agents)))
        rank = np.where(visible, tables["rank"][np.clip(d_row + radius, 0, 2 * radius),
                                                np.clip(d_col + radius, 0, 2 * radius)],
                        np.iinfo(np.int64).max)
        order = np.argsort(rank, axis=-1, kind="stable")[..., :limit]
        present = np.take_along_axis(visible, order, axis=-1)
    else:
        ranked = occupant_window[..., tables["by_rank"]]
        visible = (ranked >= 0) & (ranked != self_index) & (state.row >= 0)[:, :, None]
        slots = np.argsort(~visible, axis=-1, kind="stable")[..., :limit]
        order = np.take_along_axis(ranked, slots, axis=-1)
        present = np.take_along_axis(visible, slots, axis=-1)
    if order.shape[-1] < limit:
        fill = limit - order.shape[-1]
        order = np.concatenate([order, np.zeros((batch, agents, fill), order.dtype)], axis=-1)
        present = np.concatenate([present, np.zeros((batch, agents, fill), bool)], axis=-1)
    return np.where(present, order, 0).astype(np.int64), present


def _describe_others(world, state, index, present):
    """The ``others`` array ``[B, N, M, 6 + L]`` for chosen agent indices."""
    batch, agents = state.row.shape
    env = np.arange(batch)[:, None, None]
    length = world.config.message_length
    others = np.zeros((batch, agents, index.shape[-1], 6 + length), dtype=np.int32)
    others[..., 0] = present
    others[..., 1] = state.row[env, index] - state.row[:, :, None]
    others[..., 2] = state.col[env, index] - state.col[:, :, None]
    others[..., 3] = index
    others[..., 4] = world.agent_role[index]
    others[..., 5] = state.last_move[env, index] + 1
    others[..., 6:] = state.last_message[env, index] + 1
    others *= present[..., None]
    return others


def _inbox(world, state, others, index, present):
    """Tokens+1 heard from each sender: ``[B, N, S, L]``."""
    hearing = world.config.hearing_radius
    if hearing < 0:
        source = world.inbox_source
        heard = state.last_message[:, np.maximum(source, 0)] + 1
        return np.where((source >= 0)[None, :, :, None], heard, 0).astype(np.int32)
    near = present & (np.maximum(np.abs(others[..., 1]), np.abs(others[..., 2])) <= hearing)
    return np.where(near[..., None], others[..., 6:], 0).astype(np.int32)


def _neighbour_terrain(world, state):
    """Terrain of the four neighbouring cells ``[B, N, 4]`` (used when the view is 1x1)."""
    batch = state.row.shape[0]
    pad = world.pad
    rows = np.clip(state.row[:, :, None] + MOVE_ROW[1:] + pad, 0, world.padded_shape[0] - 1)
    cols = np.clip(state.col[:, :, None] + MOVE_COL[1:] + pad, 0, world.padded_shape[1] - 1)
    terrain = state.cells[np.arange(batch)[:, None, None], rows, cols, TERRAIN]
    return np.where((state.row >= 0)[:, :, None], terrain, OUTSIDE)
