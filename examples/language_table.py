"""The language table of EXPERIMENTS.md, from finished run directories.

    socius run language --config language_pair --seeds 3 --set channel=gumbel --out runs/gumbel
    socius run language --config language_pair --seeds 3 --set channel=rl --out runs/rl
    socius run language --config language_pair --set seed=0 message_length=0 --out runs/mute-seed0
    ...   (mute seeds 1 and 2 likewise)
    python examples/language_table.py runs --figure docs/language_curves.png

For each condition (the run directories ``<root>/<condition>-seed<k>``) it prints the mean
over seeds with a 95% bootstrap interval of every evaluation figure, the time each run
took to first reach 90% greedy success, and cross-play between independently trained
runs (speakers of seed i with listeners of seed j != i). The figure shows greedy success
over training, mean and range over seeds, per condition.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from socius.societies.language.experiment import cross_play_between
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.statistics import bootstrap_interval, format_interval

FIGURES = ("success", "success_heldout", "success_shuffled", "success_random", "cic",
           "cic_uniform", "signalling", "signalling_permuted", "topsim", "topsim_unique",
           "topsim_null_p99", "posdis", "bosdis")
PERCENT = {"success", "success_heldout", "success_shuffled", "success_random"}


def seconds_to(run: Path, threshold: float) -> float | None:
    """Wall-clock seconds of training until the first evaluation at ``threshold`` success."""
    timing = {row["round"]: row["seconds"] for row in RunDirectory(run).rows("timing.jsonl")}
    for row in RunDirectory(run).rows():
        if row["success"] >= threshold:
            return timing.get(row["round"])
    return None


def summarise(root: Path, condition: str, generator: np.random.Generator) -> dict:
    """Every figure of one condition over its seeds."""
    runs = sorted(root.glob(f"{condition}-seed*"))
    reports = [json.loads((run / "evaluation.json").read_text()) for run in runs]
    summary = {"runs": [run.name for run in runs]}
    for key in FIGURES:
        values = [report[key] for report in reports if key in report]
        if values and key in PERCENT:
            summary[key] = format_interval(values, generator)
            summary[key + "_seeds"] = [round(v * 100, 1) for v in values]
        elif values:
            mean, low, high = bootstrap_interval(values, generator)
            summary[key] = f"{mean:.2f} [{low:.2f}, {high:.2f}]"
            summary[key + "_seeds"] = [round(v, 3) for v in values]
    if all("topsim_unique" in report for report in reports):
        summary["topsim_above_p99"] = [report["topsim_unique"] > report["topsim_null_p99"]
                                       for report in reports]
    summary["seconds_to_90"] = [seconds_to(run, 0.9) for run in runs]
    summary["seconds_total"] = [RunDirectory(run).rows("timing.jsonl")[-1]["seconds"]
                                for run in runs]
    if len(runs) > 1 and all("cross_play" in report for report in reports):
        within = [float(np.mean(report["cross_play"])) for report in reports]
        between = [float(np.mean(cross_play_between(a, b)))
                   for a in runs for b in runs if a != b]
        summary["cross_play_within"] = format_interval(within, generator)
        summary["cross_play_between"] = format_interval(between, generator)
        summary["cross_play_between_pairs"] = [round(v * 100, 1) for v in between]
    return summary


def figure(root: Path, conditions: list[str], target: Path) -> None:
    """Greedy success over training per condition: mean over seeds, shaded min-max."""
    from socius.viz.plots import seed_bands

    runs = {condition: [RunDirectory(run).rows() for run in sorted(root.glob(f"{condition}-seed*"))]
            for condition in conditions}
    seed_bands(runs, "episodes", {"greedy success": "success",
                                  "topographic similarity": "topsim"},
               target, reference={"greedy success": 1 / 3})


def main() -> None:
    """Print the table as JSON and draw the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--conditions", nargs="*", default=["gumbel", "rl", "mute"])
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    generator = np.random.default_rng(0)
    print(json.dumps({c: summarise(args.root, c, generator) for c in args.conditions},
                     indent=1))
    if args.figure is not None:
        figure(args.root, args.conditions, args.figure)


if __name__ == "__main__":
    main()
