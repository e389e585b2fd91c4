"""The imitation table of EXPERIMENTS.md, from finished run directories.

    socius run imitation --seeds 3 --out runs/imitation/social
    socius run imitation --seeds 3 --set aux_weight=0 --out runs/imitation/noaux
    socius run imitation --seeds 3 --set experts=0 --out runs/imitation/solo
    socius run imitation --seeds 3 --set method=bc aux_weight=0 --out runs/imitation/bc
    python examples/imitation_table.py runs/imitation --figure docs/imitation_curves.png

For each condition (run directories ``<root>/<condition>-seed<k>``) it prints every
measure of ``evaluation.json`` as the mean over seeds with a 95% bootstrap interval and
the per-seed values, each learner's gain over the solo learner (normalised return beside
experts, against the solo learner's there) and what a scripted follower that trails the
nearest expert earns on the same episodes (a calibration).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.statistics import bootstrap_interval

MEASURES = ("normalised_with", "normalised_alone", "normalised_heldout_with",
            "normalised_heldout_alone", "transmission", "transmission_heldout",
            "return_with", "return_alone", "expert_with", "random_with", "following_with",
            "following_random_with", "agreement_with", "agreement_alone",
            "peer_accuracy_with", "peer_majority_with")


def reports(root: Path, condition: str) -> list[dict]:
    """The final evaluation of every seed of a condition."""
    return [json.loads((run / "evaluation.json").read_text())
            for run in sorted(root.glob(f"{condition}-seed*"))]


def interval(values, generator: np.random.Generator) -> str:
    """``mean [low, high] (seed values)``."""
    mean, low, high = bootstrap_interval(values, generator)
    return f"{mean:.2f} [{low:.2f}, {high:.2f}] ({', '.join(f'{v:.2f}' for v in values)})"


def summarise(root: Path, conditions: list[str], generator: np.random.Generator) -> dict:
    """Every measure per condition, and the targets."""
    found = {c: reports(root, c) for c in conditions}
    table = {c: {m: interval([r[m] for r in rs], generator) for m in MEASURES}
             for c, rs in found.items() if rs}
    if "solo" in found and found["solo"]:
        # Gains are measured in the same setting: beside experts, against the solo learner
        # placed beside them.
        solo = np.mean([r["normalised_with"] for r in found["solo"]])
        for condition, rs in found.items():
            if rs and condition != "solo":
                table[condition]["gain_over_solo"] = interval(
                    [r["normalised_with"] - solo for r in rs], generator)
    return table


def follower_calibration(root: Path, condition: str = "social") -> dict:
    """What trailing an expert alone earns (``ExpertFollower`` in the learner's seat), on
    the evaluation episodes of each seed of ``condition``, normalised like the learners."""
    from socius.agents.scripted import CycleExpert, ExpertFollower, SeatedPolicy
    from socius.envs import make_vector
    from socius.societies.imitation.evaluate import episode_seed
    from socius.societies.imitation.metrics import normalised_return
    from socius.societies.imitation.experiment import config_from_run
    from socius.societies.engine.rollout import collect

    values = []
    for run in sorted(root.glob(f"{condition}-seed*")):
        config, report = config_from_run(run), json.loads((run / "evaluation.json").read_text())
        venv = make_vector("goal_cycle_v0", config.eval_envs,
                           **config.world_settings(config.eval_experts))
        episodes = collect(venv, SeatedPolicy(ExpertFollower(), CycleExpert()),
                           np.random.default_rng(config.seed), config.max_cycles,
                           seed=episode_seed(config, config.seed, False),
                           num_episodes=config.eval_envs)
        mean = float(np.mean([e.rewards[:, 0].sum() for e in episodes]))
        values.append(normalised_return(mean, report["random_with"], report["expert_with"]))
    return {"follower_normalised_with": values}


def figure(root: Path, conditions: list[str], target: Path) -> None:
    """Normalised return with experts and alone, and following, over training (dashed: the
    0.6 target, and the random walker's following)."""
    from socius.viz.plots import seed_bands

    walker = np.mean([r["following_random_with"] for c in conditions for r in reports(root, c)])
    runs = {c: [RunDirectory(run).rows() for run in sorted(root.glob(f"{c}-seed*"))]
            for c in conditions}
    seed_bands({c: tables for c, tables in runs.items() if tables}, "env_steps",
               {"normalised return, with experts": "normalised_with",
                "normalised return, experts removed": "normalised_alone",
                "steps with an expert in view": "following_with"},
               target, reference={"normalised return, with experts": 0.6,
                                  "steps with an expert in view": float(walker)})


def main() -> None:
    """Print the table as JSON and draw the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--conditions", nargs="*", default=["social", "noaux", "solo", "bc"])
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    table = summarise(args.root, args.conditions, np.random.default_rng(0))
    table["scripted_follower"] = follower_calibration(args.root)
    print(json.dumps(table, indent=1))
    if args.figure is not None:
        figure(args.root, args.conditions, args.figure)


if __name__ == "__main__":
    main()
