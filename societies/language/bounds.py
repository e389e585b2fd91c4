"""The bound table of ``referential_v0``: scripted codes (``agents.referential_codes``) on
the 8 x 8 held-out split, with each outcome counted apart (success, wrong object,
timeout), before any agent learns to talk.

The world is the one the issue fixed: 8 colours x 8 shapes, the 8 pairs ``(i, i)`` held
out (every colour and every shape is still seen in training), held-out rooms with one
distractor of the target's colour and one of its shape, V = 8 and L = 2 (64 messages for
64 meanings). The mute code plays the same rooms in a mute world (L = 0).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from socius.agents.referential_codes import CODES, ScriptedCode
from socius.envs import referential_v0
from socius.envs.referential_v0 import OUTCOMES, ReferentialConfig
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes
from socius.societies.runs.statistics import bootstrap_interval

HELD_OUT_8X8 = tuple((i, i) for i in range(8))
"""Eight held-out pairs: each colour and each shape once, so training shows all of them."""

BOUND_WORLD = ReferentialConfig(
    num_agents=2, room_size=5, view_radius=4, num_objects=3, n_colours=8, n_shapes=8,
    vocab_size=8, message_length=2, max_cycles=11, held_out=HELD_OUT_8X8, split="test",
    contrast="test")
"""The 8 x 8 held-out split the bounds are measured on."""


def code_outcomes(config: ReferentialConfig, code: str, seed: int,
                  episodes: int) -> dict[str, np.ndarray]:
    """Each outcome per episode ``[episodes]`` (0/1) of ``code`` on ``episodes`` worlds."""
    if config.num_agents != 2:
        raise ValueError(f"config field 'num_agents' must be 2 for the bound table (one "
                         f"group: outcomes are counted per room); got {config.num_agents}")
    if code == "mute":
        config = dataclasses.replace(config, message_length=0)
    world = referential_v0.build_world(config)
    venv = VectorEnv(world, episodes, seed=seed, auto_reset=False)
    played = record_episodes(venv, ScriptedCode(world, code), np.random.default_rng([seed, 3]),
                             config.max_cycles)
    listener = int(world.info["listeners"][0])
    # One group per world: its episode ends on the listener's arrival, or times out.
    success = np.array([episode.goal_achieved[:, listener].sum() > 0 for episode in played])
    arrived = np.array([bool(episode.terminations[-1].any()) for episode in played])
    return {"success": success.astype(float), "wrong_object": (arrived & ~success).astype(float),
            "timeout": (~arrived).astype(float)}


def bound_table(config: ReferentialConfig = BOUND_WORLD, seeds: tuple[int, ...] = (0, 1, 2),
                episodes: int = 500) -> dict[str, dict[str, float]]:
    """Per code: the rate of each outcome (mean and 95% interval over every episode of
    every seed), beside chance 1/K."""
    generator = np.random.default_rng(0)
    table: dict[str, dict[str, float]] = {}
    for code in CODES:
        runs = [code_outcomes(config, code, seed, episodes) for seed in seeds]
        row: dict[str, float] = {}
        for key in OUTCOMES:
            mean, low, high = bootstrap_interval(np.concatenate([run[key] for run in runs]),
                                                 generator)
            row[key], row[f"{key}_low"], row[f"{key}_high"] = mean, low, high
        table[code] = row
    table["chance"] = {"success": 1 / config.num_objects}
    return table


def format_table(config: ReferentialConfig, table: dict) -> str:
    """The bound table as markdown."""
    lines = [f"referential_v0: {config.n_colours} colours x {config.n_shapes} shapes, "
             f"{len(config.held_out)} pairs held out, split {config.split}, contrast "
             f"{config.contrast}, K = {config.num_objects}, V = {config.vocab_size}, "
             f"L = {config.message_length}, {config.max_cycles} steps", "",
             "| scripted code | success (95% CI) | wrong object | timeout |",
             "|---|---:|---:|---:|"]
    for code in CODES:
        row = table[code]
        lines.append(f"| {code} | {row['success']:.3f} [{row['success_low']:.3f}, "
                     f"{row['success_high']:.3f}] | {row['wrong_object']:.3f} | "
                     f"{row['timeout']:.3f} |")
    lines.append(f"\nchance (1/K): {table['chance']['success']:.3f}")
    return "\n".join(lines)
