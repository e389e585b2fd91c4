"""Scripted policies that bound ``goal_cycle_v1`` (the scripted-policy API of
:mod:`socius.agents.scripted`), so the task can be judged before anyone trains on it:

- :class:`StandStill`: never moves (earns 0 whatever the penalty);
- :class:`CycleV1Expert`: knows the hidden cycle and walks it;
- :class:`EliminationSearcher`: knows where the tiles are but not the cycle; it works the
  cycle out from its own rewards, the best a policy that ignores the others can do here;
- :class:`TrailFollower`: knows where the experts are but not the cycle; it trails the
  nearest expert, stepping into the cells it left, so it enters the tiles in the expert's
  order (what watching the others is worth).

Every policy routes around tiles it does not mean to enter and around other agents (agents
block cells), as :class:`~socius.agents.scripted.CycleExpert` does. The privileged task
state each one reads is named in its docstring.
"""

from __future__ import annotations

import numpy as np

from socius.agents.scripted import CycleExpert, Privileged
from socius.envs import goal_cycle_v0

NONE = -1


class StandStill:
    """Every agent stays where it is (the base of normalised returns under large penalties)."""

    def __init__(self, message_length: int = 0):
        self.message_length = message_length

    def initial_state(self, batch: int) -> dict:
        """No memory."""
        return {}

    def act(self, observation, state, done, generator, privileged=None):
        """Stay, silently: int64 ``[B, N, 1 + L]`` zeros."""
        batch, agents = np.asarray(observation["position"]).shape[:2]
        return np.zeros((batch, agents, 1 + self.message_length), dtype=np.int64), state


def nearest_tiles(privileged: Privileged, allowed: np.ndarray) -> np.ndarray:
    """Index ``[B, N]`` of the nearest tile (Manhattan, lowest index on ties) among
    ``allowed [B, N, K]``; -1 where none is allowed."""
    state = privileged.state
    task = state.task
    distance = (np.abs(state.row[:, :, None] - task["tile_row"][:, None, :])
                + np.abs(state.col[:, :, None] - task["tile_col"][:, None, :]))
    distance = np.where(allowed, distance, np.iinfo(np.int64).max)
    return np.where(allowed.any(axis=-1), distance.argmin(axis=-1), NONE)


def tile_cells(privileged: Privileged, tile: np.ndarray) -> np.ndarray:
    """Cells ``[B, N, 2]`` of tiles ``[B, N]`` (an agent's own cell where tile is -1)."""
    state = privileged.state
    cells = goal_cycle_v0.tile_cells(state.task, np.maximum(tile, 0))
    here = np.stack([state.row, state.col], axis=-1)
    return np.where((tile >= 0)[..., None], cells, here).astype(np.int64)


class CycleV1Expert(CycleExpert):
    """Expert for ``goal_cycle_v1``: its nearest tile first, then the successor of its last
    tile, forever. Reads ``successor``, ``last`` and the tile cells."""

    def __init__(self, message_length: int = 0):
        super().__init__(message_length, avoid_agents=True, unstick=True)

    def target(self, privileged: Privileged) -> np.ndarray:
        """Cell of each agent's next tile."""
        task = privileged.state.task
        last = task["last"]
        following = np.take_along_axis(task["successor"], np.maximum(last, 0), axis=1)
        everywhere = np.ones((*last.shape, task["successor"].shape[1]), dtype=bool)
        tile = np.where(last >= 0, following, nearest_tiles(privileged, everywhere))
        return tile_cells(privileged, tile)


