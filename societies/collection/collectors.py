"""The collectors and the run's learner.

Collectors are policies (``initial_state`` and ``act``) that only choose moves; the trainer
(``socius.societies.collection.train``) calls the :class:`Learner` between moves.

- :class:`LearnedCollector` (``disagreement``, ``curiosity``): Boltzmann moves over the
  learner's Q table;
- :class:`RandomCollector` (``random``): uniformly random allowed moves;
- :class:`CoveringCollector` (``covering``): BFS to the nearest cell the run has never
  visited (privileged walls);
- :class:`SubgoalCollector` (``disagreement`` with ``agent=hierarchical|walker``): every
  ``k`` steps or on arrival, a subgoal cell of its view drawn by softmax(G / (s T)), ``G(c)``
  the ensemble's largest disagreement over the moves from ``c`` (its information gain,
  ``s`` the spread of G over the candidates), among open cells within reach; walked to by
  the learner's low level (``Learner.low``, trained online on the collectors' own steps
  with all-goals hindsight) or by BFS; on arrival, the subgoal's most informative move.
"""

from __future__ import annotations

import numpy as np
import torch

from socius.agents.dynamics import DynamicsModel, ValueLearner
from socius.agents.map_memory import WALL, empty_maps, remember
from socius.agents.map_nets import draw_from
from socius.agents.scripted import (
    UNREACHABLE,
    RandomPolicy,
    as_numpy,
    distance_maps,
    downhill_moves,
)
from socius.agents.subgoal_cells import (
    LowLevel,
    due_decisions,
    read_cells,
    subgoal_candidates,
    view_cells,
    walk_moves,
)
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.societies.collection import evaluate as measures
from socius.societies.collection.config import LEARNED, CollectConfig
from socius.societies.collection.evaluate import collector_mask


class LearnedCollector:
    """Boltzmann moves over the learner's Q table (agents share it); the trainer updates the
    learner, never :meth:`act`."""

    def __init__(self, learner: Learner, width: int):
        self.learner, self.width = learner, width

    def initial_state(self, batch: int) -> dict:
        """No memory: the moves depend on the current cell and the Q table only."""
        return {}

    def act(self, observation, state, done, generator: np.random.Generator, privileged=None):
        """Draw moves ``[B, N, 1]`` from softmax(Q / T) over the allowed moves."""
        obs = as_numpy(observation)
        cell = obs["position"][..., 0] * self.width + obs["position"][..., 1]  # [B, N]
        mask = collector_mask(obs)
        logits = np.where(mask, self.learner.values.q[cell] / self.learner.config.temperature,
                          -np.inf)
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        cumulative = probs.cumsum(axis=-1)
        draw = generator.random((*cell.shape, 1)) * cumulative[..., -1:]
        moves = np.minimum((cumulative < draw).sum(axis=-1), 4)
        return moves[..., None].astype(np.int64), state


class RandomCollector:
    """Uniformly random allowed moves (``RandomPolicy`` under :func:`collector_mask`)."""

    def initial_state(self, batch: int) -> dict:
        """No memory."""
        return {}

    def act(self, observation, state, done, generator, privileged=None):
        """A random allowed move per agent."""
        obs = as_numpy(observation)
        return RandomPolicy(0, 0).act({"action_mask": collector_mask(obs)}, state, done,
                                      generator)


class CoveringCollector:
    """Scripted control: walk to the nearest cell the run has never visited (BFS on the
    privileged walls), random moves once every cell has been visited."""

    def __init__(self, walls: np.ndarray, visited: np.ndarray):
        self.walls, self.visited = walls, visited

    def initial_state(self, batch: int) -> dict:
        """The run's visited cells ``[H * W]``, shared by every environment and agent."""
        return {"visited": self.visited.copy()}

    def act(self, observation, state, done, generator, privileged=None):
        """Downhill moves towards each agent's nearest unvisited cell."""
        obs = as_numpy(observation)
        batch, agents = obs["position"].shape[:2]
        height, width = self.walls.shape
        position = obs["position"].reshape(-1, 2).astype(np.int64)
        visited = state["visited"].copy()
        visited[position[:, 0] * width + position[:, 1]] = True
        goal = obs["goal"].reshape(-1, 2)
        rows = np.arange(len(position))
        blocked = np.repeat(self.walls[None], len(position), axis=0)
        blocked[rows, goal[:, 0], goal[:, 1]] = True
        from_agent = distance_maps(blocked, position).reshape(len(position), -1)
        unvisited = ~visited & ~self.walls.ravel()
        score = np.where(unvisited[None] & (from_agent < UNREACHABLE), from_agent, UNREACHABLE)
        target = np.stack(np.divmod(score.argmin(axis=1), width), axis=-1)
        moves = downhill_moves(distance_maps(blocked, target), position)
        random_moves = RandomCollector().act(obs, {}, done, generator)[0].reshape(-1)
        moves = np.where(score.min(axis=1) < UNREACHABLE, moves, random_moves)
        return moves.reshape(batch, agents, 1), {"visited": visited}


