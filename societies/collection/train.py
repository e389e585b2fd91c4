"""Data collection by information gain: ``socius run collect``.

    socius run collect --set collector=disagreement steps=100000

1. **World.** ``maze_v0`` on one fixed layout (four rooms, side 13) with a fixed start and a
   noisy TV. Every chunk plays one episode of ``max_cycles`` steps in each of ``num_envs``
   environments through ``societies.rollout.collect``. Collectors never step onto their
   episode's goal cell (arrival would end the episode early): every step is kept as data.
2. **Model.** An ensemble of K dynamics models ``(position, move) -> next view``
   (``socius.agents.dynamics``) trains online, every ``update_every`` steps, on every
   transition seen so far; it trains for every collector, so the controls log disagreement
   against steps too.
3. **Collector** (``collector``):
   - ``disagreement``: RL on the ensemble's disagreement (Pathak et al. 2019);
   - ``curiosity``: RL on one model's squared error on the transition (member 0);
   - ``random``: uniformly random allowed moves;
   - ``covering``: BFS to the nearest cell the run has never visited (privileged walls).
   The RL collectors learn online (:class:`ValueLearner`: Q-learning over the replay with
   rewards relabelled by the current model, non-episodic returns) and act by Boltzmann
   exploration over Q; they update during episodes, as the model does.
4. **Data.** Episodes are ``Trajectory`` records, saved with ``save_dataset`` as
   ``dataset.npz``; the measures and the evaluation live in ``socius.societies.collection.evaluate``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from socius.agents.dynamics import DynamicsConfig, DynamicsModel, ValueLearner
from socius.agents.scripted import (
    UNREACHABLE,
    RandomPolicy,
    as_numpy,
    distance_maps,
    downhill_moves,
)
from socius.envs.config import make_config, require
from socius.envs.maze_v0 import CONFIG as MAZE_CONFIG
from socius.envs.maze_v0 import build_world
from socius.envs.vector import VectorEnv
from socius.societies.collection import evaluate as measures
from socius.societies.collection.evaluate import collector_mask
from socius.societies.engine.datasets import load_dataset, save_dataset
from socius.societies.engine.rollout import collect
from socius.societies.runs.directory import RunDirectory, open_run

COLLECTORS = ("disagreement", "curiosity", "random", "covering")
LEARNED = ("disagreement", "curiosity")


@dataclass(frozen=True)
class CollectConfig:
    """One collection run: the world, the collector, its dynamics ensemble and the evaluation."""

    seed: int = 0
    """Seed of the episodes, the weights and every sample."""
    collector: str = "disagreement"
    """One of disagreement, curiosity, random, covering."""
    steps: int = 100_000
    """Budget of environment steps, summed over the parallel environments."""
    num_envs: int = 4
    """Environments stepped in parallel (all on the same layout)."""
    num_agents: int = 1
    """Collectors per world; they share one dataset, one ensemble and one policy."""
    layout: str = "four_rooms"
    """maze_v0 layout (four_rooms, maze or open)."""
    size: int = 13
    """Side of the grid, walls included."""
    layout_seed: int = 0
    """Seed of the (fixed) layout."""
    start: tuple = (1, 1)
    """Fixed start cell (row, col); agent i starts at the i-th nearest free cell."""
    noisy_tv: int = 1
    """1 adds a cell whose object changes at random every step; 0 leaves it out."""
    max_cycles: int = 100
    """Steps per episode (one episode per environment per chunk)."""
    view_radius: int = 2
    """Radius of the egocentric view the models predict."""
    members: int = 5
    """K dynamics models in the ensemble."""
    model_hidden: int = 128
    """Width of each dynamics model."""
    model_learning_rate: float = 1e-3
    """Adam step size of the dynamics models."""
    model_batch: int = 256
    """Transitions per dynamics gradient step."""
    model_steps: int = 4
    """Dynamics gradient steps every ``update_every`` steps."""
    update_every: int = 10
    """Steps of every environment between updates of the model and the collector."""
    gamma: float = 0.9
    """Discount of the intrinsic return."""
    sweeps: int = 60
    """Q-learning sweeps over the deduplicated replay after each chunk."""
    temperature: float = 1.0
    """Boltzmann temperature of the collector's moves, in units of normalised reward."""
    checkpoint_every: int = 20_000
    """Environment steps between checkpoints (and dataset saves)."""
    eval_model_steps: int = 3000
    """Gradient steps of the fresh model trained on the collected data."""
    eval_repeats: int = 4
    """Held-out samples of every (reachable cell, move) pair."""
    hier_steps: int = 5000
    """Gradient steps of the offline hierarchical agent trained on the data (0: skip)."""
    hier_pairs: int = 200
    """Held-out start/goal pairs of the hierarchical agent's evaluation."""
    hier_subgoal_steps: int = 5
    """k of the hierarchical agent."""

    def __post_init__(self):
        require(self.collector in COLLECTORS, "collector", f"one of {COLLECTORS}",
                self.collector)
        for name in ("steps", "num_envs", "num_agents", "size", "max_cycles", "members",
                     "model_hidden", "model_batch", "sweeps", "update_every",
                     "checkpoint_every", "eval_repeats", "hier_pairs", "hier_subgoal_steps"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, "an integer >= 1", value)
        for name in ("model_steps", "eval_model_steps", "hier_steps", "view_radius"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 0, name, "an integer >= 0", value)
        chunk = self.num_envs * self.max_cycles
        require(self.steps % chunk == 0, "steps",
                f"a multiple of num_envs * max_cycles = {chunk}", self.steps)
        require(self.checkpoint_every % chunk == 0, "checkpoint_every",
                f"a multiple of num_envs * max_cycles = {chunk}", self.checkpoint_every)
        require(self.noisy_tv in (0, 1), "noisy_tv", "0 or 1", self.noisy_tv)
        require(self.layout in ("four_rooms", "maze", "open"), "layout",
                "four_rooms, maze or open", self.layout)
        require(len(self.start) == 2, "start", "a (row, col) pair", self.start)
        require(self.members >= 2 or self.collector != "disagreement", "members",
                "at least 2 for the disagreement collector", self.members)
        require(0 < self.model_learning_rate < 1, "model_learning_rate", "a number in (0, 1)",
                self.model_learning_rate)
        require(0 <= self.gamma < 1, "gamma", "a number in [0, 1)", self.gamma)
        require(self.temperature > 0, "temperature", "a number > 0", self.temperature)

    def world_settings(self) -> dict:
        """Settings of ``maze_v0`` for the run."""
        return {"num_agents": self.num_agents, "max_cycles": self.max_cycles,
                "view_radius": self.view_radius, "hearing_radius": 0, "message_length": 0,
                "layout": self.layout, "size": self.size, "layout_seed": self.layout_seed,
                "noisy_tv": bool(self.noisy_tv), "start": tuple(self.start)}

    def dynamics(self) -> DynamicsConfig:
        """The ensemble's settings."""
        return DynamicsConfig(members=self.members, hidden=self.model_hidden,
                              learning_rate=self.model_learning_rate, batch_size=self.model_batch)


