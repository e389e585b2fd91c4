"""Navigation on unseen mazes, top to bottom: the socius navigator (two levels, map
memory) against its flat control, GC-BC and the map-memory planner.

    socius run navigate --set learner.learner=hierarchical --seeds 3 --out runs/navigate

1. **Data.** Offline (``collector=expert``), a noisy BFS expert (it knows the maze; the
   learners do not) walks to random goals in ``train_layouts`` mazes carved from layout
   seeds ``layout_seed + i``. Online (``collector=self``), the navigator plays rounds in a
   bank of ``train_layouts`` mazes between its updates
   (``socius.societies.navigation.online``), with or without hindsight
   (``learner.hindsight``).
2. **Train** one learner (``socius.agents.navigator``): ``hierarchical`` fits both
   levels, and its low level alone is the ``flat`` agent; ``gcbc`` clones the data's moves
   towards hindsight goals. All see the same data and take the same number of updates.
3. **Evaluate** on ``eval_layouts`` mazes from disjoint seeds (``eval_layout_seed + i``),
   ``eval_pairs`` start/goal pairs, success within 2d + 20, 3d + 20 and 4d + 50 steps, by
   distance, beside the map-memory planner on the same pairs (the ceiling).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from socius.agents.map_dataset import MapDataset
from socius.agents.map_memory import MapPlanner
from socius.agents.navigator import Navigator, NavigatorConfig
from socius.agents.navigator_policy import NavigatorPolicy
from socius.agents.scripted import GoalSeeker, NoisyPolicy, RandomPolicy
from socius.envs.config import require, require_counts
from socius.envs.maze_v0 import MazeConfig, build_world
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes
from socius.societies.navigation import online as online_rounds
from socius.societies.navigation.unseen import (
    EvaluationLayouts,
    arrival_steps,
    evaluation_layouts,
    overlap,
    success_report,
)
from socius.societies.runs.directory import open_run

COLLECTORS = ("expert", "self")
"""Who gathers a navigate run's data (``NavigateConfig.collector``)."""


@dataclass(frozen=True)
class NavigateConfig:
    """One navigation run: training mazes and data, the learner, the unseen mazes."""

    world: MazeConfig = field(default_factory=lambda: MazeConfig(
        layout="maze", size=21, view_radius=2, max_cycles=200, layout_seed=0, num_layouts=1))
    """The maze_v0 world; each training maze is this world with layout seed
    ``layout_seed + i`` (``max_cycles`` is the episode length while collecting)."""
    train_layouts: int = 100
    """Training mazes (layout seeds ``layout_seed .. layout_seed + train_layouts - 1``)."""
    collector: str = "expert"
    """Who gathers the data: ``expert`` (a noisy BFS expert, before training: offline) or
    ``self`` (the navigator, in rounds between its updates: online; see
    ``socius.societies.navigation.online``)."""
    data_steps: int = 200_000
    """Agent steps played over all training mazes; episodes still running at the end are
    dropped (about 174k of 200k steps are kept by default)."""
    rollout_envs: int = 128
    """Online: worlds playing at once in a round."""
    rollout_steps: int = 500
    """Online: steps each world plays in a round."""
    envs_per_layout: int = 4
    """Offline: worlds collecting in parallel in each training maze."""
    noise: float = 0.5
    """Probability that the data's expert takes a random move."""
    learner: NavigatorConfig = field(default_factory=lambda: NavigatorConfig(
        body="propagation", known_moves=True))
    """The learner's hyper-parameters (runs made before the propagation body read back
    with the conv body: their saved learner names no body)."""
    steps: int = 6000
    """Gradient updates."""
    eval_every: int = 6000
    """Updates between evaluations (and checkpoints)."""
    eval_layout_seed: int = 1_000_000
    """First layout seed of the evaluation mazes (disjoint from the training seeds)."""
    eval_layouts: int = 20
    """Evaluation mazes."""
    eval_pairs: int = 200
    """Start/goal pairs, spread evenly over the evaluation mazes."""
    seed: int = 0
    """Seed of data, initialisation, batches and evaluation pairs."""
    threads: int = 1
    """Torch threads of the run (set when it starts, recorded in environment.jsonl)."""

    def __post_init__(self):
        require(self.collector in COLLECTORS, "collector", f"one of {COLLECTORS}",
                self.collector)
        require_counts(self, ("train_layouts", "data_steps", "envs_per_layout", "steps",
                              "rollout_envs", "rollout_steps",
                              "eval_every", "eval_layouts", "eval_pairs", "threads"))
        require(self.world.layout == "maze", "world.layout", "'maze' (layouts come from seeds)",
                self.world.layout)
        require(self.world.num_agents == 1, "world.num_agents", "1", self.world.num_agents)
        require(0 <= self.noise <= 1, "noise", "a probability in [0, 1]", self.noise)
        require(self.eval_pairs >= self.eval_layouts, "eval_pairs",
                f"at least eval_layouts ({self.eval_layouts})", self.eval_pairs)
        require(self.eval_layout_seed >= self.world.layout_seed + self.train_layouts
                or self.eval_layout_seed + self.eval_layouts <= self.world.layout_seed,
                "eval_layout_seed", "a seed range disjoint from the training layout seeds",
                self.eval_layout_seed)
        self.world.check()


def training_worlds(config: NavigateConfig) -> list:
    """The training mazes, one world each."""
    return [build_world(dataclasses.replace(config.world, layout_seed=config.world.layout_seed
                                            + index, num_layouts=1))
            for index in range(config.train_layouts)]


