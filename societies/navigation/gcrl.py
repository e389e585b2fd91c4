"""Offline goal-conditioned RL in a maze, top to bottom: collect data, train, evaluate.

    socius run gcrl --set learner.agent=hier data=random --seeds 3 --out runs/gcrl-hier

1. Collect a dataset in ``maze_v0`` with the random walker and/or a noisy BFS expert.
2. Train one learner (``hier``, ``hiql``, ``flat`` or ``gcbc``; see ``socius.agents.gcrl``).
3. Evaluate on held-out start/goal pairs with a time limit of ``2d + 20`` steps and
   report the success rate by shortest-path distance bucket.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from socius.agents.gcrl import GCRLAgent, GCRLConfig, GoalDataset
from socius.agents.scripted import GoalSeeker, NoisyPolicy, RandomPolicy
from socius.agents.tabular import free_cells, state_distances
from socius.envs.config import require, require_counts
from socius.envs.maze_v0 import MazeConfig, build_world
from socius.envs.vector import VectorEnv
from socius.societies.engine.datasets import save_dataset
from socius.societies.engine.rollout import record_episodes
from socius.societies.navigation.unseen import bucket_label, play_pairs
from socius.societies.runs.directory import open_run

DISTANCE_BUCKETS = ((1, 10), (10, 25), (25, 50), (50, 10_000))
DATA_SOURCES = ("random", "noisy", "both")


@dataclass(frozen=True)
class GCRLRunConfig:
    """One offline GCRL run: the maze, the data, the learner and the evaluation."""

    world: MazeConfig = field(default_factory=lambda: MazeConfig(
        layout="maze", size=21, layout_seed=0, max_cycles=200))
    """The maze_v0 world (one fixed layout); ``max_cycles`` is the episode length while
    collecting (evaluation episodes last ``2d + 20`` steps)."""
    data: str = "noisy"
    """Data source: random, noisy (a BFS expert taking random moves) or both."""
    data_steps: int = 100_000
    """Environment steps of data collected."""
    data_envs: int = 64
    """Environments collecting in parallel."""
    noise: float = 0.5
    """Probability that the noisy expert takes a random move."""
    steps: int = 50_000
    """Gradient steps."""
    eval_every: int = 10_000
    """Gradient steps between evaluations."""
    eval_pairs: int = 200
    """Held-out start/goal pairs."""
    seed: int = 0
    """Seed of data, initialisation, batches and evaluation pairs."""
    learner: GCRLConfig = field(default_factory=GCRLConfig)
    """The learner's hyper-parameters."""
    threads: int = 1
    """Torch threads of the run (set when it starts, recorded in environment.jsonl):
    a fixed count gives the same metrics whatever OMP_NUM_THREADS says."""

    def __post_init__(self):
        require(self.data in DATA_SOURCES, "data", f"one of {DATA_SOURCES}", self.data)
        require_counts(self, ("threads",
                              "data_steps", "data_envs", "steps", "eval_every", "eval_pairs"))
        require(0 <= self.noise <= 1, "noise", "a probability in [0, 1]", self.noise)
        self.world.check()


def collect_dataset(config: GCRLRunConfig) -> tuple[list, object]:
    """Episodes of the data policy in the run's maze, and the world they came from."""
    venv = VectorEnv(build_world(config.world), config.data_envs, seed=config.seed)
    walker = RandomPolicy(vocab_size=8, message_length=0)
    sources = {"random": [walker], "noisy": [NoisyPolicy(GoalSeeker(), walker, config.noise)],
               "both": [walker, NoisyPolicy(GoalSeeker(), walker, config.noise)]}
    generator = np.random.default_rng(config.seed)
    episodes = []
    policies = sources[config.data]
    for index, policy in enumerate(policies):
        steps = config.data_steps // (len(policies) * config.data_envs)
        episodes += record_episodes(venv, policy, generator, steps, seed=config.seed + index)
    return episodes, venv.world


