"""The language table of EXPERIMENTS.md, from finished run directories.

    socius run language --config language_pair --seeds 3 --set channel=gumbel --out runs/gumbel
    socius run language --config language_pair --seeds 3 --set channel=rl --out runs/rl
    socius run language --config language_pair --seeds 3 --set world.message_length=0 \
        --out runs/mute
    python examples/language_table.py runs --figure docs/language_curves.png

For each condition (the run directories ``<root>/<condition>-seed<k>``) it prints a
markdown table of every evaluation figure, the mean over seeds with a 95% bootstrap
interval and the per-seed values (success and cross-play in %), with cross-play between
independently trained runs (speakers of seed i with listeners of seed j != i); then, as
JSON, the time each run took to first reach 90% greedy success and the cross-play pairs.
The figure shows greedy success over training, mean and range over seeds, per condition.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from socius.societies.language.experiment import cross_play_between
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.figures import save_figure
from socius.societies.runs.tables import interval_table
from socius.viz.plots import seed_bands

FIGURES = ("success", "wrong_object", "timeout", "success_heldout", "wrong_object_heldout",
           "timeout_heldout", "random_policy_success", "random_policy_return",
           "success_shuffled", "success_random", "cic",
           "cic_uniform", "signalling", "signalling_permuted", "topsim", "topsim_unique",
           "topsim_null_p99", "posdis", "bosdis")
CROSS_PLAY = ("cross_play_within", "cross_play_between")
PERCENT = {"success", "wrong_object", "timeout", "success_heldout", "wrong_object_heldout",
           "timeout_heldout", "random_policy_success", "success_shuffled", "success_random",
           *CROSS_PLAY}


def seconds_to(run: Path, threshold: float) -> float | None:
    """Wall-clock seconds of training until the first evaluation at ``threshold`` success."""
    timing = {row["round"]: row["seconds"] for row in RunDirectory(run).rows("timing.jsonl")}
    for row in RunDirectory(run).rows():
        if row["success"] >= threshold:
            return timing.get(row["round"])
    return None


def summarise(root: Path, condition: str) -> tuple[dict, dict]:
    """One condition: the per-seed values of every table figure, and the details beside."""
    runs = sorted(root.glob(f"{condition}-seed*"))
    reports = [json.loads((run / "evaluation.json").read_text()) for run in runs]
    values: dict = {"seeds": str(len(runs))}
    values.update({key: [report[key] for report in reports if key in report]
                   for key in FIGURES})
    details: dict = {"runs": [run.name for run in runs]}
    if all("topsim_unique" in report for report in reports):
        details["topsim_above_p99"] = [report["topsim_unique"] > report["topsim_null_p99"]
                                       for report in reports]
    details["seconds_to_90"] = [seconds_to(run, 0.9) for run in runs]
    details["seconds_total"] = [RunDirectory(run).rows("timing.jsonl")[-1]["seconds"]
                                for run in runs]
    if len(runs) > 1 and all("cross_play" in report for report in reports):
        values["cross_play_within"] = [float(np.mean(report["cross_play"]))
                                       for report in reports]
        values["cross_play_between"] = [float(np.mean(cross_play_between(a, b)))
                                        for a in runs for b in runs if a != b]
        details["cross_play_between_pairs"] = [round(v * 100, 1)
                                               for v in values["cross_play_between"]]
    return values, details


def table(summaries: dict[str, dict]) -> str:
    """Figures in rows, conditions in columns: mean [95% interval] (per-seed values)."""
    formats = {key: ".1f" if key in PERCENT else ".2f" for key in (*FIGURES, *CROSS_PLAY)}
    return interval_table(summaries, ["seeds", *FIGURES, *CROSS_PLAY],
                          np.random.default_rng(0), label="figure", formats=formats,
                          scale={key: 100.0 for key in PERCENT}, seeds=True, transpose=True)


def figure(root: Path, conditions: list[str], target: Path) -> None:
    """Greedy success over training per condition: mean over seeds, shaded min-max."""
    runs = {condition: [RunDirectory(run).rows() for run in sorted(root.glob(f"{condition}-seed*"))]
            for condition in conditions}
    save_figure(seed_bands(runs, "episodes", {"greedy success": "success",
                                              "topographic similarity": "topsim"},
                           reference={"greedy success": 1 / 3}), target)


def main() -> None:
    """Print the table (markdown) and its details (JSON), and draw the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--conditions", nargs="*", default=["gumbel", "rl", "mute"])
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    summaries = {c: summarise(args.root, c) for c in args.conditions}
    print(table({c: values for c, (values, _) in summaries.items()}))
    print(json.dumps({c: details for c, (_, details) in summaries.items()}, indent=1))
    if args.figure is not None:
        figure(args.root, args.conditions, args.figure)


if __name__ == "__main__":
    main()
