"""Scripted policies: experts, data sources and test fixtures for every task.

Every policy follows the socius interface::

    state = policy.initial_state(batch)
    action, state = policy.act(observation, state, done, generator, privileged=None)

``observation`` is the batched dict ``[B, N, ...]`` of the vector facade (numpy
arrays or CPU tensors), ``done`` is bool ``[B]`` (environments that have just
been reset), and ``action`` is int64 ``[B, N, 1 + L]``. Policy state is explicit
and immutable (a dict of arrays); nothing is hidden in the policy object.

``privileged`` is a :class:`Privileged` pair ``(world, state)``: the hidden
world state. Only scripted experts read it (the cycle order, a masked goal).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from socius.envs.goal_cycle_v0 import tile_cells
from socius.envs.layouts import shortest_steps
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.envs.state import AGENT, COLOUR, FREE, SHAPE, TERRAIN, TILE, WALL, WorldState
from socius.envs.world import World

UNREACHABLE = np.iinfo(np.int32).max


class Privileged(NamedTuple):
    """Hidden information a scripted expert may read."""

    world: World
    """The static world."""
    state: WorldState
    """The batched world state the observation was made from."""


def as_numpy(observation: dict[str, Any]) -> dict[str, np.ndarray]:
    """The observation dict with every value as a numpy array (tensors are not copied)."""
    return {k: v.numpy() if hasattr(v, "numpy") else np.asarray(v) for k, v in observation.items()}


def distance_maps(walls: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Shortest-path steps to ``target[K, 2]`` on ``walls[K, H, W]``: int32 ``[K, H, W]``."""
    start = np.zeros(walls.shape, dtype=bool)
    start[np.arange(walls.shape[0]), target[:, 0], target[:, 1]] = True
    # A target on a wall is reached from nowhere: every cell stays UNREACHABLE.
    start &= np.logical_not(walls)
    return shortest_steps(walls, start, unreachable=UNREACHABLE, dtype=np.int32)


def downhill_moves(distance: np.ndarray, position: np.ndarray) -> np.ndarray:
    """The move (1-4) to the neighbour closest to the target, 0 at it or if unreachable.

    ``distance`` is ``[K, H, W]`` and ``position`` ``[K, 2]``; returns int64 ``[K]``.
    """
    count, height, width = distance.shape
    index = np.arange(count)
    here = distance[index, position[:, 0], position[:, 1]]
    rows = np.clip(position[:, :1] + MOVE_ROW[1:], 0, height - 1)
    cols = np.clip(position[:, 1:] + MOVE_COL[1:], 0, width - 1)
    around = distance[index[:, None], rows, cols]
    best = around.argmin(axis=1)
    better = around[index, best] < here
    return np.where(better & (here != UNREACHABLE) & (here > 0), best + 1, 0).astype(np.int64)


def grid_walls(world: World, state: WorldState) -> np.ndarray:
    """Unpadded bool walls ``[B, H, W]`` from the world state."""
    pad = world.pad
    terrain = state.cells[:, TERRAIN, pad:pad + world.height, pad:pad + world.width]
    return terrain == WALL


class RandomPolicy:
    """Uniformly random allowed moves and uniformly random tokens."""

    def __init__(self, vocab_size: int, message_length: int):
        self.vocab_size = vocab_size
        self.message_length = message_length

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        """No memory."""
        return {}

    def act(self, observation, state, done, generator: np.random.Generator, privileged=None):
        """Sample moves among those ``action_mask`` allows, and tokens uniformly."""
        mask = as_numpy(observation)["action_mask"].astype(bool)
        scores = np.where(mask, generator.random(mask.shape), -1.0)
        moves = scores.argmax(axis=-1)
        tokens = (generator.random((*moves.shape, self.message_length))
                  * max(self.vocab_size, 1)).astype(np.int64)
        return np.concatenate([moves[..., None], tokens], axis=-1), state


