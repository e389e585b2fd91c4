"""The bound table of ``goal_cycle_v1``: scripted policies in the learner's seat (agent_0),
scripted experts in every other seat, all on the same episodes (SCIENCE.md, "Bound the
task before training").

Normalised return is ``(R - R_base) / (R_expert - R_base)`` with ``R_base`` the better of
standing still and the random walker. The solo ceiling is the best of standing still, the
random walker and the elimination searcher: what a policy that ignores the others earns.
Intervals are 95% percentile bootstraps over every episode of every evaluation seed,
normalised by the pooled means of the base and the expert.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from socius.agents.cycle_policies import (
    CycleV1Expert,
    EliminationSearcher,
    StandStill,
    TrailFollower,
)
from socius.agents.scripted import ExpertFollower, RandomPolicy, SeatedPolicy
from socius.envs import goal_cycle_v1
from socius.envs.goal_cycle_v1 import GoalCycleV1Config
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes
from socius.societies.runs.statistics import bootstrap_interval

SOLO = ("stand still", "random walker", "elimination searcher")
"""Policies that never use the others; the best of them is the solo ceiling."""


def seat_policies(config: GoalCycleV1Config) -> dict[str, Callable[[], object]]:
    """Each bound policy's maker, for agent_0 of a world of ``config``."""
    experts = tuple(range(1, config.num_agents))
    length = config.message_length
    policies = {
        "stand still": lambda: StandStill(length),
        "random walker": lambda: RandomPolicy(config.vocab_size, length),
        "elimination searcher": lambda: EliminationSearcher(length),
    }
    if experts:
        policies["follower"] = lambda: TrailFollower(experts, length)
        policies["follower (in view)"] = lambda: ExpertFollower(length)
    policies["expert"] = lambda: CycleV1Expert(length)
    return policies


def seat_returns(config: GoalCycleV1Config, seat_policy, seed: int, episodes: int) -> np.ndarray:
    """agent_0's return ``[episodes]`` with ``seat_policy`` in its seat and experts elsewhere,
    one episode per world of ``seed`` (the same episodes for every policy)."""
    world = goal_cycle_v1.build_world(config)
    venv = VectorEnv(world, episodes, seed=seed, auto_reset=False)
    policy = SeatedPolicy(seat_policy, CycleV1Expert(config.message_length), seat=0)
    generator = np.random.default_rng([seed, 7])
    played = record_episodes(venv, policy, generator, config.max_cycles)
    order = np.argsort([episode.env_index for episode in played])
    return np.array([played[i].rewards[:, 0].sum() for i in order], dtype=np.float64)


def bound_table(config: GoalCycleV1Config, seeds: tuple[int, ...] = (0, 1, 2),
                episodes: int = 200) -> dict[str, dict[str, float]]:
    """Per policy: mean return, normalised return with its 95% interval, and the per-seed
    normalised means; plus the solo ceiling and the follower's margin over it."""
    returns = {name: np.stack([seat_returns(config, make(), seed, episodes) for seed in seeds])
               for name, make in seat_policies(config).items()}  # [seeds, episodes]
    base_name = max(("stand still", "random walker"), key=lambda name: returns[name].mean())
    base, expert = returns[base_name].mean(), returns["expert"].mean()
    scale = expert - base
    if scale <= 0:
        raise ValueError(f"the expert ({expert:.2f}) does not beat the base ({base:.2f}); "
                         "these settings cannot normalise returns")
    generator = np.random.default_rng(0)
    table: dict[str, dict[str, float]] = {}
    for name, values in returns.items():
        normalised = (values - base) / scale
        mean, low, high = bootstrap_interval(normalised, generator)
        table[name] = {"return": float(values.mean()), "normalised": mean, "low": low,
                       "high": high,
                       "per_seed": [round(float(v), 3) for v in normalised.mean(axis=1)]}
    ceiling = max(SOLO, key=lambda name: table[name]["normalised"])
    summary = {"solo_ceiling": ceiling, "base": base_name}
    if "follower" in table:
        summary["margin"] = table["follower"]["normalised"] - table[ceiling]["normalised"]
        summary["apart"] = table["follower"]["low"] > table[ceiling]["high"]
    table["summary"] = summary
    return table


def format_table(config: GoalCycleV1Config, table: dict) -> str:
    """The bound table as markdown, with the settings it was measured at."""
    lines = [f"goal_cycle_v1: size {config.size}, K = {config.num_tiles}, penalty "
             f"{config.penalty:g}, view radius {config.view_radius}, {config.max_cycles} "
             f"steps, {config.num_agents - 1} experts",
             "", "| policy | return | normalised (95% CI) | per seed |", "|---|---:|---:|---|"]
    for name, row in table.items():
        if name == "summary":
            continue
        lines.append(f"| {name} | {row['return']:.2f} | {row['normalised']:.2f} "
                     f"[{row['low']:.2f}, {row['high']:.2f}] | {row['per_seed']} |")
    summary = table["summary"]
    lines.append("")
    lines.append(f"base: {summary['base']}; solo ceiling: {summary['solo_ceiling']}")
    if "margin" in summary:
        lines.append(f"follower - solo ceiling: {summary['margin']:+.2f} normalised "
                     f"(intervals apart: {summary['apart']})")
    return "\n".join(lines)
