"""How far one machine goes with populations: three measurements, medians of repeats.

    OMP_NUM_THREADS=1 python benchmarks/scaling.py [--repetitions 3] [--duration 0.5]

1. Environment throughput: agent-steps/s of the torch vector facade (auto-reset included,
   random actions pre-sampled; ``speed.socius_vector``) for populations of N = 2, 8, 32
   and 128 agents per world, at B = 1 and B = 256 worlds, on ``referential_v0`` (N/2
   speaker-listener pairs; the room grows so that N/2 + 3 objects fit) and
   ``goal_cycle_v0`` (the grid grows to about 4 free cells per agent).
2. Training throughput: environment steps/s of the language trainer (acting, stepping and
   the PPO updates of one round; ``training.SociusTrainer``, evaluation left out) for
   populations of 2 and 8 speakers (and as many listeners), 256 worlds.
3. Grid throughput: trials/hour of a sweep of 4 short language runs (``socius.societies
   .grid``: train, evaluate, plot) with 1 and then 2 local worker processes, the CPU
   seconds the workers spent per trial, and the largest resident memory of one worker.

Results, machine notes and what changes on a cluster: docs/scaling.md. Wall-clock times
on a shared machine are noisy; each figure is the median of ``--repetitions`` runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

try:
    from socius.benchmarks import speed, training
except ImportError:  # run as a plain script from a checkout without the package
    import speed
    import training

POPULATIONS = (2, 8, 32, 128)
BATCHES = (1, 256)
GRID_TRIALS = ["rounds=12", "eval_every=12", "num_envs=64", "eval_envs=32", "population=2"]
"""One short language run of the grid measurement (a few seconds on one core)."""


def world_settings(name: str, agents: int) -> dict:
    """Settings of a world with ``agents`` agents and room for all of them."""
    if name == "referential_v0":
        return {"num_agents": agents, "room_size": max(5, math.ceil(math.sqrt(agents / 2 + 3)))}
    return {"num_agents": agents, "size": max(9, math.ceil(math.sqrt(4 * agents)) + 2)}


def environment_throughput(repetitions: int, duration: float) -> list[dict]:
    """Median agent-steps/s per world, population and batch size."""
    rows = []
    for name in ("referential_v0", "goal_cycle_v0"):
        for agents in POPULATIONS:
            settings = world_settings(name, agents)
            for batch in BATCHES:
                runs = [speed.socius_vector(name, batch, duration, seed=repetition, **settings)
                        for repetition in range(repetitions)]
                rows.append({"world": name, "agents": agents, "worlds": batch,
                             "settings": settings,
                             "agent_steps_per_second": statistics.median(runs)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def training_throughput(repetitions: int, rounds: int = 3) -> list[dict]:
    """Median environment steps/s of the language trainer per population size."""
    rows = []
    for population in (2, 8):
        trainer = training.SociusTrainer(training.LanguageConfig(population=population))
        trainer.iterate()  # warm-up
        runs = []
        for _ in range(repetitions):
            steps, seconds = training.timed(
                lambda trainer=trainer: sum(trainer.iterate() for _ in range(rounds)))
            runs.append(steps / seconds)
        # Each world seats one speaker-listener pair drawn from the population.
        rows.append({"population": population, "learners": 2 * population,
                     "worlds": trainer.config.num_envs, "parameters": trainer.parameters(),
                     "env_steps_per_second": statistics.median(runs)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def grid_throughput(repetitions: int, trials: int = 4) -> list[dict]:
    """Median trials/hour of a sweep of ``trials`` short language runs per worker count."""
    from socius.configs import load
    from socius.societies.language import experiment as language_runs
    from socius.societies.runs.grid import expand, sweep

    rows = []
    for workers in (1, 2):
        runs, processor = [], []
        for _ in range(repetitions):
            before = children_seconds()
            root = Path(tempfile.mkdtemp(prefix="socius-scaling-"))
            try:
                plan = expand("language", language_runs, load("language"), GRID_TRIALS, [],
                              trials, root / "run")
                start = time.perf_counter()
                outcomes = sweep(plan, root / "run", workers=workers, echo=lambda text: None)
                seconds = time.perf_counter() - start
            finally:
                shutil.rmtree(root)
            processor.append((children_seconds() - before) / trials)
            if not all(outcome.result is not None for outcome in outcomes):
                raise RuntimeError(f"a trial failed with {workers} workers")
            runs.append(trials * 3600 / seconds)
        # CPU time does not depend on what else the machine runs; wall time does.
        rows.append({"workers": workers, "trials": trials,
                     "trials_per_hour": statistics.median(runs),
                     "seconds_per_sweep": trials * 3600 / statistics.median(runs),
                     "worker_cpu_seconds_per_trial": statistics.median(processor)})
        print(json.dumps(rows[-1]), flush=True)
    # ru_maxrss is in kilobytes on Linux: the largest worker (child) process so far.
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append({"largest_worker_mb": round(largest)})
    print(json.dumps(rows[-1]), flush=True)
    return rows


def children_seconds() -> float:
    """CPU seconds (user + system) of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict:
    """Cores, memory and the versions that matter."""
    import numpy

    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cores": cores, "memory_gb": round(pages / 2**30, 1),
            "load_average": os.getloadavg(), "python": platform.python_version(),
            "numpy": numpy.__version__, "torch": torch.__version__}


def main(argv: list[str] | None = None) -> dict:
    """Run the three measurements and print them as JSON lines, then one summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--duration", type=float, default=0.5,
                        help="seconds of stepping per environment measurement")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["environment", "training", "grid"])
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error("--repetitions must be >= 1")
    torch.set_num_threads(1)
    report = {"machine": machine()}
    print(json.dumps(report["machine"]), flush=True)
    if "environment" not in args.skip:
        report["environment"] = environment_throughput(args.repetitions, args.duration)
    if "training" not in args.skip:
        report["training"] = training_throughput(args.repetitions)
    if "grid" not in args.skip:
        report["grid"] = grid_throughput(args.repetitions)
    report["machine"]["load_average_after"] = os.getloadavg()
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
