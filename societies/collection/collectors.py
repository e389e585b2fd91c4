"""The collectors and the run's learner.

Collectors are policies (``initial_state`` and ``act``) that only choose moves; the trainer
(``socius.societies.collection.train``) calls the :class:`Learner` between moves.

- :class:`LearnedCollector` (``disagreement``, ``curiosity``): Boltzmann moves over the
  learner's Q table;
- :class:`RandomCollector` (``random``): uniformly random allowed moves;
- :class:`CoveringCollector` (``covering``): BFS to the nearest cell the run has never
  visited (privileged walls).
"""

from __future__ import annotations

import numpy as np
import torch

from socius.agents.dynamics import DynamicsModel, ValueLearner
from socius.agents.scripted import (
    UNREACHABLE,
    RandomPolicy,
    as_numpy,
    distance_maps,
    downhill_moves,
)
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


def make_policy(config: CollectConfig, world, learner: Learner, record: measures.Record):
    """The chunk's collector policy."""
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
        if self.values is not None:
            self.values.observe(segment, errors)
            report.update(self.values.update(self.values.rewards(self.model)))
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
                "values": self.values.state_dict() if self.values is not None else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.model.load_state_dict(state["model"])
        if self.values is not None:
            self.values.load_state_dict(state["values"])
