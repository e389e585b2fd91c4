"""The pure batched core: ``reset`` and ``step`` over B environments of N agents.

``step(world, state, actions) -> (state, StepResult)`` never mutates its inputs
and has no Python loop over agents or environments. Finished environments are
reset inside the same step (unless ``auto_reset=False``); their last
observation is returned in ``StepResult.final_observation``.
"""

from __future__ import annotations

import numpy as np

from socius.envs import allocator, kernels, random
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.envs.observe import PAIRWISE_LIMIT, observe
from socius.envs.state import (
    AGENT,
    FREE,
    TERRAIN,
    StepResult,
    WorldState,
    arrays_of,
    built,
    owned,
    put,
    replace,
    take,
)
from socius.envs.validate import check_actions
from socius.envs.world import EpisodeStart, World


def reset(world: World, seed: int | np.ndarray, num_envs: int,
          env_index: np.ndarray | None = None,
          episode: int = 0) -> tuple[WorldState, dict[str, np.ndarray]]:
    """Start episode ``episode`` of ``num_envs`` environments: the state and its observation
    (``seed`` is one seed for all, or one per environment)."""
    allocator.keep_freed_memory()  # once per process: see allocator.py
    if env_index is None:
        env_index = np.arange(num_envs, dtype=np.int64)
    env_index = np.asarray(env_index, dtype=np.int64)
    seeds = np.broadcast_to(np.asarray(seed, dtype=np.int64), (num_envs,)).copy()
    episodes = np.full(num_envs, episode, dtype=np.int64)
    state = _start_episodes(world, seeds, env_index, episodes)
    return state, observe(world, state)


def start_goals(world: World, state: WorldState) -> tuple[np.ndarray, np.ndarray]:
    """The achieved and desired goals int32 ``[B, N, Ga]`` the task reports before anyone
    moves (e.g. a maze agent has already achieved its start cell)."""
    still = np.zeros(state.row.shape, dtype=bool)
    outcome = world.task.resolve(world, state, still)
    return outcome.achieved_goal.astype(np.int32), outcome.desired_goal.astype(np.int32)


def step(world: World, state: WorldState, actions: np.ndarray,
         auto_reset: bool = True) -> tuple[WorldState, StepResult]:
    """Apply ``actions`` (int ``[B, N, 1 + L]``: move, then tokens) to every environment."""
    check_actions(world, actions, state.batch_size)
    compiled = kernels.compiled()
    if compiled is not None:
        last_move, row, col, moved, occupant, cells = kernels.move_agents(
            world, state, actions, compiled)
    else:
        active = world.embodied[None, :] & ~state.finished
        if world.opening_steps:
            active = active & (state.step_count >= world.opening_steps)[:, None]
        moves = np.where(active, actions[..., 0], 0)
        row, col, moved, occupant, cells = _apply_moves(world, state, moves)
        last_move = moves.astype(np.int8)
    message = _deliver(world, state, actions[..., 1:])
    moved_state = replace(state, row=row, col=col, occupant=occupant, cells=cells,
                          last_move=last_move, last_message=message)
    outcome = world.task.resolve(world, moved_state, moved)
    step_count = state.step_count + 1
    terminated = outcome.terminated
    truncated = (step_count >= world.config.max_cycles) & ~terminated
    new_state = replace(moved_state, cells=outcome.cells, finished=outcome.finished,
                        task=outcome.task, step_count=step_count)
    done = terminated | truncated
    final_index = np.flatnonzero(done) if auto_reset else np.zeros(0, dtype=np.int64)
    final_observation = ended = None
    if final_index.size:
        ended = take(new_state, final_index)
        final_observation = observe(world, ended)
        # The caller keeps the old state, and the result exposes message and finished.
        protected = [*arrays_of(state), message, outcome.finished]
        new_state = _restart_rows(world, new_state, final_index, protected, compiled)
    result = built(StepResult, dict(
        observation=observe(world, new_state),
        reward=outcome.reward,
        terminated=terminated,
        truncated=truncated,
        goal_achieved=outcome.goal_achieved,
        achieved_goal=outcome.achieved_goal,
        desired_goal=outcome.desired_goal,
        message=message,
        finished=outcome.finished,
        final_index=final_index,
        final_observation=final_observation,
        final_state=ended,
        info={key: value.astype(np.float32) for key, value in (outcome.info or {}).items()},
    ))
    return new_state, result


# What every episode starts with, whoever draws it (_start_episodes or a restart in place).
_EPISODE_START = {"finished": False, "last_move": -1, "last_message": -1, "step_count": 0}
# The fields a restart in place writes (seed and env_index stay).
_RESTARTED = ("cells", "occupant", "row", "col", "goal", *_EPISODE_START, "episode", "key")


