"""Subgoal cells: what a hierarchical socius agent chooses among, and how it walks there.

Shared by every seat whose high level picks a cell of its view (the listener of the
language game, the learner of Goal Cycle):

- **Maps.** A seat draws the grid it sees as a map of kinds: unknown, open, wall (from
  ``map_memory``) and ``OBJECT``, a cell that a walk ends in when it enters it (an object
  of the referential room, a tile of Goal Cycle).
- **Candidates.** View cells of the map that are open or objects, not the agent's own,
  within reach: ``P_k`` of the learned low level (``V >= p gamma^(k-1)``), or, for the
  scripted walker, a BFS distance <= k.
- **Choices and walks.** :func:`choose_cells` draws (or takes the best of) the high
  level's cell logits over the candidates; :func:`walk_moves` takes one low-level step,
  by the learned values or by BFS, never through an object it is not aimed at.
- **The low level's data.** :class:`Replay` keeps the newest walking steps and samples
  them for ``Navigator.update`` with all-goals hindsight and the grid's known move rule.
- **Settings.** :class:`SubgoalSettings`, the fields every experiment with a hierarchical
  seat shares (``agent``, ``skill``, ``skill_updates``, ``replay``, ``move_beta``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from socius.agents.map_memory import OPEN, UNKNOWN, WALL
from socius.agents.map_nets import draw_from
from socius.agents.navigator import Navigator, NavigatorConfig
from socius.agents.scripted import UNREACHABLE, distance_maps, downhill_moves
from socius.envs.config import require, require_counts
from socius.envs.moves import MOVE_COL, MOVE_ROW

OBJECT = 3
"""Map kind of a cell a walk ends in when it enters it (an object, a tile)."""
MAP_KINDS = 4
AGENTS = ("flat", "hierarchical", "walker")
LOW_LEVELS = {"hierarchical": "learned", "walker": "bfs"}
"""The low level of each hierarchical ``agent``."""


@dataclass(frozen=True)
class SubgoalSettings:
    """The settings of an experiment's hierarchical seat (a mixin of its config)."""

    agent: str = "flat"
    """The seat's agent: ``flat`` (a move every step), ``hierarchical`` (a subgoal cell
    chosen from what it sees, hears and remembers, walked to by a low level learned online
    with hindsight) or ``walker`` (the same choice walked by a scripted BFS walker: the
    ceiling for hierarchy)."""
    skill: NavigatorConfig = field(default_factory=lambda: NavigatorConfig(
        learner="low", map_kinds=MAP_KINDS, batch_size=64))
    """The low level (one for the population, a shared skill) and the subgoal rule:
    ``subgoal_steps`` k, ``reach_threshold``, ``gamma`` (per step below, per subgoal above)."""
    skill_updates: int = 32
    """Low-level gradient steps per round (hierarchical), on the replay of recent steps."""
    replay: int = 20000
    """Walking steps the low level's replay keeps (the newest)."""
    move_beta: float = 2.0
    """The learned low level's moves: drawn by ``exp(move_beta * progress in steps)``."""

    def check_subgoals(self) -> None:
        """Raise ValueError naming the first impossible subgoal setting."""
        require(self.agent in AGENTS, "agent", "'flat', 'hierarchical' or 'walker'", self.agent)
        require(self.skill.learner == "low" and self.skill.map_kinds == MAP_KINDS, "skill",
                "a NavigatorConfig with learner='low' and map_kinds=4 (open, wall, unknown "
                "and object cells)", self.skill)
        require(self.move_beta > 0, "move_beta", "a number > 0", self.move_beta)
        require_counts(self, ("skill_updates", "replay"))


def view_cells(position: np.ndarray, side: int) -> np.ndarray:
    """Absolute cells ``[B, S * S, 2]`` of every view cell (raster order)."""
    radius = (side - 1) // 2
    offsets = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
    return position[:, None, :] + offsets.reshape(-1, 2)[None] - radius


def read_cells(maps: np.ndarray, cells: np.ndarray, outside=0) -> np.ndarray:
    """``maps [B, H, W]`` at ``cells [B, K, 2]`` (``outside`` off the grid): ``[B, K]``."""
    height, width = maps.shape[1:]
    inside = ((cells >= 0) & (cells < [height, width])).all(-1)
    clipped = np.clip(cells, 0, [height - 1, width - 1])
    values = maps[np.arange(len(maps))[:, None], clipped[..., 0], clipped[..., 1]]
    return np.where(inside, values, outside)


def room_cells(maps: np.ndarray, position: np.ndarray, side: int) -> np.ndarray:
    """View cells ``[B, S * S]`` a subgoal may be: in the room, open or an object, and not
    where the listener stands."""
    kind = read_cells(maps, view_cells(position, side))
    centre = (side * side) // 2
    allowed = (kind == OPEN) | (kind == OBJECT)
    allowed[:, centre] = False
    return allowed