class _PathFollower:
    """Walks the shortest path to a target cell; subclasses only choose the target."""

    def __init__(self, message_length: int = 0):
        self.message_length = message_length

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        """Cached distance maps, keyed by the episode and target they were computed for."""
        return {"distance": None, "key": None}

    def target(self, privileged: Privileged) -> np.ndarray:
        """Target cell ``[B, N, 2]`` of every agent."""
        raise NotImplementedError

    def avoid(self, privileged: Privileged) -> np.ndarray:
        """Cells ``[B, H, W]`` to route around besides walls (none by default)."""
        return grid_walls(*privileged)

    def avoid_key(self, privileged: Privileged) -> np.ndarray:
        """What ``avoid`` depends on besides the episode, ``[B, K]`` (nothing by default):
        the cached distance maps are recomputed when it changes."""
        return np.zeros((privileged.state.row.shape[0], 0), dtype=np.int64)

    def act(self, observation, state, done, generator, privileged: Privileged | None = None):
        """Step downhill on the distance map of each agent's target."""
        if privileged is None:
            raise ValueError(f"{type(self).__name__} needs the privileged world state")
        return self.walk(state, privileged, self.target(privileged), generator)

    def walk(self, state, privileged: Privileged, target: np.ndarray, generator=None):
        """Actions ``[B, N, 1 + L]`` one step along the shortest path to ``target [B, N, 2]``,
        and the path cache (``state``'s ``distance`` and ``key``) for the next call."""
        world, world_state = privileged
        batch, agents = world_state.row.shape
        extra = self.avoid_key(privileged)
        key = np.concatenate([world_state.key.astype(np.int64)[:, None, None]
                              .repeat(agents, axis=1), target,
                              np.repeat(extra[:, None], agents, axis=1)], axis=-1)
        distance = state["distance"]
        stale = (np.ones((batch, agents), bool) if distance is None
                 else (state["key"] != key).any(axis=-1))
        if stale.any():
            distance = (np.empty((batch, agents, world.height, world.width), np.int32)
                        if distance is None else distance.copy())
            env, agent = np.nonzero(stale)
            blocked = self.avoid(privileged)[env]
            rows = np.arange(len(env))
            blocked[rows, target[env, agent, 0], target[env, agent, 1]] = False
            # The agent may stand on an avoided cell (the tile it just entered).
            on_grid = world_state.row[env, agent] >= 0
            blocked[rows[on_grid], world_state.row[env, agent][on_grid],
                    world_state.col[env, agent][on_grid]] = False
            distance[env, agent] = distance_maps(blocked, target[env, agent])
        position = np.stack([world_state.row, world_state.col], axis=-1).reshape(-1, 2)
        moves = downhill_moves(distance.reshape(-1, world.height, world.width),
                               np.maximum(position, 0)).reshape(batch, agents)
        moves = np.where(world.embodied[None, :], moves, 0)
        tokens = np.zeros((batch, agents, self.message_length), dtype=np.int64)
        action = np.concatenate([moves[..., None], tokens], axis=-1)
        return action, {"distance": distance, "key": key}


class GoalSeeker(_PathFollower):
    """BFS oracle for ``maze_v0``: the shortest path to each agent's own goal cell."""

    def target(self, privileged: Privileged) -> np.ndarray:
        """The goal cell, read from the state (so masked goals such as the t-maze's work)."""
        return privileged.state.goal[..., :2].astype(np.int64)