def _restart_rows(world: World, state: WorldState, index: np.ndarray,
                  protected: list[np.ndarray], compiled) -> WorldState:
    """``state`` with environments ``index`` starting their next episode: ``put`` of
    ``_start_episodes``, or the same bytes written in place where the task can."""
    if compiled is None or world.task.start_into is None:
        ended = take(state, index)
        fresh = _start_episodes(world, ended.seed, ended.env_index, ended.episode + 1)
        return put(state, index, fresh, protected=protected)
    # A fresh sub-batch and its put cost more than the episodes' own draws at large B:
    # write them straight into arrays nobody else holds.
    state = owned(state, _RESTARTED, protected)
    episode = state.episode[index] + 1
    keys = random.episode_keys(state.seed[index], state.env_index[index], episode)
    world.task.start_into(world, state, index, keys, compiled)
    _, role = kernels.agent_constants(world)
    compiled.place_agents_into(index, state.row, state.col, role, world.pad, state.occupant,
                               state.cells)
    for name, value in _EPISODE_START.items():
        getattr(state, name)[index] = value
    state.episode[index] = episode
    state.key[index] = keys
    return state


def _start_episodes(world: World, seeds: np.ndarray, env_index: np.ndarray,
                    episode: np.ndarray) -> WorldState:
    """Fresh episodes for the given (seed, environment, episode) triples."""
    keys = random.episode_keys(seeds, env_index, episode)
    start: EpisodeStart = world.task.reset(world, keys)
    count, agents = start.row.shape
    length = world.config.message_length
    occupant = _occupancy(world, start.row, start.col)
    cells = start.cells
    # The agent plane is 0 but under agents: clear it, then write only the agents' cells.
    cells[:, AGENT] = 0
    env, agent = np.nonzero(start.row >= 0)
    cells[env, AGENT, start.row[env, agent] + world.pad, start.col[env, agent] + world.pad] = (
        world.agent_role[agent] + 1)
    return WorldState(
        cells=cells,
        occupant=occupant,
        row=start.row.astype(np.int32),
        col=start.col.astype(np.int32),
        goal=start.goal.astype(np.int32),
        finished=np.full((count, agents), _EPISODE_START["finished"], dtype=bool),
        last_move=np.full((count, agents), _EPISODE_START["last_move"], dtype=np.int8),
        last_message=np.full((count, agents, length), _EPISODE_START["last_message"],
                             dtype=np.int32),
        step_count=np.full(count, _EPISODE_START["step_count"], dtype=np.int32),
        episode=episode.astype(np.int64),
        env_index=env_index.astype(np.int64),
        seed=seeds.astype(np.int64),
        key=keys,
        task=start.task,
    )


