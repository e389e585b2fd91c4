"""How well do a trained ``hier`` run's two values order goals by distance?

    python examples/gcrl_value_ranks.py runs/gcrl-hier-seed0 [more run directories]

For 20,000 random (state, goal) cell pairs of the run's maze, it prints the Spearman
correlation between the true shortest-path distance and each value's ranking (higher
value = nearer): the flat reach probability V and the hierarchical V_H, overall and by
distance bucket. A policy can only follow a value that ranks goals correctly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from socius.agents.gcrl import GCRLAgent, GCRLConfig
from socius.agents.tabular import free_cells, state_distances
from socius.envs.maze_v0 import CONFIG, build_world
from socius.envs.settings import configure
from socius.societies.language.metrics import spearman

BUCKETS = ((1, 10), (10, 25), (25, 50), (50, 10_000))

for directory in map(Path, sys.argv[1:]):
    saved = json.loads((directory / "config.json").read_text())
    world = build_world(configure(CONFIG, {
        "layout": saved["layout"], "size": saved["size"], "layout_seed": saved["layout_seed"]}))
    walls = world.info["walls"][0]
    cells, _ = free_cells(walls)
    distance = state_distances(walls)
    learner = GCRLConfig(**saved["learner"])
    agent = GCRLAgent(learner, world.height * world.width, torch.Generator().manual_seed(0))
    agent.load_state_dict(torch.load(directory / "checkpoint.pt"))

    generator = np.random.default_rng(0)
    start = generator.integers(0, len(cells), 20_000)
    goal = generator.integers(0, len(cells), 20_000)
    index = torch.as_tensor(cells[:, 0] * world.width + cells[:, 1])
    with torch.no_grad():
        flat = agent.value(index[start], index[goal]).numpy()
        hierarchical = agent.high_value(index[start], index[goal]).numpy()
    d = distance[start, goal]
    line = [f"{directory.name}: all pairs flat {spearman(-flat, d):.2f}, "
            f"hierarchical {spearman(-hierarchical, d):.2f}"]
    for low, high in BUCKETS:
        inside = (d >= low) & (d < high)
        label = f"d {low}+" if high > 1000 else f"d {low}-{high - 1}"
        line.append(f"{label}: {spearman(-flat[inside], d[inside]):.2f} / "
                    f"{spearman(-hierarchical[inside], d[inside]):.2f}")
    print(" | ".join(line))
