"""The imitation table of EXPERIMENTS.md, from finished run directories.

    socius run imitation --seeds 3 --out runs/imitation/social
    socius run imitation --seeds 3 --set aux_weight=0 --out runs/imitation/noaux
    socius run imitation --seeds 3 --set world.num_agents=1 --out runs/imitation/solo
    socius run imitation --seeds 3 --set method=bc aux_weight=0 --out runs/imitation/bc
    python examples/imitation_table.py runs/imitation --figure docs/imitation_curves.png

For each condition (run directories ``<root>/<condition>-seed<k>``) it prints, as a
markdown table, every measure of ``evaluation.json`` as the mean over seeds with a 95%
bootstrap interval and the per-seed values, and each learner's gain over the solo learner
(normalised return beside experts, against the solo learner's there); then, as JSON,
what a scripted follower that trails the nearest expert earns on the same episodes of the
first condition's runs (a calibration).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from socius.agents.cycle_policies import TrailFollower
from socius.agents.experts import scripted_expert
from socius.agents.scripted import ExpertFollower, SeatedPolicy
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes
from socius.societies.imitation.config import build_world
from socius.societies.imitation.evaluate import episode_seed
from socius.societies.imitation.experiment import EXPERIMENT as IMITATION
from socius.societies.imitation.metrics import normalised_return
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.figures import save_figure
from socius.societies.runs.tables import interval_table
from socius.viz.plots import seed_bands

MEASURES = ("normalised_with", "normalised_alone", "normalised_heldout_with",
            "normalised_heldout_alone", "transmission", "transmission_heldout",
            "return_with", "return_alone", "expert_with", "random_with", "following_with",
            "following_random_with", "agreement_with", "agreement_alone",
            "peer_accuracy_with", "peer_majority_with", "peer_repeat_with", "strays_with")


def reports(root: Path, condition: str) -> list[dict]:
    """The final evaluation of every seed of a condition."""
    return [json.loads((run / "evaluation.json").read_text())
            for run in sorted(root.glob(f"{condition}-seed*"))]


def summarise(root: Path, conditions: list[str]) -> str:
    """The markdown table: every measure (rows) per condition, and the gain over solo."""
    found = {c: rs for c in conditions if (rs := reports(root, c))}
    values = {c: {"seeds": str(len(rs)), **{m: [r[m] for r in rs if m in r] for m in MEASURES}}
              for c, rs in found.items()}
    if "solo" in found:
        # Gains are measured in the same setting: beside experts, against the solo learner
        # placed beside them.
        solo = np.mean([r["normalised_with"] for r in found["solo"]])
        for condition, rs in found.items():
            if condition != "solo":
                values[condition]["gain_over_solo"] = [r["normalised_with"] - solo
                                                       for r in rs]
    return interval_table(values, ["seeds", *MEASURES, "gain_over_solo"],
                          np.random.default_rng(0), label="measure", formats=".2f",
                          seeds=True, transpose=True)


def follower_calibration(root: Path, condition: str = "social") -> dict:
    """What trailing an expert alone earns (``ExpertFollower`` in the learner's seat), on
    the evaluation episodes of each seed of ``condition``, normalised like the learners."""
    values = []
    for run in sorted(root.glob(f"{condition}-seed*")):
        config = IMITATION.config_of(run)
        report = json.loads((run / "evaluation.json").read_text())
        world = build_world(config, config.world_for(config.eval_experts))
        # goal_cycle_v1's follower notes the links it sees; v0's trails from its view.
        follower = (TrailFollower(tuple(range(1, world.num_agents)))
                    if config.task == "goal_cycle_v1" else ExpertFollower())
        venv = VectorEnv(world, config.eval_envs)
        episodes = record_episodes(venv, SeatedPolicy(follower, scripted_expert(world)),
                                   np.random.default_rng(config.seed), config.world.max_cycles,
                                   seed=episode_seed(config, config.seed, False),
                                   num_episodes=config.eval_envs)
        mean = float(np.mean([e.rewards[:, 0].sum() for e in episodes]))
        base = report.get("base_with", report["random_with"])  # older runs: the walker
        values.append(normalised_return(mean, base, report["expert_with"]))
    return {"follower_normalised_with": values}


def figure(root: Path, conditions: list[str], target: Path) -> None:
    """Normalised return with experts and alone, and following, over training (dashed: the
    0.6 target, and the random walker's following)."""
    walker = np.mean([r["following_random_with"] for c in conditions for r in reports(root, c)])
    runs = {c: [RunDirectory(run).rows() for run in sorted(root.glob(f"{c}-seed*"))]
            for c in conditions}
    save_figure(seed_bands({c: tables for c, tables in runs.items() if tables}, "env_steps",
                           {"normalised return, with experts": "normalised_with",
                            "normalised return, experts removed": "normalised_alone",
                            "steps with an expert in view": "following_with"},
                           reference={"normalised return, with experts": 0.6,
                                      "steps with an expert in view": float(walker)}), target)


def main() -> None:
    """Print the table (markdown) and the follower calibration (JSON); draw the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--conditions", nargs="*", default=["social", "noaux", "solo", "bc"])
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    print(summarise(args.root, args.conditions))
    print(json.dumps({"scripted_follower": follower_calibration(args.root, args.conditions[0])},
                     indent=1))
    if args.figure is not None:
        figure(args.root, args.conditions, args.figure)


if __name__ == "__main__":
    main()