class CycleExpert(_PathFollower):
    """Expert for ``goal_cycle_v0``: knows the hidden order and walks to the next tile,
    around the other tiles (entering one would cost the penalty) and, with
    ``avoid_agents``, around the other agents (which block cells), so that experts
    sharing a cycle do not queue behind one another or meet head-on in a corridor.

    With ``unstick``, an agent whose move was blocked on its previous step waits with
    probability 1/2 (from the act's generator): agents seated by different policies do
    not know each other's plans, and only chance breaks their standoffs over a cell."""

    def __init__(self, message_length: int = 0, avoid_agents: bool = True,
                 unstick: bool = False):
        super().__init__(message_length)
        self.avoid_agents = avoid_agents
        self.unstick = unstick

    def avoid(self, privileged: Privileged) -> np.ndarray:
        """Walls, every goal tile and (with ``avoid_agents``) every agent's cell."""
        world, state = privileged
        pad = world.pad
        inside = (slice(None), slice(pad, pad + world.height), slice(pad, pad + world.width))
        blocked = grid_walls(world, state) | (state.cells[:, TILE][inside] > 0)
        if self.avoid_agents:
            blocked |= state.cells[:, AGENT][inside] > 0
        return blocked

    def avoid_key(self, privileged: Privileged) -> np.ndarray:
        """Every agent's cell, when agents are avoided."""
        state = privileged.state
        if not self.avoid_agents:
            return super().avoid_key(privileged)
        return np.concatenate([state.row, state.col], axis=1).astype(np.int64)

    def walk(self, state, privileged: Privileged, target: np.ndarray, generator=None):
        """Walk to the target; with ``avoid_agents``, of two agents heading for the same
        free cell only the lower-numbered one moves (both would be blocked forever)."""
        if self.unstick and generator is None:
            raise ValueError("CycleExpert(unstick=True) needs the act's generator")
        tried, before = state.get("tried"), state.get("before")
        action, state = super().walk(state, privileged, target)
        world_state = privileged.state
        moves = action[..., 0]
        if self.avoid_agents:
            cell = ((world_state.row + MOVE_ROW[moves]) * privileged.world.width
                    + world_state.col + MOVE_COL[moves])
            moving = moves > 0
            clash = (cell[:, :, None] == cell[:, None, :]) & moving[:, :, None] & moving[:, None]
            yields = np.tril(clash, k=-1).any(axis=-1)  # a lower-numbered agent wants it too
            moves = np.where(yields, 0, moves)
        if self.unstick:
            here = np.stack([world_state.row, world_state.col], axis=-1)
            if tried is not None:
                blocked = (tried > 0) & (here == before).all(axis=-1)
                moves = np.where(blocked & (generator.random(blocked.shape) < 0.5), 0, moves)
            state = {**state, "tried": moves, "before": here}
        action = action.copy()
        action[..., 0] = moves
        return action, state

    def target(self, privileged: Privileged) -> np.ndarray:
        """Cell of each agent's next tile in the cycle."""
        task = privileged.state.task
        return tile_cells(task, np.take_along_axis(task["order"], task["progress"], axis=1))


class ReferentialExpert:
    """A fixed compositional code for ``referential_v0`` (speakers and listeners).

    Speakers say ``(colour, n_colours + shape)``; listeners decode their inbox,
    find the matching object in their view and walk to it. Needs L >= 2 and
    V >= n_colours + n_shapes. Uses observations only, no privileged state.
    """

    def __init__(self, world: World):
        config = world.config
        if config.message_length < 2 or config.vocab_size < config.n_colours + config.n_shapes:
            raise ValueError("ReferentialExpert needs message_length >= 2 and vocab_size >= "
                             f"n_colours + n_shapes = {config.n_colours + config.n_shapes}")
        self.world = world

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        """No memory."""
        return {}

    def act(self, observation, state, done, generator, privileged=None):
        """Speakers name the target; listeners walk to the object they were told about."""
        config = self.world.config
        obs = as_numpy(observation)
        speaker = self.world.agent_role == 0
        batch, agents = obs["goal"].shape[:2]
        action = np.zeros((batch, agents, 1 + config.message_length), dtype=np.int64)
        action[:, speaker, 1] = obs["goal"][:, speaker, 0]
        action[:, speaker, 2] = config.n_colours + obs["goal"][:, speaker, 1]
        heard = obs["inbox"][:, ~speaker, 0, :2].astype(np.int64) - 1  # [B, G, 2]
        colour, shape = heard[..., 0, None, None], heard[..., 1, None, None] - config.n_colours
        view = obs["view"][:, ~speaker].astype(np.int64)  # [B, G, 5, S, S]
        match = (view[:, :, COLOUR] - 1 == colour) & (view[:, :, SHAPE] - 1 == shape)
        # Stepping on any object ends the episode, so other objects count as walls.
        blocked = (view[:, :, TERRAIN] != FREE) | ((view[:, :, COLOUR] > 0) & ~match)
        # Other listeners block the way too; route around them.
        radius = config.view_radius
        others = view[:, :, AGENT] > 0
        others[..., radius, radius] = False
        blocked |= others
        action[:, ~speaker, 0] = _path_in_view(match, blocked, radius)
        return action, state


def _path_in_view(match: np.ndarray, blocked: np.ndarray, radius: int) -> np.ndarray:
    """First move of a shortest path, inside egocentric windows ``[..., S, S]``, from the
    centre to the first matching cell; 0 where nothing matches."""
    lead, side = match.shape[:-2], match.shape[-1]
    flat = match.reshape(-1, side * side)
    target = np.stack(np.divmod(flat.argmax(axis=-1), side), axis=-1)
    distance = distance_maps(blocked.reshape(-1, side, side), target)
    centre = np.full((len(flat), 2), radius)
    moves = downhill_moves(distance, centre)
    return np.where(flat.any(axis=-1), moves, 0).reshape(lead)