def make_world(config: CollectConfig):
    """The run's static world."""
    return build_world(make_config(MAZE_CONFIG, config.world_settings()))


class LearnedCollector:
    """Boltzmann moves over the learner's Q table (agents share it); the learner updates
    every ``update_every`` steps from the transitions this policy has seen."""

    def __init__(self, learner: Learner, width: int):
        self.learner, self.width = learner, width

    def initial_state(self, batch: int) -> dict:
        """The steps taken and the observations and moves since the last update."""
        return {"t": 0, "seen": [], "moves": []}

    def act(self, observation, state, done, generator: np.random.Generator, privileged=None):
        """Learn if an update is due, then draw moves ``[B, N, 1]`` from softmax(Q / T)."""
        obs = as_numpy(observation)
        config = self.learner.config
        cell = obs["position"][..., 0] * self.width + obs["position"][..., 1]  # [B, N]
        seen = state["seen"] + [(cell.reshape(-1), obs["view"].reshape(-1, *obs["view"].shape[2:]),
                                 obs["action_mask"].reshape(-1, 5).astype(bool))]
        moves_so_far = state["moves"]
        if state["t"] and state["t"] % config.update_every == 0:
            self.learner.learn({"cells": np.stack([s[0] for s in seen]),
                                "views": np.stack([s[1] for s in seen]),
                                "allowed": np.stack([s[2] for s in seen[:-1]]),
                                "moves": np.stack(moves_so_far)}, generator)
            seen, moves_so_far = seen[-1:], []
        mask = collector_mask(obs)
        logits = np.where(mask, self.learner.values.q[cell] / config.temperature, -np.inf)
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        cumulative = probs.cumsum(axis=-1)
        draw = generator.random((*cell.shape, 1)) * cumulative[..., -1:]
        moves = np.minimum((cumulative < draw).sum(axis=-1), 4)
        return moves[..., None].astype(np.int64), {
            "t": state["t"] + 1, "seen": seen, "moves": moves_so_far + [moves.reshape(-1)]}


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
        """Learn the chunk's transitions the policy has not learned during it (all of them
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


def chunk_seed(config: CollectConfig, chunk: int) -> int:
    """Seed of chunk ``chunk``'s episodes (one fresh episode per environment)."""
    return config.seed * 1_000_003 + chunk


