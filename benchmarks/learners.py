"""Cost of the offline learners: gradient updates per second and peak memory.

    python benchmarks/learners.py [--updates 500] [--threads 2]

Each learner trains on the same relabelled batches from the default GCRL maze
dataset; the figure is the median of 3 timed blocks after a warm-up. Peak
memory is the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import torch

from socius.agents.gcrl import AGENT_KINDS, GCRLAgent, GCRLConfig, GoalDataset
from socius.societies.navigation.gcrl import GCRLRunConfig, collect_dataset


def updates_per_second(kind: str, dataset: GoalDataset, num_cells: int, updates: int) -> float:
    """Median updates/s of one learner over 3 blocks of ``updates`` gradient steps."""
    config = GCRLConfig(agent=kind)
    agent = GCRLAgent(config, num_cells, torch.Generator().manual_seed(0))
    generator = np.random.default_rng(0)
    batches = [dataset.sample(generator, config) for _ in range(updates)]
    for batch in batches[:20]:
        agent.update(batch)
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        for batch in batches:
            agent.update(batch)
        rates.append(updates / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Print updates/s per learner and the peak memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    episodes, world = collect_dataset(GCRLRunConfig())
    dataset = GoalDataset(episodes, world.width)
    rates = {kind: updates_per_second(kind, dataset, world.height * world.width, args.updates)
             for kind in AGENT_KINDS}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, {args.threads} threads, batch "
          f"{GCRLConfig().batch_size}, hidden {GCRLConfig().hidden}, "
          f"{len(dataset)} transitions")
    for kind, rate in rates.items():
        print(f"{kind:>5}: {rate:,.0f} updates/s")
    print(f"peak resident memory: {peak_mb:,.0f} MB")
    return {**rates, "peak_mb": peak_mb}


if __name__ == "__main__":
    main()