class EliminationSearcher(CycleExpert):
    """Knows where the tiles are, not the cycle, and works it out from its own rewards.

    After entering tile ``a`` it heads for the known successor of ``a``, or else for the
    nearest tile that may still be it: not ``a``, not ruled out by an earlier miss from
    ``a``, not the known successor of another tile, and not closing a cycle shorter than
    K with the links already known. A paid entry fixes a link, a miss rules one out, and
    a tile with one candidate left is settled. Reads the tile cells and its own ``last``
    and ``last_paid`` (what its rewards told it); never ``successor`` or ``order``.
    """

    def __init__(self, message_length: int = 0):
        super().__init__(message_length, avoid_agents=True, unstick=True)

    def initial_state(self, batch: int) -> dict:
        """Path cache, plus the links learned this episode (made on the first act)."""
        return {**super().initial_state(batch), "links": None}

    def act(self, observation, state, done, generator, privileged: Privileged | None = None):
        """Update the links from the last entry, then walk to the tile to try next."""
        if privileged is None:
            raise ValueError("EliminationSearcher needs the privileged world state")
        world_state = privileged.state
        last = world_state.task["last"]
        links = state["links"]
        if links is None:
            batch, agents = last.shape
            tiles = world_state.task["tile_row"].shape[1]
            links = {"known": np.full((batch, agents, tiles), NONE, dtype=np.int64),
                     "ruled_out": np.zeros((batch, agents, tiles, tiles), dtype=bool),
                     "seen_last": np.full((batch, agents), NONE, dtype=np.int64),
                     "episode": episode_id(world_state)}
        known, ruled_out = links["known"].copy(), links["ruled_out"].copy()
        seen_last = links["seen_last"].copy()
        fresh = (links["episode"] != episode_id(world_state)).any(axis=-1)
        known[fresh], ruled_out[fresh], seen_last[fresh] = NONE, False, NONE
        self._learn(known, ruled_out, seen_last, last, world_state.task["last_paid"])
        target = tile_cells(privileged, self.choose(privileged, known, ruled_out, last))
        action, path_state = self.walk(state, privileged, target, generator)
        links = {"known": known, "ruled_out": ruled_out, "seen_last": last.copy(),
                 "episode": episode_id(world_state)}
        return action, {**path_state, "links": links}

    @staticmethod
    def _learn(known, ruled_out, seen_last, last, last_paid) -> None:
        """Write the link an entry from ``seen_last`` into ``last`` taught (in place)."""
        entered = (last != seen_last) & (seen_last >= 0) & (last >= 0)
        env, agent = np.nonzero(entered)
        source, target = seen_last[env, agent], last[env, agent]
        paid = last_paid[env, agent]
        known[env[paid], agent[paid], source[paid]] = target[paid]
        ruled_out[env[~paid], agent[~paid], source[~paid], target[~paid]] = True

    @staticmethod
    def candidates(known: np.ndarray, ruled_out: np.ndarray, tile: np.ndarray) -> np.ndarray:
        """bool ``[B, N, K]``: tiles that may still be the successor of ``tile [B, N]``."""
        tiles = known.shape[-1]
        every = np.arange(tiles)
        source = np.maximum(tile, 0)
        allowed = ~np.take_along_axis(ruled_out, source[..., None, None], axis=2)[..., 0, :]
        allowed &= every != source[..., None]
        chosen = known >= 0
        env, agent, _ = np.nonzero(chosen)
        taken = np.zeros_like(allowed)
        taken[env, agent, known[chosen]] = True
        allowed &= ~taken
        # A link source -> b closes a cycle of (links from b back to source) + 1 tiles;
        # only the cycle through all K tiles exists.
        current = np.broadcast_to(every, allowed.shape).copy()
        for _ in range(tiles - 1):
            allowed &= current != source[..., None]
            current = np.where(current >= 0,
                               np.take_along_axis(known, np.maximum(current, 0), axis=2), NONE)
        return allowed & (tile >= 0)[..., None]

    def choose(self, privileged, known, ruled_out, last) -> np.ndarray:
        """The tile ``[B, N]`` each agent tries next."""
        follow = np.take_along_axis(known, np.maximum(last, 0)[..., None], axis=2)[..., 0]
        allowed = self.candidates(known, ruled_out, last)
        single = allowed.sum(axis=-1) == 1
        follow = np.where((follow < 0) & single, allowed.argmax(axis=-1), follow)
        anywhere = np.where((last >= 0)[..., None], allowed, True)
        guess = nearest_tiles(privileged, anywhere)
        return np.where((last >= 0) & (follow >= 0), follow, guess)


class TrailFollower(EliminationSearcher):
    """Learns the cycle by watching the experts, never from its own mistakes.

    Whenever an expert enters a tile after another, the follower notes the link (experts
    only take true links). It enters its nearest tile first, then the noted successor of
    its last tile; while that link is still unseen, it trails the nearest expert (walks to
    the last cell the expert left) until the expert takes it. Reads the experts' cells
    and their ``last`` tiles (``experts``: agent indices) and the tile cells; never
    ``successor`` or ``order``, nor its own rewards.
    """

    def __init__(self, experts: tuple[int, ...], message_length: int = 0):
        super().__init__(message_length)
        if len(experts) == 0:
            raise ValueError("TrailFollower needs at least one expert to follow")
        self.experts = np.asarray(experts, dtype=np.int64)

    def act(self, observation, state, done, generator, privileged: Privileged | None = None):
        """Note the experts' links, then head for the next tile or trail an expert."""
        if privileged is None:
            raise ValueError("TrailFollower needs the privileged world state")
        world_state = privileged.state
        last = world_state.task["last"]
        batch, agents = last.shape
        tiles = world_state.task["tile_row"].shape[1]
        here = np.stack([world_state.row, world_state.col], axis=-1)  # [B, N, 2]
        watch = state["links"]
        if watch is None:
            watch = {"known": np.full((batch, tiles), NONE, dtype=np.int64),
                     "expert_last": last[:, self.experts], "left": here[:, self.experts],
                     "now": here[:, self.experts], "episode": episode_id(world_state)}
        fresh = (watch["episode"] != episode_id(world_state)).any(axis=-1)
        known = np.where(fresh[:, None], NONE, watch["known"])
        before = np.where(fresh[:, None], NONE, watch["expert_last"])
        after = last[:, self.experts]  # [B, E]
        took = (after != before) & (before >= 0) & (after >= 0)
        env, expert = np.nonzero(took)
        known[env, before[env, expert]] = after[env, expert]
        experts_now = here[:, self.experts]
        moved = (experts_now != watch["now"]).any(axis=-1) & ~fresh[:, None]
        left = np.where(moved[..., None], watch["now"], watch["left"])
        left = np.where(fresh[:, None, None], experts_now, left)
        # The trail of the nearest expert, for every agent of the batch.
        nearest = np.abs(here[:, :, None] - experts_now[:, None]).sum(axis=-1).argmin(axis=-1)
        trail = np.take_along_axis(left, nearest[..., None].repeat(2, axis=-1), axis=1)
        next_tile = np.take_along_axis(known, np.maximum(last, 0), axis=1)  # [B, N]
        first = nearest_tiles(privileged, np.ones((batch, agents, tiles), dtype=bool))
        tile = np.where(last < 0, first, next_tile)
        target = np.where((tile >= 0)[..., None], tile_cells(privileged, tile), trail)
        action, path_state = self.walk(state, privileged, target.astype(np.int64), generator)
        watch = {"known": known, "expert_last": after, "left": left, "now": experts_now,
                 "episode": episode_id(world_state)}
        return action, {**path_state, "links": watch}


def episode_id(state) -> np.ndarray:
    """int64 ``[B, 2]`` naming each world's running episode: a change means a new one."""
    return np.stack([state.episode.astype(np.int64), state.key.astype(np.int64)], axis=-1)