def train(config: CollectConfig, out: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None, device: str = "cpu") -> list[dict]:
    """Collect ``config.steps`` environment steps, one chunk at a time; returns the metric rows.

    With ``out`` the run is logged and checkpointed there (``dataset.npz`` holds the episodes
    so far), and a run already in ``out`` resumes from its checkpoint. ``stop_after`` ends the
    call after that many chunks (tests use it to interrupt a run).
    """
    run = open_run(out, config, "collect")
    world = make_world(config)
    venv = VectorEnv(world, config.num_envs, seed=config.seed)
    learner = Learner(config, world, device)
    generator = np.random.default_rng(config.seed)
    record = measures.Record.empty(world)
    probe = measures.probe_pairs(world)
    episodes: list = []
    start = 0
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is not None:
        learner.load_state_dict(checkpoint["learner"])
        generator.bit_generator.state = checkpoint["generator"]
        record = measures.Record(**checkpoint["record"])
        episodes = load_dataset(run.path / "dataset.npz").episodes[: checkpoint["episodes"]]
        for first in range(0, len(episodes), config.num_envs):
            chunk = measures.transitions(episodes[first:first + config.num_envs], world.width)
            learner.model.buffer_add(chunk)
        start = checkpoint["progress"]
        run.truncate(start, "steps")
    rows = run.rows() if run is not None else []
    per_chunk = config.num_envs * config.max_cycles
    bar = tqdm(total=config.steps, initial=start, disable=not progress,
               desc=f"collect {config.collector}")
    started = time.perf_counter()
    for chunk_index in range(start // per_chunk, config.steps // per_chunk):
        if stop_after is not None and chunk_index - start // per_chunk >= stop_after:
            break
        new = collect(venv, make_policy(config, world, learner, record), generator,
                      config.max_cycles, seed=chunk_seed(config, chunk_index))
        episodes += new
        chunk = measures.transitions(new, world.width)
        row = {"steps": (chunk_index + 1) * per_chunk,
               **record.update(chunk, chunk_index * per_chunk, config.num_envs, world),
               **learner.catch_up(chunk, generator)}
        views = chunk["views"][1:].reshape(-1, *chunk["views"].shape[2:])
        signals = learner.model.rewards(chunk["cells"][:-1].ravel(), chunk["moves"].ravel(),
                                        views)
        row["disagreement_chunk"] = float(signals["disagreement"].mean())
        row["prediction_error"] = float(signals["error"].mean())
        row["disagreement"] = float(learner.model.rewards(*probe)["disagreement"].mean())
        rows.append(row)
        bar.update(per_chunk)
        bar.set_postfix(coverage=f"{row['coverage']:.2f}", tv=f"{row['tv_in_view']:.2f}")
        if run is not None:
            run.append(row)
            run.append({"steps": row["steps"], "seconds": round(time.perf_counter() - started, 2)},
                       "timing.jsonl")
            if row["steps"] % config.checkpoint_every == 0 or row["steps"] == config.steps:
                save_dataset(run.path / "dataset.npz", episodes, world=world,
                             metadata={"collector": config.collector, "steps": row["steps"]})
                run.save_checkpoint({
                    "progress": row["steps"], "episodes": len(episodes),
                    "learner": learner.state_dict(), "generator": generator.bit_generator.state,
                    "record": record.state_dict()})
    bar.close()
    return rows


def config_from_run(path: str | Path) -> CollectConfig:
    """The config saved in a run directory."""
    saved = RunDirectory(path).config()
    saved["start"] = tuple(saved["start"])
    return CollectConfig(**saved)
