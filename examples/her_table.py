"""Gather ``examples/her_maze.py`` results into the EXPERIMENTS.md table and figure.

    python examples/her_table.py RESULT.json [RESULT.json ...] [--figure docs/her_success.png]

Results are grouped by what each file says it ran (HER or not, the observation keys, the
run length); each group's success at 10k, 30k and 100k steps is the mean over its seeds
with a 95% bootstrap interval, and the figure draws every group's curve with a band from
its lowest to its highest seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from socius.societies.runs.figures import save_figure
from socius.societies.runs.tables import interval_table
from socius.viz.plots import seed_bands

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("results", nargs="+", type=Path, help="JSON files of her_maze.py")
parser.add_argument("--figure", type=Path, default=None, help="write the curves here (PNG)")
args = parser.parse_args()

groups: dict[str, list[dict]] = {}
for path in args.results:
    result = json.loads(path.read_text())
    # The default goal_env observation is the view, others, position and move mask.
    observation = "position" if result["observation"] == ["position"] else "view+position"
    arm = "HER" if result["her"] else "no HER"
    label = f"{arm}, {observation}, {result['steps'] // 1000}k runs"
    curve = [{"step": 0, "success": result["untrained_success"]}, *result["curve"]]
    groups.setdefault(label, []).append({row["step"]: row["success"] for row in curve})

checkpoints = {f"success at {step // 1000}k": step for step in (10_000, 30_000, 100_000)}
# A seed whose run stopped before a checkpoint has no value there: the cell prints '-'.
rows = {label: {"seeds": str(len(runs)),
                **{column: [100 * run[step] if step in run else None for run in runs]
                   for column, step in checkpoints.items()}}
        for label, runs in groups.items()}
print(interval_table(rows, ["seeds", *checkpoints], np.random.default_rng(0), label="group",
                     formats=".1f", seeds=True))

if args.figure is not None:
    tables = {label: [[{"step": step, "success": value} for step, value in sorted(run.items())]
                      for run in runs] for label, runs in groups.items()}
    save_figure(seed_bands(tables, "step", {"success on 200 fixed episodes": "success"},
                           title="maze_v0 four rooms 11x11: DQN with and without HER"),
                args.figure)
    print(f"figure: {args.figure}")
