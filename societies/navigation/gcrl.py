"""Offline goal-conditioned RL in a maze, top to bottom: collect data, train, evaluate.

    socius run gcrl --agent hier --steps 50000 --seed 0 --out runs/gcrl-hier-0

1. Collect a dataset in ``maze_v0`` with the random walker and/or a noisy BFS expert.
2. Train one learner (``hier``, ``hiql``, ``flat`` or ``gcbc``; see ``socius.agents.gcrl``).
3. Evaluate on held-out start/goal pairs with a time limit of ``2d + 20`` steps and
   report the success rate by shortest-path distance bucket.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from socius.agents.gcrl import GCRLAgent, GCRLConfig, GoalDataset
from socius.agents.scripted import GoalSeeker, NoisyPolicy, RandomPolicy
from socius.agents.tabular import free_cells, state_distances
from socius.envs import core, make_vector
from socius.envs.config import make_config
from socius.envs.maze_v0 import CONFIG as MAZE_CONFIG
from socius.envs.maze_v0 import build_world
from socius.societies.engine.datasets import save_dataset
from socius.societies.engine.rollout import collect
from socius.societies.runs.directory import RunDirectory, apply_overrides

DISTANCE_BUCKETS = ((1, 10), (10, 25), (25, 50), (50, 10_000))


@dataclass(frozen=True)
class GCRLRunConfig:
    """One offline GCRL run: the maze, the data, the learner and the evaluation."""

    layout: str = "maze"
    """maze_v0 layout: maze or four_rooms."""
    size: int = 21
    """Side of the maze, walls included."""
    layout_seed: int = 0
    """Seed of the (fixed) layout."""
    data: str = "noisy"
    """Data source: random, noisy (a BFS expert taking random moves) or both."""
    data_steps: int = 100_000
    """Environment steps of data collected."""
    data_envs: int = 64
    """Environments collecting in parallel."""
    data_max_cycles: int = 200
    """Episode length while collecting."""
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


def collect_dataset(config: GCRLRunConfig) -> tuple[list, object]:
    """Episodes of the data policy in the run's maze, and the world they came from."""
    venv = make_vector("maze_v0", config.data_envs, seed=config.seed, layout=config.layout,
                       size=config.size, layout_seed=config.layout_seed,
                       max_cycles=config.data_max_cycles)
    walker = RandomPolicy(vocab_size=8, message_length=0)
    sources = {"random": [walker], "noisy": [NoisyPolicy(GoalSeeker(), walker, config.noise)],
               "both": [walker, NoisyPolicy(GoalSeeker(), walker, config.noise)]}
    if config.data not in sources:
        raise ValueError(f"config field 'data' must be one of {sorted(sources)}; "
                         f"got {config.data!r}")
    generator = np.random.default_rng(config.seed)
    episodes = []
    policies = sources[config.data]
    for index, policy in enumerate(policies):
        steps = config.data_steps // (len(policies) * config.data_envs)
        episodes += collect(venv, policy, generator, steps, seed=config.seed + index)
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


def evaluate(agent: GCRLAgent, config: GCRLRunConfig, seed: int) -> dict[str, float]:
    """Success on held-out pairs within ``2d + 20`` steps, overall and by distance bucket."""
    probe = build_world(make_config(MAZE_CONFIG, maze_settings(config, 1)))
    start, goal, distance = evaluation_pairs(probe, config.eval_pairs, seed)
    limit = 2 * distance + 20
    world = build_world(make_config(MAZE_CONFIG, maze_settings(config, int(limit.max()) + 1)))
    state, _ = core.reset(world, seed, len(start))
    state = core.relocate(world, state, start[:, :1], start[:, 1:], goal[:, None, :])
    walls = world.info["walls"][0]
    width = world.width
    known = torch.as_tensor(~walls.ravel())
    goal_cell = torch.as_tensor(goal[:, 0] * width + goal[:, 1])
    arrived = np.full(len(start), -1)
    subgoal = goal_cell.clone()
    k = agent.config.subgoal_steps
    for t in range(int(limit.max())):
        here = torch.as_tensor(state.row[:, 0] * width + state.col[:, 0]).long()
        if agent.config.agent in ("hiql", "hier"):
            due = torch.as_tensor((t % k == 0) | (here == subgoal).numpy())
            due &= torch.as_tensor(arrived < 0)
            if due.any():
                subgoal[due] = agent.choose_subgoal(here[due], goal_cell[due], known)
        moves = agent.act(here, goal_cell, subgoal).numpy()
        state, result = core.step(world, state, moves.reshape(-1, 1, 1), auto_reset=False)
        arrived = np.where((arrived < 0) & (result.goal_achieved[:, 0] > 0), t + 1, arrived)
    success = (arrived > 0) & (arrived <= limit)
    report = {"success": float(success.mean())}
    for low, high in DISTANCE_BUCKETS:
        inside = (distance >= low) & (distance < high)
        label = f"success_d{low}+" if high > 1000 else f"success_d{low}-{high - 1}"
        report[label] = float(success[inside].mean()) if inside.any() else float("nan")
        report[label.replace("success", "pairs")] = int(inside.sum())
    return report


