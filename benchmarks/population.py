"""Two ways to run a population's stacked members in one update step, timed side by side:
per-member slices of the stacked weights and one ``torch.vmap`` of ``functional_call``
over the samples grouped by member and padded (``Population.run`` picks by member count,
from these figures).

    OMP_NUM_THREADS=1 python benchmarks/population.py [--samples 1280] [--repetitions 20]

Each timing is a forward and backward pass of the language listener (hidden 64, the
README's world) on ``--samples`` samples spread evenly over P members, one torch thread,
median of ``--repetitions``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import numpy as np
import torch

from socius.envs import core
from socius.societies.engine import population as population_module
from socius.societies.engine.population import Population
from socius.societies.language.agents import LISTENER, make_population, role_inputs
from socius.societies.language.config import LanguageConfig, make_world


def run_sliced(population: Population, role: str, inputs, members):
    """``Population.run``'s slices, whatever the member count."""
    with mock.patch.object(population_module, "VMAP_FROM", 10**9):
        return population.run(role, inputs, members)


def run_vmapped(population: Population, role: str, inputs, members):
    """``Population.run``'s vmap, whatever the member count."""
    return population._run_vmapped(role, inputs, torch.as_tensor(members))


def timing(run, population, inputs, members, repetitions: int) -> float:
    """Median seconds of one forward and backward pass."""
    seconds = []
    for index in range(repetitions + 3):
        started = time.perf_counter()
        outputs = run(population, "listener", inputs, members)
        (outputs["move_logits"].logsumexp(-1).mean() + outputs["value"].pow(2).mean()).backward()
        if index >= 3:
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1280)
    parser.add_argument("--repetitions", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"listener forward + backward, {args.samples} samples, one torch thread, "
          f"median of {args.repetitions}")
    print("| members P | slices (ms) | vmap (ms) | vmap / slices |")
    print("|---:|---:|---:|---:|")
    for size in (1, 4, 8):
        config = LanguageConfig(population=size)
        world = make_world(config, "train")
        population = make_population(config, world, torch.Generator().manual_seed(0))
        _, observation = core.reset(world, 0, args.samples)
        inputs = role_inputs(observation, LISTENER)
        members = np.arange(args.samples) % size
        sliced = timing(run_sliced, population, inputs, members, args.repetitions)
        mapped = timing(run_vmapped, population, inputs, members, args.repetitions)
        print(f"| {size} | {1000 * sliced:.1f} | {1000 * mapped:.1f} | {mapped / sliced:.2f} |")


if __name__ == "__main__":
    main()
