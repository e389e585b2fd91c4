"""Save scripted maze episodes, export one agent's view to Minari, and load it back.

    python examples/minari_export.py [FOLDER]

Minari is single-agent, so socius exports one agent at a time. The socius dataset and the
Minari dataset are written under FOLDER (default: a new temporary folder); Minari's folder
is chosen with MINARI_DATASETS_PATH. Needs the extra: pip install 'socius[minari]'.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="socius-"))
os.environ["MINARI_DATASETS_PATH"] = str(folder / "minari")
# Minari advises on every optional metadata field left empty; the example leaves them empty.
warnings.filterwarnings("ignore", category=UserWarning, module="minari")

import minari  # noqa: E402

from socius.agents.scripted import GoalSeeker  # noqa: E402
from socius.envs import make_vector  # noqa: E402
from socius.societies.engine.datasets import load_dataset, minari_export, save_dataset  # noqa: E402
from socius.societies.engine.rollout import record_episodes  # noqa: E402

DATASET_ID = "socius/maze-goalseeker-v0"

# Two mazes side by side, two agents each, walked by the shortest-path expert.
venv = make_vector("maze_v0", 2, seed=0, num_agents=2, max_cycles=40)
episodes = record_episodes(venv, GoalSeeker(), np.random.default_rng(0), num_steps=400,
                   num_episodes=6)
dataset = load_dataset(save_dataset(folder / "maze.npz", episodes, world=venv.world))
print(f"socius dataset: {dataset.num_episodes} episodes, {dataset.num_transitions} "
      f"transitions, agents {dataset.agent_names}")

if DATASET_ID in minari.list_local_datasets():
    minari.delete_dataset(DATASET_ID)  # running twice on one FOLDER replaces the export
agent = dataset.agent_names[0]
minari_export(dataset, agent, DATASET_ID, author="socius examples")

exported = minari.load_dataset(DATASET_ID)
print(f"minari dataset {DATASET_ID} ({agent}'s view) in {folder / 'minari'}:")
print(f"  {exported.total_episodes} episodes, {exported.total_steps} steps")
returns = [episode.rewards.sum() for episode in exported.iterate_episodes()]
lengths = [len(episode.actions) for episode in exported.iterate_episodes()]
print(f"  episode lengths {lengths}")
print(f"  {agent}'s returns {np.round(returns, 2).tolist()} (mean {np.mean(returns):.2f})")
first = next(iter(exported.iterate_episodes()))
print(f"  observation keys {sorted(first.observations)}; actions {first.actions.shape}")