def walk_distances(maps: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Steps ``[B, H, W]`` from the agent to every cell, entering objects but never
    passing through one, though it may start on one (UNREACHABLE elsewhere)."""
    blocked = (maps == WALL) | (maps == OBJECT)
    blocked[np.arange(len(maps)), position[:, 0], position[:, 1]] = False  # it may stand on one
    steps = distance_maps(blocked, position).astype(np.int64)  # symmetric: from = to
    padded = np.pad(steps, ((0, 0), (1, 1), (1, 1)), constant_values=UNREACHABLE)
    height, width = maps.shape[1:]
    nearest = np.min([padded[:, 1 + dr:1 + dr + height, 1 + dc:1 + dc + width]
                      for dr, dc in zip(MOVE_ROW[1:], MOVE_COL[1:])], axis=0)
    entered = np.where(nearest < UNREACHABLE, nearest + 1, UNREACHABLE)
    return np.where(maps == OBJECT, entered, steps)


def bfs_moves(maps: np.ndarray, position: np.ndarray, subgoal: np.ndarray) -> np.ndarray:
    """The walker's move ``[B]`` to ``subgoal [B, 2]``, round every other object."""
    others = (maps == OBJECT)
    others[np.arange(len(maps)), subgoal[:, 0], subgoal[:, 1]] = False
    others[np.arange(len(maps)), position[:, 0], position[:, 1]] = False  # it may stand on one
    distance = distance_maps((maps == WALL) | others, subgoal)
    return downhill_moves(distance, position)


def subgoal_candidates(config, maps: np.ndarray, position: np.ndarray, side: int,
                       reach: np.ndarray | None) -> np.ndarray:
    """View cells ``[B, S * S]`` a subgoal may be: room cells within reach, by the learned
    ``reach [B, H, W]`` (``V >= p gamma^(k-1)``) or, without it, by BFS steps <= k; any
    room cell where none is within reach yet (early in training)."""
    skill = config.skill
    candidates = room_cells(maps, position, side)
    cells = view_cells(position, side)
    if reach is None:
        steps = read_cells(walk_distances(maps, position), cells, UNREACHABLE)
        within = steps <= skill.subgoal_steps
    else:
        floor = skill.reach_threshold * skill.gamma ** (skill.subgoal_steps - 1)
        within = read_cells(reach, cells) >= floor
    some = (candidates & within).any(-1, keepdims=True)
    return np.where(some, candidates & within, candidates)


def walk_moves(config, skill, maps: np.ndarray, position: np.ndarray, subgoal: np.ndarray,
               action_mask: torch.Tensor, greedy: bool, generator: torch.Generator) -> np.ndarray:
    """One low-level move ``[B]`` each towards ``subgoal``: BFS without a ``skill``, else
    drawn from its values by ``exp(move_beta * progress in steps)`` (greedy: the best)."""
    if skill is None:
        return bfs_moves(maps, position, subgoal)
    values = skill.move_values(torch.as_tensor(maps), torch.as_tensor(position),
                               torch.as_tensor(subgoal))
    # A move into another object ends the walk short of its subgoal (and in Goal Cycle
    # pays or costs): worth nothing, whatever the network's value there says.
    after = position[:, None, :] + np.stack([MOVE_ROW, MOVE_COL], -1)[None]
    elsewhere = (read_cells(maps, after) == OBJECT) & ~(after == subgoal[:, None, :]).all(-1)
    values = values.masked_fill(torch.as_tensor(elsewhere), 0.0)
    progress = values.clamp(min=1e-8).log() / -np.log(config.skill.gamma)
    allowed = (torch.as_tensor(action_mask) > 0).clone()
    allowed[:, 0] = ~allowed[:, 1:].any(-1)  # reaching a cell never needs standing still
    logits = (config.move_beta * progress).masked_fill(~allowed, float("-inf"))
    if greedy:
        return logits.argmax(-1).numpy()
    return draw_from(logits.softmax(-1), np.random.default_rng(
        int(torch.randint(2 ** 62, (1,), generator=generator))))


def mark_view_cells(maps: np.ndarray, marked: np.ndarray, position: np.ndarray,
                    kind: int) -> np.ndarray:
    """``maps [B, H, W]`` with the view cells ``marked [B, S, S]`` (around ``position
    [B, 2]``) set to ``kind``, in place; returns ``maps``."""
    radius = (marked.shape[-1] - 1) // 2
    where, rows, cols = np.nonzero(marked)
    maps[where, position[where, 0] + rows - radius, position[where, 1] + cols - radius] = kind
    return maps


def due_decisions(chosen: np.ndarray, subgoal: np.ndarray, age: np.ndarray,
                  position: np.ndarray, movable: np.ndarray, steps: int) -> np.ndarray:
    """Worlds ``[B]`` whose agent picks a subgoal now: it can move, and it has none yet,
    has arrived, or has walked ``steps`` steps towards it."""
    arrived = (subgoal == position).all(-1)
    return movable & (~chosen | arrived | (age >= steps))


def choose_cells(logits: torch.Tensor, candidates: torch.Tensor, greedy: bool,
                 generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A cell ``[D]`` among ``candidates [D, S * S]`` by ``logits`` (greedy: the best),
    and the log-probabilities ``[D, S * S]`` it was drawn from."""
    log_probs = logits.masked_fill(~candidates, float("-inf")).log_softmax(-1)
    if greedy:
        return log_probs.argmax(-1), log_probs
    return torch.as_tensor(draw_from(log_probs.exp(), np.random.default_rng(
        int(torch.randint(2 ** 62, (1,), generator=generator))))), log_probs


@dataclass
class Replay:
    """The newest walking steps (at most ``capacity``): the map each was taken on and the
    cell it started from. Which moves were taken is not kept: every move is backed up."""

    room: np.ndarray  # [R, H, W] int8
    cell: np.ndarray  # [R, 2]

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Replay:
        """No steps yet, for a grid of ``shape``."""
        return cls(np.zeros((0, *shape), np.int8), np.zeros((0, 2), np.int64))

    @classmethod
    def restore(cls, saved) -> Replay:
        """A replay from a checkpoint: its arrays (or an older pickled replay)."""
        if isinstance(saved, dict):
            return cls(saved["room"], saved["cell"])
        return cls(saved.room, saved.cell)

    def arrays(self) -> dict[str, np.ndarray]:
        """The replay as plain arrays, for a checkpoint."""
        return {"room": self.room, "cell": self.cell}

    def add(self, room, cell, walking, capacity: int) -> Replay:
        """This replay with the ``walking`` steps of ``room [.., H, W]`` and ``cell [.., 2]``
        appended (the oldest dropped)."""
        walking = np.asarray(walking, bool)
        fresh = (np.asarray(room)[walking], np.asarray(cell)[walking])
        return Replay(*[np.concatenate([old, new])[-capacity:]
                        for old, new in zip((self.room, self.cell), fresh)])

    def sample(self, size: int, generator: np.random.Generator) -> dict[str, np.ndarray]:
        """A batch for ``Navigator.update``: every room cell a goal of every state, and
        every move's successor by the grid's known move rule (the room does not change
        within a walk), so the target is the best move's, whatever move was taken."""
        rows = generator.integers(0, len(self.cell), size)
        room, cell = self.room[rows], self.cell[rows]
        after = cell[:, None, :] + np.stack([MOVE_ROW, MOVE_COL], -1)[None]  # [N, 5, 2]
        kind = room[np.arange(size)[:, None], after[..., 0], after[..., 1]]
        after = np.where(((kind == WALL) | (kind == UNKNOWN))[..., None], cell[:, None], after)
        entered = room[np.arange(size)[:, None], after[..., 0], after[..., 1]] == OBJECT
        return {"map": room, "cell": cell, "next_map": room, "next_cell": after,
                "open": (room == OPEN) | (room == OBJECT), "terminal": entered,
                "reach_floor": np.zeros(room.shape, np.float32)}


def train_skill(config, skill: Navigator, replay: Replay,
                generator: np.random.Generator) -> dict[str, float]:
    """``skill_updates`` low-level steps on the replay; the last one's losses."""
    losses: dict[str, float] = {}
    for _ in range(config.skill_updates if len(replay.cell) else 0):
        losses = skill.update(replay.sample(config.skill.batch_size, generator))
    return {"skill_" + key: value for key, value in losses.items()}


@dataclass(frozen=True)
class LowLevel:
    """A seat's learned low level: the skill, its replay of the walking steps and the
    replay's draws (all None unless ``agent=hierarchical``)."""

    skill: Navigator | None
    replay: Replay | None
    draws: np.random.Generator | None

    @classmethod
    def start(cls, config, shape: tuple[int, int], generator: torch.Generator) -> LowLevel:
        """A fresh skill for ``agent=hierarchical`` on a grid of ``shape``."""
        if config.agent != "hierarchical":
            return cls(None, None, None)
        return cls(Navigator(config.skill, generator), Replay.empty(shape),
                   np.random.default_rng([config.seed, 11]))

    def learn(self, config, room, cell, walking) -> tuple[LowLevel, dict[str, float]]:
        """The ``walking`` steps of ``room``/``cell`` into the replay, then
        ``skill_updates`` steps on it."""
        if self.skill is None:
            return self, {}
        replay = self.replay.add(room, cell, walking, config.replay)
        return LowLevel(self.skill, replay, self.draws), train_skill(
            config, self.skill, replay, self.draws)

    def saved(self) -> dict:
        """The checkpoint's ``skill`` entry (none without a learned low level)."""
        if self.skill is None:
            return {}
        return {"skill": {"weights": self.skill.state_dict(),
                          "optimizer": self.skill.optimizer.state_dict(),
                          "replay": self.replay.arrays(),
                          "draws": self.draws.bit_generator.state}}

    def restore(self, checkpoint: dict) -> LowLevel:
        """This low level as the checkpoint saved it."""
        if self.skill is None:
            return self
        saved = checkpoint["skill"]
        self.skill.load_state_dict(saved["weights"])
        self.skill.optimizer.load_state_dict(saved["optimizer"])
        draws = np.random.default_rng()
        draws.bit_generator.state = saved["draws"]
        return LowLevel(self.skill, Replay.restore(saved["replay"]), draws)