def train(config: GCRLRunConfig, out: str | Path | None = None, progress: bool = True,
          episodes: list | None = None) -> dict[str, float]:
    """Collect (unless ``episodes`` of the run's maze are given), train and evaluate one
    learner; log to ``out/metrics.jsonl`` if given."""
    started = time.perf_counter()
    if episodes is None:
        episodes, world = collect_dataset(config)
        if out is not None:
            save_dataset(Path(out) / "dataset.npz", episodes, world=world,
                         metadata={"source": config.data, "noise": config.noise})
    else:
        world = build_world(make_config(MAZE_CONFIG, maze_settings(config, 1)))
    dataset = GoalDataset(episodes, world.width)
    torch_generator = torch.Generator().manual_seed(config.seed)
    agent = GCRLAgent(config.learner, world.height * world.width, torch_generator)
    batches = np.random.default_rng(config.seed + 1)
    run = None if out is None else RunDirectory.create(out, config, overwrite=True,
                                                       experiment="gcrl")
    bar = tqdm(range(1, config.steps + 1), disable=not progress, desc=config.learner.agent)
    report: dict[str, float] = {}
    for step in bar:
        losses = agent.update(dataset.sample(batches, config.learner))
        if step % config.eval_every == 0 or step == config.steps:
            report = {"step": step, **losses, **evaluate(agent, config, config.seed),
                      "transitions": len(dataset),
                      "seconds": round(time.perf_counter() - started, 1)}
            if run is not None:
                run.append(report)
            bar.set_postfix(success=f"{report['success']:.2f}",
                            value=f"{losses.get('value', 0):.4f}")
    if run is not None:
        run.save_checkpoint({"agent": agent.state_dict(), "progress": config.steps})
    return report


def config_from_overrides(overrides: list[str]) -> GCRLRunConfig:
    """A run config from ``key=value`` strings (``learner.<field>`` for the learner)."""
    prefix = "learner."
    learner = apply_overrides(GCRLConfig, {}, [item[len(prefix):] for item in overrides
                                               if item.startswith(prefix)])
    return apply_overrides(GCRLRunConfig, {"learner": learner},
                           [item for item in overrides if not item.startswith(prefix)])


def maze_settings(config: GCRLRunConfig, max_cycles: int) -> dict:
    """Settings of the run's maze with episodes of ``max_cycles`` steps."""
    return {"layout": config.layout, "size": config.size, "layout_seed": config.layout_seed,
            "max_cycles": max_cycles}


def summarize_runs(run_dirs: list[str | Path], plot: str | Path | None = None) -> str:
    """A markdown table of final success by agent (mean [95% bootstrap interval] over
    seeds), and optionally a bar plot of success by distance bucket."""
    from socius.societies.runs.statistics import bootstrap_interval

    rows: dict[str, list[dict]] = {}
    for directory in run_dirs:
        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text())
        lines = (directory / "metrics.jsonl").read_text().splitlines()
        if lines:
            name = f"{config['learner']['agent']} ({config['data']} data)"
            rows.setdefault(name, []).append(json.loads(lines[-1]))
    columns = ["success"] + [
        f"success_d{low}+" if high > 1000 else f"success_d{low}-{high - 1}"
        for low, high in DISTANCE_BUCKETS]
    generator = np.random.default_rng(0)
    stats = {name: {c: tuple(100 * v for v in bootstrap_interval([f[c] for f in finals],
                                                                  generator))
                    for c in columns} for name, finals in sorted(rows.items())}
    table = ["| agent | seeds | steps | " + " | ".join(columns) + " |",
             "|---" * (len(columns) + 3) + "|"]
    for name, finals in sorted(rows.items()):
        cells = [f"{m:.1f} [{lo:.1f}, {hi:.1f}]" for m, lo, hi in stats[name].values()]
        table.append(f"| {name} | {len(finals)} | {finals[0]['step']} | " + " | ".join(cells)
                     + " |")
    if plot is not None:
        from socius.viz.plots import grouped_bars

        renamed = {name: {c.replace("success_", "").replace("success", "all"): v
                          for c, v in by_column.items()} for name, by_column in stats.items()}
        grouped_bars(renamed, plot, "Held-out start/goal pairs, by distance d",
                     "success % (95% CI over seeds)")
    return "\n".join(table)


def load_agent(run_dir: str | Path) -> tuple[GCRLRunConfig, GCRLAgent]:
    """The config and the trained agent of a finished gcrl run."""
    saved = RunDirectory(run_dir).config()
    learner = GCRLConfig(**saved.pop("learner"))
    config = GCRLRunConfig(**{key: tuple(value) if isinstance(value, list) else value
                              for key, value in saved.items()}, learner=learner)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    world = build_world(make_config(MAZE_CONFIG, maze_settings(config, 1)))
    agent = GCRLAgent(learner, world.height * world.width, torch.Generator().manual_seed(0))
    agent.load_state_dict(checkpoint["agent"])
    return config, agent
