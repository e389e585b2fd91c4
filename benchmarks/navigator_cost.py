"""Cost of the navigator's learners on 21 x 21 mazes, at one torch thread: milliseconds
per gradient update (batch 32) and per acting step of 128 agents, for each body.

    python benchmarks/navigator_cost.py [--repeats 30]

The data are 20,000 steps of ``socius run navigate``'s noisy expert in 10 of its
training mazes (the learners see the same batches). Acting plays the hierarchical mode
(flat for the low level alone, GC-BC's own for GC-BC) in a bank of those mazes. The first
few calls warm up; reported are medians, as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def cost(learner: str, body: str, repeats: int) -> dict:
    """Median milliseconds per update and per acting step of one navigator."""
    import dataclasses

    import numpy as np
    import torch

    from socius.agents.navigator import Navigator, NavigatorConfig
    from socius.agents.navigator_policy import NavigatorPolicy
    from socius.envs.vector import VectorEnv
    from socius.societies.navigation import online
    from socius.societies.navigation.navigate import NavigateConfig, collect, modes, training_worlds

    torch.set_num_threads(1)
    config = dataclasses.replace(
        NavigateConfig(), train_layouts=10, data_steps=20_000,
        learner=NavigatorConfig(learner=learner, body=body, known_moves=body == "propagation"))
    dataset = collect(config, training_worlds(config))
    navigator = Navigator(config.learner, torch.Generator().manual_seed(0))
    batches = np.random.default_rng(0)
    update_s = []
    for index in range(repeats + 3):
        batch = dataset.sample(batches, config.learner)
        started = time.perf_counter()
        navigator.update(batch)
        if index >= 3:
            update_s.append(time.perf_counter() - started)
    world = online.layout_bank(config)
    venv = VectorEnv(world, 128, seed=0)
    policy = NavigatorPolicy(navigator, modes(config)[0], world.height, world.width)
    venv.reset(seed=0)
    state = policy.initial_state(128)
    done, generator, act_s = np.ones(128, bool), np.random.default_rng(0), []
    from socius.envs import core

    for index in range(repeats + 3):
        started = time.perf_counter()
        action, state = policy.act(core.observe(world, venv.state), state, done, generator)
        if index >= 3:
            act_s.append(time.perf_counter() - started)
        _, _, terminated, truncated, _ = venv.step(action)
        done = np.asarray(terminated) | np.asarray(truncated)  # episode flags [B]
    return {"learner": learner, "body": body,
            "update_ms": round(1000 * statistics.median(update_s), 1),
            "act_ms_128_agents": round(1000 * statistics.median(act_s), 1)}


def main() -> None:
    """Print the cost of each learner and body as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    # "low" is the flat agent trained alone: the control the two levels are priced against.
    for learner, body in (("hierarchical", "conv"), ("hierarchical", "propagation"),
                          ("low", "propagation"), ("gcbc", "conv")):
        print(json.dumps(cost(learner, body, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