def collect(config: NavigateConfig, worlds: list) -> MapDataset:
    """The noisy expert's episodes in every training maze, as one map dataset."""
    policy = NoisyPolicy(GoalSeeker(), RandomPolicy(vocab_size=1, message_length=0),
                         config.noise)
    steps = max(1, config.data_steps // (config.train_layouts * config.envs_per_layout))
    by_layout = []
    for index, world in enumerate(worlds):
        venv = VectorEnv(world, config.envs_per_layout, seed=config.seed * 100_003 + index)
        episodes = record_episodes(venv, policy, np.random.default_rng([config.seed, index]),
                                   steps)
        by_layout.append((world.info["walls"][0], episodes))
    return MapDataset(by_layout)


def evaluation_set(config: NavigateConfig) -> EvaluationLayouts:
    """The run's unseen mazes and start/goal pairs."""
    return evaluation_layouts(config.world, config.eval_layout_seed, config.eval_layouts,
                              config.eval_pairs, seed=10_000 + config.seed)


def modes(config: NavigateConfig) -> tuple[str, ...]:
    """How a run's learner is evaluated: both levels, subgoals ranked by the low level
    (HIQL's one value; the propagation body) and the flat low level; the low level alone
    walks flat; GC-BC imitates."""
    if config.learner.learner != "hierarchical":
        return {"gcbc": ("gcbc",), "low": ("flat",)}[config.learner.learner]
    return ("hierarchical", "hiql", "flat") if config.learner.body == "propagation" else \
        ("hierarchical", "flat")


def evaluate(navigator: Navigator, config: NavigateConfig,
             layouts: EvaluationLayouts) -> dict[str, float]:
    """Success of each of the run's modes on the unseen mazes (``<mode>_success_<limit>``)."""
    size = config.world.size
    report = {}
    for mode in modes(config):
        policy = NavigatorPolicy(navigator, mode, size, size)
        report.update(success_report(arrival_steps(policy, layouts, config.seed),
                                     layouts.distance, prefix=f"{mode}_"))
    return report


def planner_report(config: NavigateConfig, layouts: EvaluationLayouts) -> dict[str, float]:
    """The map-memory planner on the same pairs: the ceiling (``planner_success_<limit>``)."""
    planner = MapPlanner(config.world.size, config.world.size)
    return success_report(arrival_steps(planner, layouts, config.seed), layouts.distance,
                          prefix="planner_")


def train(config: NavigateConfig, out: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None) -> list[dict]:
    """Collect, train and evaluate every ``eval_every`` updates; returns the metric rows.
    With ``out`` the run is logged and checkpointed there, and resumes from it (the data
    is collected again from its seed, bit for bit). ``stop_after`` ends the call after that
    many evaluations (tests use it to interrupt a run)."""
    run = open_run(out, config, "navigate")
    online = config.collector == "self"
    bank = online_rounds.layout_bank(config) if online else None
    worlds = [] if online else training_worlds(config)
    layouts = evaluation_set(config)
    shared = overlap(list(bank.info["walls"]) if online else
                     [w.info["walls"][0] for w in worlds], layouts)
    require(shared == 0, "eval_layout_seed", "evaluation mazes unlike every training maze",
            f"{shared} shared")
    dataset = None if online else collect(config, worlds)
    generator = torch.Generator().manual_seed(config.seed)
    navigator = Navigator(config.learner, generator)
    batches = np.random.default_rng([config.seed, 1])
    start, done_round, rows = 0, -1, run.rows() if run is not None else []
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is not None:
        navigator.load_state_dict(checkpoint["navigator"])
        navigator.optimizer.load_state_dict(checkpoint["optimizer"])
        batches.bit_generator.state = checkpoint["batches"]
        start = checkpoint["progress"]
        if online:
            done_round = checkpoint["round"]
            dataset = MapDataset.from_arrays(checkpoint["dataset"])
        run.truncate(start, "step")
        rows = run.rows()
    ceiling = planner_report(config, layouts)
    bar = tqdm(range(start + 1, config.steps + 1), disable=not progress, initial=start,
               total=config.steps, desc=config.learner.learner)
    started, evaluations = time.perf_counter(), 0
    for step in bar:
        while online and step > online_rounds.updates_after(config, done_round):
            done_round += 1  # the navigator as it is now plays the next round
            fresh = online_rounds.collect_round(config, bank, navigator, done_round)
            if fresh is not None:
                dataset = fresh if dataset is None else dataset.extend(fresh)
        losses = navigator.update(dataset.sample(batches, config.learner))
        if step % config.eval_every == 0 or step == config.steps:
            played = {"env_steps": min(config.data_steps, (done_round + 1) * config.rollout_envs
                                       * config.rollout_steps)} if online else {}
            row = {"step": step, "transitions": len(dataset), **played, **losses,
                   **evaluate(navigator, config, layouts), **ceiling}
            rows.append(row)
            bar.set_postfix({mode: f"{row[f'{mode}_success_3d+20']:.2f}"
                             for mode in modes(config)})
            if run is not None:
                run.log(row, "step", started)
                kept = {"round": done_round, "dataset": dataset.arrays()} if online else {}
                run.save_checkpoint({"progress": step, "navigator": navigator.state_dict(),
                                     "optimizer": navigator.optimizer.state_dict(),
                                     "batches": batches.bit_generator.state, **kept})
            evaluations += 1
            if stop_after is not None and evaluations >= stop_after:
                break
    return rows