def _occupancy(world: World, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """The occupant grid ``[D, H+2r, W+2r]`` for agents at (row, col)."""
    count, agents = row.shape
    occupant = np.full((count, *world.padded_shape), -1, dtype=np.int16)  # [D, H+2r, W+2r]
    env, agent = np.nonzero(row >= 0)
    occupant[env, row[env, agent] + world.pad, col[env, agent] + world.pad] = agent
    return occupant


def _deliver(world: World, state: WorldState, tokens: np.ndarray) -> np.ndarray:
    """Tokens as heard after channel noise: int32 ``[B, N, L]``, -1 for a dropped token."""
    config = world.config
    tokens = tokens.astype(np.int32)
    if tokens.shape[-1] == 0 or (config.token_drop_prob == 0 and config.token_replace_prob == 0):
        return tokens
    keys = random.step_keys(state.key, state.step_count)
    draw = random.uniform(keys, random.PURPOSE_CHANNEL, (*tokens.shape[1:], 2))
    dropped = draw[..., 0] < config.token_drop_prob
    replaced = ~dropped & (draw[..., 0] < config.token_drop_prob + config.token_replace_prob)
    noise_token = np.minimum((draw[..., 1] * config.vocab_size).astype(np.int32),
                             config.vocab_size - 1)
    return np.where(dropped, -1, np.where(replaced, noise_token, tokens)).astype(np.int32)


def _apply_moves(world: World, state: WorldState, moves: np.ndarray):
    """Move agents that can: into free terrain, into a cell empty at the start, unopposed."""
    batch, agents = moves.shape
    pad = world.pad
    height, width = world.padded_shape
    grid = height * width
    planes = state.cells.shape[1]
    on_grid = state.row >= 0
    # Flat indices into the grids: one single-array gather costs much less than a
    # three-array fancy index, at B = 1 as at B = 4096. An agent off the grid reads an
    # arbitrary in-range cell, and on_grid keeps it from moving.
    here = (state.row + pad) * width + (state.col + pad)  # [B, N] into occupant
    if batch > 1:
        here = here + np.arange(batch)[:, None] * grid
    target = here + (MOVE_ROW * width + MOVE_COL)[moves]
    # In cells, environment e's planes start at e * planes * grid, not e * grid.
    plane_zero = (target // grid) * ((planes - 1) * grid) if batch > 1 else 0
    free = state.cells.reshape(-1)[target + plane_zero + TERRAIN * grid] == FREE
    empty = state.occupant.reshape(-1)[target] < 0
    wants = (moves != 0) & on_grid & free & empty
    if agents == 1:
        moved = wants
    elif agents <= PAIRWISE_LIMIT:
        # contested: another agent wants the same cell (the agent's own wish is in `wants`).
        not_self = world.info.get("not_self")
        if not_self is None:  # made once per world, and only where N is small
            not_self = world.info["not_self"] = ~np.eye(agents, dtype=bool)
        contested = ((target[:, :, None] == target[:, None, :]) & wants[:, None, :]
                     & not_self).any(axis=2)
        moved = wants & ~contested
    else:
        moved = wants & ~_contested_targets(target, wants)
    row = state.row + MOVE_ROW[moves] * moved
    col = state.col + MOVE_COL[moves] * moved
    occupant, cells = state.occupant, state.cells
    if moved.any():
        occupant, cells = occupant.copy(), cells.copy()
        agent_moved = np.nonzero(moved)[1]
        old, new = here[moved], target[moved]
        flat_occupant = occupant.reshape(-1)
        flat_occupant[old] = -1
        flat_occupant[new] = agent_moved
        shift = (old // grid) * ((planes - 1) * grid) + AGENT * grid
        flat_cells = cells.reshape(-1)
        flat_cells[old + shift] = 0
        flat_cells[new + shift] = world.agent_role[agent_moved] + 1
    row, col = row.astype(np.int32, copy=False), col.astype(np.int32, copy=False)
    return row, col, moved, occupant, cells


def _contested_targets(target: np.ndarray, wants: np.ndarray) -> np.ndarray:
    """Agents whose target cell (a flat index, distinct across environments) is wanted by
    another agent too (sort-based, O(N log N))."""
    wanted = target[wants]
    ordered = np.sort(wanted)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    contested = np.zeros_like(wants)
    if repeated.size:
        contested[wants] = np.isin(wanted, repeated)
    return contested


def relocate(world: World, state: WorldState, row: np.ndarray, col: np.ndarray,
             goal: np.ndarray | None = None) -> WorldState:
    """The state with agents placed at ``row, col [B, N]`` (and given ``goal [B, N, G]``),
    as evaluation harnesses need for chosen start/goal pairs."""
    row, col = np.asarray(row, dtype=np.int32), np.asarray(col, dtype=np.int32)
    if row.shape != state.row.shape or col.shape != state.col.shape:
        raise ValueError(f"row and col must have shape {state.row.shape}; "
                         f"got {row.shape} and {col.shape}")
    on_grid = world.embodied[None, :]
    env = np.arange(state.batch_size)[:, None]
    terrain = state.cells[env, TERRAIN, np.clip(row, 0, None) + world.pad,
                          np.clip(col, 0, None) + world.pad]
    if ((terrain != FREE) & on_grid).any() or ((row < 0) & on_grid).any():
        raise ValueError("row, col must put every embodied agent on a free cell")
    flat = np.where(on_grid, row * world.width + col, -1 - np.arange(world.num_agents))
    if (np.sort(flat, axis=1)[:, 1:] == np.sort(flat, axis=1)[:, :-1]).any():
        raise ValueError("row, col must put the agents of an environment on distinct cells")
    row, col = np.where(on_grid, row, -1), np.where(on_grid, col, -1)
    occupant = _occupancy(world, row, col)
    cells = state.cells.copy()
    cells[:, AGENT] = world.info["role_code"][occupant + 1]
    goal = state.goal if goal is None else np.asarray(goal, dtype=np.int32)
    if goal.shape != state.goal.shape:
        raise ValueError(f"goal must have shape {state.goal.shape}; got {goal.shape}")
    return replace(state, row=row, col=col, occupant=occupant, cells=cells, goal=goal,
                   finished=np.zeros_like(state.finished),
                   step_count=np.zeros_like(state.step_count))


def restart(world: World, state: WorldState, index: np.ndarray) -> WorldState:
    """The state with the environments ``index`` starting their next episode now (a
    partial reset, e.g. a collector cutting episodes short)."""
    index = np.asarray(index, dtype=np.int64)
    return _restart_rows(world, state, index, arrays_of(state), kernels.compiled())
