"""Speed of the imitation trainer on ``configs/imitation.yaml``, per environment step,
beside an older checkout of socius timed in the same run.

    OMP_NUM_THREADS=1 python benchmarks/imitation.py [--reference PATH] [--rounds 3]
        [--repetitions 3]

A round is what ``socius run imitation`` does between evaluations: one episode in every
environment (``play_episodes``) and the PPO update (``update``). Each repetition times
``--rounds`` rounds of this checkout, then of ``--reference`` (a git worktree of an
older commit, e.g. ``git worktree add /tmp/socius-before a92595b``), each in a fresh
process at one torch thread; reported are the medians and their ratio. The reference is
imported by putting a folder whose ``socius`` links to it first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()


def time_rounds(rounds: int) -> dict:
    """Seconds per round (play, update) of the imported socius on the imitation config."""
    import torch

    from socius.configs import load
    from socius.envs.settings import configure
    from socius.societies.imitation import train
    from socius.societies.imitation.config import ImitationConfig, make_arenas, make_learner

    torch.set_num_threads(1)
    config = configure(ImitationConfig, load("imitation"), [])
    generator = torch.Generator().manual_seed(0)
    learner = make_learner(config, generator)
    optimizer = torch.optim.Adam(learner.parameters(), lr=config.learning_rate, foreach=True)
    # Before the engine's stream, make_arenas also took a seed (which reset overrode).
    takes_seed = "seed" in inspect.signature(make_arenas).parameters
    arenas = make_arenas(config, config.num_envs, **({"seed": 0} if takes_seed else {}),
                         dropout=config.expert_dropout)
    seconds = {"play": [], "update": []}
    for index in range(rounds + 1):  # the first round warms up
        started = time.perf_counter()
        episodes = train.play_episodes(arenas, "learner", index, learner, generator)
        played = time.perf_counter()
        train.update(config, learner, optimizer, episodes, generator)
        if index:
            seconds["play"].append(played - started)
            seconds["update"].append(time.perf_counter() - played)
    play, update = statistics.median(seconds["play"]), statistics.median(seconds["update"])
    return {"play": play, "update": update, "round": play + update,
            "env_steps_per_second": config.steps_per_round / (play + update)}


def measure(reference: str | None, rounds: int) -> dict:
    """One timing in a fresh process, of this checkout or of ``reference``."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as folder:
        if reference is not None:
            (Path(folder) / "socius").symlink_to(Path(reference).resolve())
            environment["PYTHONPATH"] = folder
        output = subprocess.run([sys.executable, str(SCRIPT), "--worker", str(rounds)],
                                env=environment, check=True, capture_output=True, text=True,
                                cwd=folder).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    """Time both checkouts and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default=None, help="an older checkout to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(time_rounds(args.worker)))
        return {}
    sides = {"this checkout": None}
    if args.reference:
        sides[f"reference ({args.reference})"] = args.reference
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for _ in range(args.repetitions):
        for name, path in sides.items():
            runs[name].append(measure(path, args.rounds))
    print(f"imitation (configs/imitation.yaml), {args.repetitions} x {args.rounds} rounds "
          "per side, one torch thread, medians")
    print("| code | play s/round | update s/round | env steps/s |")
    print("|---|---:|---:|---:|")
    medians = {}
    for name, results in runs.items():
        medians[name] = {key: statistics.median(r[key] for r in results)
                         for key in results[0]}
        m = medians[name]
        print(f"| {name} | {m['play']:.2f} | {m['update']:.2f} | "
              f"{m['env_steps_per_second']:,.0f} |")
    if args.reference:
        ratios = [a["env_steps_per_second"] / b["env_steps_per_second"]
                  for a, b in zip(*runs.values())]
        print(f"speed-up per environment step: {statistics.median(ratios):.2f}x "
              f"(median of {', '.join(f'{r:.2f}' for r in ratios)})")
    return medians


if __name__ == "__main__":
    main()
