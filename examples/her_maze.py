"""DQN with and without Hindsight Experience Replay on the 11x11 four-rooms maze.

A readable, top-to-bottom script (CleanRL style). One learner must reach a random
goal cell from a random start cell within 50 steps. The reward is sparse: -1 per
step, 0 on reaching the goal (which ends the episode). HER (``--her``) relabels
each stored transition with 4 goals reached later in the same episode
("future" strategy), so failed episodes still teach how to reach *some* cell.

The agent sees ``observation`` (by default its 5x5 egocentric view with walls,
its (row, col) position and its move mask; ``--observation position`` keeps only
the position), ``achieved_goal`` (its cell) and ``desired_goal`` (the goal cell).

Every ``--eval-every`` steps the greedy policy plays the same ``--eval-episodes``
evaluation episodes (seeds 1_000_000 + k, identical for every run), and the
success rates are written to ``--output`` as JSON.

    python examples/her_maze.py --her --steps 100000 --seed 0 --output runs/her_0.json
    python examples/her_maze.py --no-her --steps 100000 --seed 0 --output runs/noher_0.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import DQN, HerReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from socius.envs.wrappers import goal_env
from socius.societies.runs.files import atomic_write

EVALUATION_SEED = 1_000_000
OBSERVATIONS = {"full": ("view", "others", "position", "action_mask"),
                "position": ("position",)}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--her", action=argparse.BooleanOptionalAction, default=True,
                    help="relabel goals with HER (--no-her: a plain replay buffer)")
parser.add_argument("--steps", type=int, default=100_000, help="environment steps to train")
parser.add_argument("--seed", type=int, default=0, help="seed of training episodes and DQN")
parser.add_argument("--eval-every", type=int, default=10_000, help="steps between evaluations")
parser.add_argument("--eval-episodes", type=int, default=200, help="fixed evaluation episodes")
parser.add_argument("--observation", choices=sorted(OBSERVATIONS), default="full",
                    help="what the 'observation' key holds besides the goals")
parser.add_argument("--output", type=Path, default=Path("her_maze.json"), help="JSON results")
args = parser.parse_args()
if args.steps < 1 or args.eval_every < 1 or args.eval_episodes < 1:
    raise ValueError("--steps, --eval-every and --eval-episodes must be integers >= 1")

# One thread: the numbers then do not depend on the machine's core count.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

MAZE = dict(layout="four_rooms", size=11, max_cycles=50,
            observation_keys=OBSERVATIONS[args.observation])


def make_env():
    """A fresh goal-conditioned maze env (random start and goal cells every episode)."""
    return goal_env("maze_v0", **MAZE)


def evaluate(model, episodes: int) -> float:
    """Greedy success rate over the fixed evaluation episodes, all played side by side."""
    envs = [make_env() for _ in range(episodes)]
    observations = [env.reset(seed=EVALUATION_SEED + k)[0] for k, env in enumerate(envs)]
    alive = np.ones(episodes, dtype=bool)
    success = np.zeros(episodes, dtype=bool)
    while alive.any():
        live = np.flatnonzero(alive)
        batch = {key: np.stack([observations[k][key] for k in live])
                 for key in observations[0]}
        actions, _ = model.predict(batch, deterministic=True)
        for k, action in zip(live, actions):
            observations[k], _, terminated, truncated, info = envs[k].step(int(action))
            if terminated or truncated:
                alive[k] = False
                success[k] = info["is_success"] > 0
    return float(success.mean())


class Checkpoints(BaseCallback):
    """Evaluate every ``every`` steps and keep the curve."""

    def __init__(self, every: int, episodes: int):
        super().__init__()
        self.every, self.episodes = every, episodes
        self.curve: list[dict] = []
        self.started = time.time()

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            rate = evaluate(self.model, self.episodes)
            self.curve.append({"step": self.num_timesteps, "success": rate,
                               "seconds": round(time.time() - self.started, 1)})
            print(f"step {self.num_timesteps:>7}  success {rate:.3f}  "
                  f"({time.time() - self.started:.0f}s)", flush=True)
        return True


# DQN(seed=) seeds this env's first reset; later episodes come from its episode counter.
train_env = DummyVecEnv([make_env])

# Same hyperparameters for both arms; only the replay buffer differs.
hyperparameters = dict(
    learning_rate=5e-4,
    buffer_size=100_000,
    learning_starts=1_000,
    batch_size=256,
    gamma=0.95,
    train_freq=2,
    gradient_steps=1,
    target_update_interval=1_000,
    exploration_fraction=0.2,
    exploration_initial_eps=1.0,
    exploration_final_eps=0.05,
    policy_kwargs=dict(net_arch=[256, 256]),
)
her_kwargs = dict(replay_buffer_class=HerReplayBuffer,
                  replay_buffer_kwargs=dict(n_sampled_goal=4,
                                            goal_selection_strategy="future"))
model = DQN("MultiInputPolicy", train_env, seed=args.seed, verbose=0,
            **hyperparameters, **(her_kwargs if args.her else {}))

checkpoints = Checkpoints(args.eval_every, args.eval_episodes)
before = evaluate(model, args.eval_episodes)
print(f"untrained success {before:.3f}", flush=True)
model.learn(total_timesteps=args.steps, callback=checkpoints)

results = {
    "her": args.her,
    "seed": args.seed,
    "steps": args.steps,
    "observation": list(MAZE["observation_keys"]),
    "maze": {key: value for key, value in MAZE.items() if key != "observation_keys"},
    "hyperparameters": {key: str(value) if key == "policy_kwargs" else value
                        for key, value in hyperparameters.items()},
    "eval_episodes": args.eval_episodes,
    "untrained_success": before,
    "curve": checkpoints.curve,
}
text = json.dumps(results, indent=2)
atomic_write(args.output, lambda path: Path(path).write_text(text))
print(f"wrote {args.output}")