class NoisyPolicy:
    """Acts like ``policy``, but each agent takes ``fallback``'s action with probability
    ``noise`` (e.g. a BFS expert that sometimes walks at random, for offline datasets)."""

    def __init__(self, policy, fallback, noise: float):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a probability in [0, 1]; got {noise!r}")
        self.policy, self.fallback, self.noise = policy, fallback, noise

    def initial_state(self, batch: int) -> dict:
        """Both policies' states."""
        return {"policy": self.policy.initial_state(batch),
                "fallback": self.fallback.initial_state(batch)}

    def act(self, observation, state, done, generator, privileged=None):
        """Mix the two policies' actions per agent."""
        chosen, policy_state = self.policy.act(observation, state["policy"], done, generator,
                                               privileged)
        other, fallback_state = self.fallback.act(observation, state["fallback"], done,
                                                  generator, privileged)
        swap = generator.random(chosen.shape[:2]) < self.noise
        action = np.where(swap[..., None], other, chosen)
        return action, {"policy": policy_state, "fallback": fallback_state}


class ExpertFollower:
    """Trails the nearest agent in view, from observations alone: it steps towards the
    cell that agent just left (so it enters the tiles the agent entered, in its order)
    and onto no other goal tile; with nobody in view it walks at random, off tiles.

    A calibration for social learning in ``goal_cycle_v0``: what following alone earns.
    """

    def __init__(self, message_length: int = 0):
        self.message_length = message_length

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        """No memory."""
        return {}

    def act(self, observation, state, done, generator: np.random.Generator, privileged=None):
        """Moves ``[B, N]`` towards each agent's nearest neighbour's previous cell."""
        obs = as_numpy(observation)
        nearest = obs["others"][..., 0, :].astype(np.int64)  # [B, N, 6+L]
        present, said = nearest[..., 0] > 0, nearest[..., 5]
        last = np.clip(said - 1, 0, len(MOVE_ROW) - 1) * (said > 0)
        row, col = nearest[..., 1] - MOVE_ROW[last], nearest[..., 2] - MOVE_COL[last]
        arrived = (row == 0) & (col == 0)  # on its previous cell: close up on it
        row, col = np.where(arrived, nearest[..., 1], row), np.where(arrived, nearest[..., 2], col)
        distance = (np.abs(row[..., None] - MOVE_ROW) + np.abs(col[..., None] - MOVE_COL))
        radius = obs["view"].shape[-1] // 2
        tile_ahead = obs["view"][..., TILE, radius + MOVE_ROW, radius + MOVE_COL] > 0
        its_cell = (MOVE_ROW == row[..., None]) & (MOVE_COL == col[..., None]) & ~arrived[
            ..., None]
        score = np.where(present[..., None], -distance.astype(np.float64),
                         generator.random(distance.shape))
        score = score - 1e6 * (tile_ahead & ~its_cell) - 1e9 * (obs["action_mask"] == 0)
        moves = score.argmax(axis=-1)
        tokens = np.zeros((*moves.shape, self.message_length), dtype=np.int64)
        return np.concatenate([moves[..., None], tokens], axis=-1), state


class SeatedPolicy:
    """One policy in agent ``seat``'s place and another for every other agent."""

    def __init__(self, seat_policy, others_policy, seat: int = 0):
        self.seat_policy, self.others_policy, self.seat = seat_policy, others_policy, seat

    def initial_state(self, batch: int) -> dict:
        """Both policies' states."""
        return {"seat": self.seat_policy.initial_state(batch),
                "others": self.others_policy.initial_state(batch)}

    def act(self, observation, state, done, generator, privileged=None):
        """The others' actions with the seat's action written over them."""
        action, others_state = self.others_policy.act(observation, state["others"], done,
                                                      generator, privileged)
        chosen, seat_state = self.seat_policy.act(observation, state["seat"], done,
                                                  generator, privileged)
        action = np.array(action, copy=True)
        action[:, self.seat] = chosen[:, self.seat]
        return action, {"seat": seat_state, "others": others_state}
