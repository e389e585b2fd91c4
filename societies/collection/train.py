"""Data collection by information gain: ``socius run collect``.

    socius run collect --set collector=disagreement steps=100000

1. **World.** ``maze_v0`` on one fixed layout (four rooms, side 13) with a fixed start and a
   noisy TV. Every chunk plays one episode of ``max_cycles`` steps in each of ``num_envs``
   environments through ``societies.engine.rollout.record_episodes``. Collectors never step
   onto their episode's goal cell (arrival would end the episode early): every step is data.
2. **Model.** An ensemble of K dynamics models ``(position, move) -> next view``
   (``socius.agents.dynamics``) trains online, every ``update_every`` steps, on every
   transition seen so far; it trains for every collector, so the controls log disagreement
   against steps too.
3. **Collector** (``collector``, ``socius.societies.collection.collectors``):
   - ``disagreement``: RL on the ensemble's disagreement (Pathak et al. 2019);
   - ``curiosity``: RL on one model's squared error on the transition (member 0);
   - ``random``: uniformly random allowed moves;
   - ``covering``: BFS to the nearest cell the run has never visited (privileged walls).
   The RL collectors learn online (:class:`ValueLearner`: Q-learning over the replay with
   rewards relabelled by the current model, non-episodic returns) and act by Boltzmann
   exploration over Q. Collectors only act: this loop updates the learner, during episodes
   every ``update_every`` steps for the RL collectors (:class:`OnlineUpdates`, the rollout's
   ``on_step``), and after each chunk on the steps not learned yet (``Learner.catch_up``).
4. **Data.** Episodes are ``Trajectory`` records, saved with ``save_dataset`` as
   ``dataset.npz``; the measures and the evaluation live in
   ``socius.societies.collection.evaluate``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from socius.envs.maze_v0 import build_world
from socius.envs.state import WorldState
from socius.envs.vector import VectorEnv
from socius.societies.collection import evaluate as measures
from socius.societies.collection.collectors import Learner, make_policy, segment_from
from socius.societies.collection.config import LEARNED, CollectConfig
from socius.societies.engine.datasets import load_dataset, save_dataset
from socius.societies.engine.rollout import record_episodes
from socius.societies.runs.directory import RunDirectory, open_run


def make_world(config: CollectConfig):
    """The run's static world."""
    return build_world(config.world)


class OnlineUpdates:
    """The rollout's ``on_step`` for the RL collectors: after every ``update_every`` steps of
    a chunk but its last, the learner learns the steps since its previous update, before the
    collectors' next moves (``Learner.catch_up`` learns the rest after the chunk)."""

    def __init__(self, learner: Learner, width: int, generator: np.random.Generator):
        self.learner, self.width, self.generator = learner, width, generator
        self.moves: list[np.ndarray] = []  # [B * N] per step of the chunk

    def __call__(self, state: WorldState, action: np.ndarray,
                 seen: list[dict[str, np.ndarray]]) -> None:
        """Keep the step's moves; learn when an update is due (from the observations the
        collectors have ``seen`` this chunk, the next one included)."""
        self.moves.append(action[..., 0].reshape(-1))
        steps, config = len(self.moves), self.learner.config
        if steps % config.update_every or steps >= config.world.max_cycles:
            return
        begin = steps - config.update_every
        self.learner.learn(segment_from(seen[begin:steps + 1], self.moves[begin:], self.width),
                           self.generator)


def chunk_seed(config: CollectConfig, chunk: int) -> int:
    """Seed of chunk ``chunk``'s episodes (one fresh episode per environment)."""
    return config.seed * 1_000_003 + chunk


def restore(checkpoint: dict, run: RunDirectory, world, learner: Learner,
            generator: np.random.Generator) -> tuple[measures.Record, list]:
    """Load a checkpoint into the learner and the generator, refill the model's replay from
    the dataset; the record and the episodes so far."""
    learner.load_state_dict(checkpoint["learner"])
    generator.bit_generator.state = checkpoint["generator"]
    episodes = load_dataset(run.path / "dataset.npz").episodes[: checkpoint["episodes"]]
    num_envs = learner.config.num_envs
    for first in range(0, len(episodes), num_envs):
        learner.model.buffer_add(measures.transitions(episodes[first:first + num_envs],
                                                      world.width))
    return measures.Record(**checkpoint["record"]), episodes


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
        record, episodes = restore(checkpoint, run, world, learner, generator)
        start = checkpoint["progress"]
        run.truncate(start, "steps")
    rows = run.rows() if run is not None else []
    per_chunk = config.num_envs * config.world.max_cycles
    bar = tqdm(total=config.steps, initial=start, disable=not progress,
               desc=f"collect {config.collector}")
    started = time.perf_counter()
    for chunk_index in range(start // per_chunk, config.steps // per_chunk):
        if stop_after is not None and chunk_index - start // per_chunk >= stop_after:
            break
        policy = make_policy(config, world, learner, record)
        online = (OnlineUpdates(learner, world.width, generator)
                  if config.collector in LEARNED else None)
        new = record_episodes(venv, policy, generator, config.world.max_cycles,
                              seed=chunk_seed(config, chunk_index), on_step=online)
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
            run.log(row, "steps", started)
            if row["steps"] % config.checkpoint_every == 0 or row["steps"] == config.steps:
                save_dataset(run.path / "dataset.npz", episodes, world=world,
                             metadata={"collector": config.collector, "steps": row["steps"]})
                run.save_checkpoint({
                    "progress": row["steps"], "episodes": len(episodes),
                    "learner": learner.state_dict(), "generator": generator.bit_generator.state,
                    "record": record.state_dict()})
    bar.close()
    return rows
