"""The static part of a world: its config, its task's pure functions and derived tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from socius.envs.config import WorldConfig
from socius.envs.moves import NUM_MOVES


class EpisodeStart(NamedTuple):
    """Fresh episodes drawn by a task's ``reset``; arrays lead with ``[D]``."""

    cells: np.ndarray
    """uint8 ``[D, 5, H+2r, W+2r]`` padded planes (the agent plane is filled by the core)."""
    row: np.ndarray
    """int32 ``[D, N]``."""
    col: np.ndarray
    """int32 ``[D, N]``."""
    goal: np.ndarray
    """int32 ``[D, N, G]``."""
    task: dict[str, np.ndarray]
    """Task-specific arrays ``[D, ...]``."""


class Outcome(NamedTuple):
    """What a task decides after the moves of one step; arrays lead with ``[B, N]``."""

    reward: np.ndarray
    """float32 ``[B, N]``."""
    finished: np.ndarray
    """bool ``[B, N]``: agents done for the episode (including those done before)."""
    terminated: np.ndarray
    """bool ``[B]``: the whole episode ends by the task's rule."""
    goal_achieved: np.ndarray
    """float32 ``[B, N]``."""
    achieved_goal: np.ndarray
    """int32 ``[B, N, Ga]``."""
    desired_goal: np.ndarray
    """int32 ``[B, N, Ga]``."""
    cells: np.ndarray
    """The padded grid after the task's own changes (often the same array)."""
    task: dict[str, np.ndarray]
    """Task-specific arrays after the step."""
    info: dict[str, np.ndarray] | None = None
    """Numeric per-agent outcomes ``[B, N]`` for the info dicts (keys: ``Task.info_keys``)."""


@dataclass(frozen=True)
class Task:
    """A task as pure functions over a world; no subclassing, no mutable entities."""

    reset: Callable[[World, np.ndarray], EpisodeStart]
    """``reset(world, keys[D]) -> EpisodeStart``: draw D fresh episodes."""
    resolve: Callable[..., Outcome]
    """``resolve(world, state, moved[B, N]) -> Outcome``, on the state after the moves."""
    achieved_size: int
    """Length Ga of ``achieved_goal`` and ``desired_goal``."""
    info_keys: tuple[str, ...] = ()
    """Names of the numeric outcomes ``resolve`` reports in ``Outcome.info``."""
    start_into: Callable | None = None
    """Optional, compiled path only: ``start_into(world, state, index[D], keys[D],
    compiled)`` writes what ``reset`` would draw for ``keys`` (cells without agents, row,
    col, goal, task arrays) straight into rows ``index`` of ``state``'s arrays, which the
    core has made private; it saves building a fresh state and ``put``-ting it."""


@dataclass(frozen=True, eq=False)
class World:
    """Static description of one task instance, shared by every state of it."""

    name: str
    """Environment name, e.g. ``referential_v0``."""
    config: WorldConfig
    """The checked, frozen config."""
    task: Task
    """The task's pure functions."""
    height: int
    """Grid rows H, border walls included."""
    width: int
    """Grid columns W, border walls included."""
    agent_names: tuple[str, ...]
    """``<role>_<i>`` for each agent, in index order."""
    role_names: tuple[str, ...]
    """Distinct roles; ``agent_role`` indexes into it."""
    agent_role: np.ndarray
    """int32 ``[N]``."""
    embodied: np.ndarray
    """bool ``[N]``: the agent stands on the grid and can move."""
    group: np.ndarray
    """int32 ``[N]``: agents hear their own group when ``hearing_radius`` is -1."""
    goal_size: int
    """Length G of each agent's goal."""
    goal_high: int
    """Largest value a goal entry may take."""
    goal_visible: np.ndarray
    """int8 ``[N, G]``: which goal entries each agent may observe."""
    free_cells: int
    """Fewest free cells of any episode; placements are checked against it."""
    info: dict[str, Any] = field(default_factory=dict)
    """Task extras (layouts, held-out pairs...) that ``reset`` and ``resolve`` read."""
    opening_steps: int = 0
    """Steps at the start of every episode in which nobody moves (speakers talk first);
    ``max_cycles`` counts them, as PettingZoo counts every step."""

    def __post_init__(self):
        # 1 + role of each agent, indexed by occupant + 1 so that -1 (nobody) maps to 0.
        self.info["role_code"] = np.concatenate([[0], self.agent_role + 1]).astype(np.uint8)
        self.info["embodied_index"] = np.flatnonzero(self.embodied)
        self.info["action_high"] = np.array(
            [NUM_MOVES] + [self.config.vocab_size] * self.config.message_length, dtype=np.int64)

    @property
    def num_agents(self) -> int:
        """Number of agents N."""
        return len(self.agent_names)

    @property
    def pad(self) -> int:
        """Padding of the stored grid, equal to the view radius."""
        return self.config.view_radius

    @property
    def padded_shape(self) -> tuple[int, int]:
        """(H + 2r, W + 2r)."""
        return self.height + 2 * self.pad, self.width + 2 * self.pad

    @property
    def view_side(self) -> int:
        """Side 2r + 1 of the view window."""
        return 2 * self.config.view_radius + 1

    @property
    def inbox_size(self) -> int:
        """Senders an agent can hear at once."""
        if self.config.hearing_radius < 0:
            return int(self.inbox_source.shape[1])
        return self.config.max_others

    @property
    def inbox_source(self) -> np.ndarray:
        """int64 ``[N, S]``: the group members each agent hears, -1 padded."""
        return self.info["inbox_source"]

    @property
    def num_moves(self) -> int:
        """Moves in the action space: stay, up, down, left, right."""
        return NUM_MOVES


def group_inbox_sources(group: np.ndarray) -> np.ndarray:
    """For each agent, the other members of its group: int64 ``[N, S]``, -1 padded."""
    members = [np.flatnonzero(group == g) for g in np.unique(group)]
    size = max(len(m) for m in members) - 1
    sources = np.full((len(group), max(size, 0)), -1, dtype=np.int64)
    for agent, g in enumerate(group):
        others = [m for m in np.flatnonzero(group == g) if m != agent]
        sources[agent, : len(others)] = others
    return sources


def pad_grid(walls: np.ndarray, pad: int) -> np.ndarray:
    """Padded uint8 planes ``[..., 5, H+2r, W+2r]`` with the terrain of ``walls[..., H, W]``."""
    *lead, height, width = walls.shape
    cells = np.zeros((*lead, 5, height + 2 * pad, width + 2 * pad), dtype=np.uint8)
    cells[..., 0, :, :] = 2
    cells[..., 0, pad : pad + height, pad : pad + width] = walls.astype(np.uint8)
    return cells