def collector_maps(observation: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """What each collector ``[B * N]`` sees now as a map ``[B * N, H, W]`` (unknown, open,
    wall), its episode's goal cell a wall (collectors never step onto it)."""
    view = observation["view"].reshape(-1, *observation["view"].shape[2:])
    position = observation["position"].reshape(-1, 2).astype(np.int64)
    maps = remember(empty_maps((len(view),), *shape), view, position)
    goal = observation["goal"].reshape(-1, 2)
    maps[np.arange(len(maps)), goal[:, 0], goal[:, 1]] = WALL
    return maps


class SubgoalCollector:
    """The hierarchical collector (module doc): its state is each collector's subgoal
    ``[B, N, 2]`` (-1: none), the steps walked towards it, and whether one is chosen."""

    def __init__(self, learner: Learner, shape: tuple[int, int]):
        self.learner, self.shape = learner, shape
        self.config = learner.config

    def initial_state(self, batch: int) -> dict:
        """No subgoals yet (the agent axis comes with the first observation)."""
        return {"subgoal": None, "age": None}

    @torch.no_grad()
    def act(self, observation, state, done, generator: np.random.Generator, privileged=None):
        """A subgoal where one is due, then one low-level step towards it, every collector."""
        obs = as_numpy(observation)
        batch, agents = obs["position"].shape[:2]
        position = obs["position"].reshape(-1, 2).astype(np.int64)
        reset = np.repeat(np.asarray(done, bool), agents)
        subgoal = (np.full((len(position), 2), -1) if state["subgoal"] is None
                   else np.where(reset[:, None], -1, state["subgoal"].reshape(-1, 2)))
        age = (np.zeros(len(position), np.int64) if state["age"] is None
               else np.where(reset, 0, state["age"].reshape(-1)))
        maps = collector_maps(obs, self.shape)
        mask = collector_mask(obs).reshape(-1, 5)
        movable = mask[:, 1:].any(-1)
        # On arrival the collector makes its subgoal's most informative move (staying put
        # included), then chooses again: walks alone take shortest paths, so without it the
        # data would never hold a stay and few of each cell's moves (EXPERIMENTS.md 5).
        arrived = (subgoal[:, 0] >= 0) & (subgoal == position).all(-1)
        due = due_decisions(subgoal[:, 0] >= 0, subgoal, age, position, movable,
                            self.config.skill.subgoal_steps) & ~arrived
        skill = self.learner.low.skill
        if due.any():
            side = obs["view"].shape[-1]
            reach = None if skill is None else skill.reach(
                torch.as_tensor(maps[due]), torch.as_tensor(position[due])).numpy()
            candidates = subgoal_candidates(self.config, maps[due], position[due], side, reach)
            cells = view_cells(position[due], side)
            # Each candidate's information gain: the ensemble's disagreement there, which
            # the model gives for cells never visited too (the Q table is 0 at those, far
            # below the visited cells' values, so a chooser over max_a Q never left the
            # first room: EXPERIMENTS.md section 5).
            gain = cell_values(self.learner.gains(), maps[due], cells)
            scale = gain[candidates].std() + 1e-8
            logits = np.where(candidates, gain / (scale * self.config.temperature), -np.inf)
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            chosen = draw_from(torch.as_tensor(probs / probs.sum(-1, keepdims=True)), generator)
            subgoal[due] = cells[np.arange(len(chosen)), chosen]
            age[due] = 0
        moves = np.zeros(len(position), np.int64)
        walking = movable & ~arrived
        if walking.any():
            walker = torch.Generator().manual_seed(int(generator.integers(2 ** 62)))
            moves[walking] = walk_moves(self.config, skill, maps[walking], position[walking],
                                        subgoal[walking], torch.as_tensor(mask[walking]),
                                        False, walker)
        if arrived.any():
            here = position[arrived, 0] * self.shape[1] + position[arrived, 1]
            gains = np.where(mask[arrived], self.learner.gains()[here], -np.inf)
            moves[arrived] = gains.argmax(-1)
            subgoal[arrived] = -1
        age = np.where(walking, age + 1, age)
        return moves.reshape(batch, agents, 1), {"subgoal": subgoal.reshape(batch, agents, 2),
                                                 "age": age.reshape(batch, agents)}


def cell_values(table: np.ndarray, maps: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """``max_a table(c, a)`` ``[B, K]`` of ``cells [B, K, 2]`` (``table [H * W, 5]``), over
    the moves the map allows there (a move into a known wall is never taken)."""
    height, width = maps.shape[1:]
    inside = np.clip(cells, 0, [height - 1, width - 1])
    after = inside[..., None, :] + np.stack([MOVE_ROW, MOVE_COL], -1)  # [B, K, 5, 2]
    walled = read_cells(maps, after.reshape(len(maps), -1, 2), WALL).reshape(after.shape[:-1])
    values = table[inside[..., 0] * width + inside[..., 1]]  # [B, K, 5]
    return np.where(walled == WALL, -np.inf, values).max(-1)


def make_policy(config: CollectConfig, world, learner: Learner, record: measures.Record):
    """The chunk's collector policy."""
    if config.collector in LEARNED and config.agent != "flat":
        return SubgoalCollector(learner, (world.height, world.width))
    if config.collector in LEARNED:
        return LearnedCollector(learner, world.width)
    if config.collector == "covering":
        return CoveringCollector(world.info["walls"][0], record.first_visit < measures.NEVER)
    return RandomCollector()


def segment_from(observations: list[dict], moves: list[np.ndarray], width: int) -> dict:
    """The time-major segment :meth:`Learner.learn` takes, from ``t + 1`` observations
    ``[B, N, ...]`` and the ``t`` moves ``[B * N]`` between them (chains ``C = B * N``)."""
    cells = [o["position"][..., 0] * width + o["position"][..., 1] for o in observations]
    return {"cells": np.stack([c.reshape(-1) for c in cells]),
            "views": np.stack([o["view"].reshape(-1, *o["view"].shape[2:])
                               for o in observations]),
            "allowed": np.stack([o["action_mask"].reshape(-1, 5).astype(bool)
                                 for o in observations[:-1]]),
            "moves": np.stack(moves)}


class Learner:
    """The run's knowledge: the dynamics ensemble and, for RL collectors, the Q tables."""

    def __init__(self, config: CollectConfig, world, device: str = "cpu"):
        self.config = config
        self.model = DynamicsModel(config.dynamics(), world,
                                   torch.Generator().manual_seed(config.seed), device=device)
        self.values = (ValueLearner(world.height * world.width, config.collector, config.gamma,
                                    config.sweeps) if config.collector in LEARNED else None)
        # The hierarchical collector's low level, learned from the collectors' own steps.
        self.shape, self._gains = (world.height, world.width), None
        self.low = LowLevel.start(config, self.shape,
                                  torch.Generator().manual_seed(config.seed + 1))

    def gains(self) -> np.ndarray:
        """The intrinsic reward ``[cells, 5]`` of every (cell, move) pair, as the model
        stands since its last update (the ensemble's disagreement for the subgoal
        collectors; computed once per update)."""
        if self._gains is None:
            self._gains = self.values.rewards(self.model)
        return self._gains

    def learn(self, segment: dict, generator: np.random.Generator) -> dict[str, float]:
        """Add a time-major segment (``cells``/``views`` ``[t + 1, C, ...]``, ``moves`` and
        ``allowed`` ``[t, C, ...]``) to the replay, train the model, relabel and sweep Q."""
        cells, moves = segment["cells"][:-1].ravel(), segment["moves"].ravel()
        views = segment["views"][1:].reshape(-1, *segment["views"].shape[2:])
        errors = None
        if self.config.collector == "curiosity":
            errors = self.model.rewards(cells, moves, views)["error"]
        self.model.buffer_add(segment)
        # Half of every minibatch comes from this segment: new cells are learned at once,
        # however large the replay has grown, so their disagreement falls as they are seen.
        report = {"model_loss": self.model.update(generator, self.config.model_steps,
                                                  recent=len(cells))}
        self._gains = None
        if self.values is not None:
            self.values.observe(segment, errors)
            self._gains = self.values.rewards(self.model)  # the subgoals read it too
            report.update(self.values.update(self._gains))
        if self.low.skill is not None:
            report.update(self.learn_walks(segment))
        return report

    def learn_walks(self, segment: dict) -> dict[str, float]:
        """The segment's steps into the low level's replay (the map each step saw), then
        ``skill_updates`` steps on it."""
        position = np.stack(np.divmod(segment["cells"][:-1].ravel(), self.shape[1]), -1)
        views = segment["views"][:-1].reshape(-1, *segment["views"].shape[2:])
        maps = remember(empty_maps((len(views),), *self.shape), views, position)
        self.low, report = self.low.learn(self.config, maps, position,
                                          np.ones(len(position), bool))
        return report

    def catch_up(self, chunk: dict, generator: np.random.Generator) -> dict[str, float]:
        """Learn the chunk's transitions the trainer has not learned during it (all of them
        for the controls), in segments of ``update_every`` steps."""
        every, steps = self.config.update_every, chunk["moves"].shape[0]
        learned = every * ((steps - 1) // every) if self.values is not None else 0
        report: dict[str, float] = {}
        for begin in range(learned, steps, every):
            end = min(begin + every, steps)
            report = self.learn({"cells": chunk["cells"][begin:end + 1],
                                 "views": chunk["views"][begin:end + 1],
                                 "moves": chunk["moves"][begin:end],
                                 "allowed": chunk["allowed"][begin:end]}, generator)
        return report

    def state_dict(self) -> dict:
        """Model and Q tables (the replay is rebuilt from the dataset)."""
        return {"model": self.model.state_dict(),
                "values": self.values.state_dict() if self.values is not None else None,
                **self.low.saved()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.model.load_state_dict(state["model"])
        self._gains = None
        if self.values is not None:
            self.values.load_state_dict(state["values"])
        self.low = self.low.restore(state)