def evaluation_pairs(world, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out (start, goal) cells ``[P, 2]`` each, and their distances ``[P]``."""
    walls = world.info["walls"][0]
    cells, _ = free_cells(walls)
    distance = state_distances(walls)
    generator = np.random.default_rng(10_000 + seed)
    start = generator.integers(0, len(cells), count)
    goal = generator.integers(0, len(cells), count)
    same = start == goal
    goal[same] = (goal[same] + 1) % len(cells)
    return cells[start], cells[goal], distance[start, goal]


class SubgoalPolicy:
    """A GCRL agent as a policy for the engine's rollout. It reads its cell and its goal
    cell from the observation; a hierarchical agent picks a new subgoal every ``k`` steps
    and on reaching one, in the worlds whose agent has not arrived yet."""

    def __init__(self, agent: GCRLAgent, width: int, known: torch.Tensor):
        self.agent, self.width, self.known = agent, width, known

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        """Each world's subgoal cell and step in its episode."""
        return {"subgoal": np.zeros(batch, np.int64), "step": np.zeros(batch, np.int64)}

    def act(self, observation: dict, state: dict, done: np.ndarray,
            generator: np.random.Generator, privileged=None) -> tuple[np.ndarray, dict]:
        """One move per world ``[B, 1, 1]``."""
        position, goal = observation["position"][:, 0], observation["goal"][:, 0]
        here = torch.as_tensor(position[:, 0] * self.width + position[:, 1]).long()
        goal_cell = torch.as_tensor(goal[:, 0] * self.width + goal[:, 1]).long()
        step = np.where(done, 0, state["step"])
        subgoal = torch.as_tensor(np.where(done, goal_cell.numpy(), state["subgoal"]))
        if self.agent.config.agent in ("hiql", "hier"):
            due = torch.as_tensor((step % self.agent.config.subgoal_steps == 0)
                                  | (here == subgoal).numpy())
            due &= torch.as_tensor(~privileged.state.finished[:, 0])
            if due.any():
                subgoal[due] = self.agent.choose_subgoal(here[due], goal_cell[due], self.known)
        moves = self.agent.act(here, goal_cell, subgoal).numpy()
        return moves.reshape(-1, 1, 1), {"subgoal": subgoal.numpy(), "step": step + 1}


def evaluate(agent: GCRLAgent, config: GCRLRunConfig, seed: int) -> dict[str, float]:
    """Success on held-out pairs within ``2d + 20`` steps, overall and by distance bucket,
    played through the engine's rollout from the chosen start cells."""
    probe = build_world(maze_for(config, 1))
    start, goal, distance = evaluation_pairs(probe, config.eval_pairs, seed)
    limit = 2 * distance + 20
    world = build_world(maze_for(config, int(limit.max()) + 1))
    walls = world.info["walls"][0]
    policy = SubgoalPolicy(agent, world.width, torch.as_tensor(~walls.ravel()))
    arrived = play_pairs(world, policy, start, goal, int(limit.max()), seed)
    success = (arrived > 0) & (arrived <= limit)
    report = {"success": float(success.mean())}
    for low, high in DISTANCE_BUCKETS:
        inside = (distance >= low) & (distance < high)
        label = f"success_{bucket_label(low, high)}"
        report[label] = float(success[inside].mean()) if inside.any() else float("nan")
        report[label.replace("success", "pairs")] = int(inside.sum())
    return report


def train(config: GCRLRunConfig, out: str | Path | None = None, progress: bool = True,
          episodes: list | None = None, stop_after: int | None = None) -> list[dict]:
    """Collect (unless ``episodes`` of the run's maze are given), train and evaluate one
    learner every ``eval_every`` steps; returns the metric rows. With ``out`` the run is
    logged and checkpointed there, and a run already in ``out`` resumes from its checkpoint
    (the dataset is collected again from its seed, bit for bit). ``stop_after`` ends the
    call after that many evaluations (tests use it to interrupt a run)."""
    run = open_run(out, config, "gcrl")
    if episodes is None:
        episodes, world = collect_dataset(config)
        if run is not None and not (run.path / "dataset.npz").exists():
            save_dataset(run.path / "dataset.npz", episodes, world=world,
                         metadata={"source": config.data, "noise": config.noise})
    else:
        world = build_world(maze_for(config, 1))
    dataset = GoalDataset(episodes, world.width)
    torch_generator = torch.Generator().manual_seed(config.seed)
    agent = GCRLAgent(config.learner, world.height * world.width, torch_generator)
    batches = np.random.default_rng(config.seed + 1)
    start, rows = 0, run.rows() if run is not None else []
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is not None:
        agent.load_state_dict(checkpoint["agent"])
        agent.optimizer.load_state_dict(checkpoint["optimizer"])
        batches.bit_generator.state = checkpoint["batches"]
        torch_generator.set_state(checkpoint["generator"])
        start = checkpoint["progress"]
        run.truncate(start, "step")
        rows = run.rows()
    bar = tqdm(range(start + 1, config.steps + 1), disable=not progress,
               desc=config.learner.agent, initial=start, total=config.steps)
    started, evaluations = time.perf_counter(), 0
    for step in bar:
        losses = agent.update(dataset.sample(batches, config.learner))
        if step % config.eval_every == 0 or step == config.steps:
            row = {"step": step, **losses, **evaluate(agent, config, config.seed),
                   "transitions": len(dataset)}
            rows.append(row)
            bar.set_postfix(success=f"{row['success']:.2f}",
                            value=f"{losses.get('value', 0):.4f}")
            if run is not None:
                run.log(row, "step", started)
                run.save_checkpoint({"progress": step, "agent": agent.state_dict(),
                                     "optimizer": agent.optimizer.state_dict(),
                                     "batches": batches.bit_generator.state,
                                     "generator": torch_generator.get_state()})
            evaluations += 1
            if stop_after is not None and evaluations >= stop_after:
                break
    return rows


def maze_for(config: GCRLRunConfig, max_cycles: int) -> MazeConfig:
    """The run's maze with episodes of ``max_cycles`` steps."""
    return dataclasses.replace(config.world, max_cycles=max_cycles)
