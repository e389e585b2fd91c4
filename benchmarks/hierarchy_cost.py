"""Cost of the socius agent beside the flat one, in the imitation experiment: seconds to
play a round, per PPO update and per low-level update, at one torch thread.

    python benchmarks/hierarchy_cost.py [--rounds 5] [--agents flat hierarchical walker]

A round is what ``socius run imitation`` does between evaluations, on
``configs/imitation.yaml`` with only ``agent`` changed: one episode in every environment,
the PPO epochs, and (hierarchical) the low level's updates on its replay. The first round
warms up; reported are medians over the others, as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def time_agent(agent: str, rounds: int) -> dict:
    """Median seconds of each part of a round for ``agent``."""
    import torch

    from socius.agents.subgoal_cells import LowLevel
    from socius.configs import load
    from socius.envs.settings import configure
    from socius.societies.imitation import train
    from socius.societies.imitation.config import ImitationConfig, make_arenas, make_learner
    from socius.societies.imitation.subgoals import learn_walks

    torch.set_num_threads(1)
    config = configure(ImitationConfig, load("imitation"), [f"agent={agent}"])
    generator = torch.Generator().manual_seed(0)
    learner = make_learner(config, generator)
    optimizer = torch.optim.Adam(learner.parameters(), lr=config.learning_rate, foreach=True)
    arenas = make_arenas(config, config.num_envs)
    world = arenas[0][0]
    low = LowLevel.start(config, (world.height, world.width), generator)
    parts: dict[str, list[float]] = {"play": [], "update": [], "low_level": []}
    for index in range(rounds + 1):  # the first round warms up
        started = time.perf_counter()
        episodes = train.play_episodes(arenas, "learner", index, learner, generator,
                                       config=config, skill=low.skill)
        played = time.perf_counter()
        train.update(config, learner, optimizer, episodes, generator)
        updated = time.perf_counter()
        low, _ = learn_walks(config, low, episodes)
        if index:
            parts["play"].append(played - started)
            parts["update"].append(updated - played)
            parts["low_level"].append(time.perf_counter() - updated)
    median = {key: statistics.median(values) for key, values in parts.items()}
    ppo_updates = config.epochs * config.minibatches
    return {"agent": agent, "play_s": round(median["play"], 3),
            "ppo_update_ms": round(1000 * median["update"] / ppo_updates, 1),
            "low_level_update_ms": (round(1000 * median["low_level"] / config.skill_updates, 1)
                                    if low.skill is not None else None),
            "round_s": round(sum(median.values()), 3),
            "env_steps_per_s": round(config.steps_per_round / sum(median.values()))}


def main() -> None:
    """Time every agent and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--agents", nargs="*", default=["flat", "hierarchical", "walker"])
    args = parser.parse_args()
    for agent in args.agents:
        print(json.dumps(time_agent(agent, args.rounds)))


if __name__ == "__main__":
    main()
