"""PPO from Stable-Baselines3 on a socius world, in one short script.

``sb3_vec_env`` turns every agent of ``--copies`` copies of ``maze_v0`` into one
SB3 VecEnv stepped in one core call (copy i is seeded ``seed + i``, so the copies play
different episodes); ``--path supersuit`` takes the generic SuperSuit path instead, which
plays the same episodes one Python env per copy.
The agents share one policy (parameter sharing). The script prints the mean
episode return of a uniformly random policy, of the untrained PPO policy and of
the trained one, all on the same evaluation episodes.

    python examples/sb3_ppo.py --steps 20000 --seed 0 [--path supersuit]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from stable_baselines3 import PPO

from socius.envs.wrappers import sb3_vec_env, supersuit_vec_env

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=20_000, help="environment steps to train")
parser.add_argument("--seed", type=int, default=0, help="seed of training copies and PPO")
parser.add_argument("--copies", type=int, default=4, help="copies of the world side by side")
parser.add_argument("--episodes", type=int, default=200, help="evaluation episodes")
parser.add_argument("--path", choices=("native", "supersuit"), default="native",
                    help="the VecEnv: one core call for every copy, or SuperSuit's")
args = parser.parse_args()
make_vec_env = sb3_vec_env if args.path == "native" else supersuit_vec_env

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

# A small open room: one agent must reach a random goal cell within 20 steps
# (reward 1 on arrival). The flat observation holds its view, position and goal.
MAZE = dict(layout="open", size=7, max_cycles=20, num_agents=1)
EVALUATION_SEED = 1_000


def mean_return(choose, episodes: int) -> float:
    """Mean return of ``choose(observations) -> actions`` over fixed evaluation episodes."""
    vec = make_vec_env("maze_v0", args.copies, seed=EVALUATION_SEED, **MAZE)
    observations = vec.reset()
    totals, finished = np.zeros(vec.num_envs), []
    while len(finished) < episodes:
        observations, rewards, dones, _ = vec.step(choose(observations))
        totals += rewards
        for index in np.flatnonzero(dones):
            finished.append(totals[index])
            totals[index] = 0.0
    vec.close()
    return float(np.mean(finished[:episodes]))


generator = np.random.default_rng(args.seed)
train_env = make_vec_env("maze_v0", args.copies, seed=args.seed, **MAZE)
# A mute maze's actions are Discrete(5) (with tokens they would be MultiDiscrete).
moves = train_env.action_space.n


def random_policy(observations):
    """Uniform random actions for a batch of observations."""
    return generator.integers(0, moves, size=len(observations))


def greedy(model):
    """The model's deterministic actions for a batch of observations."""
    return lambda observations: model.predict(observations, deterministic=True)[0]


model = PPO("MlpPolicy", train_env, seed=args.seed, n_steps=256, batch_size=256, n_epochs=4,
            learning_rate=1e-3, ent_coef=0.01, gamma=0.95,
            policy_kwargs=dict(net_arch=[64, 64]), device="cpu", verbose=0)

random_return = mean_return(random_policy, args.episodes)
before = mean_return(greedy(model), args.episodes)
model.learn(total_timesteps=args.steps)
after = mean_return(greedy(model), args.episodes)

print(f"mean return over {args.episodes} episodes (1 = always reaches the goal)")
print(f"  random policy     {random_return:.3f}")
print(f"  PPO before        {before:.3f}")
print(f"  PPO after {args.steps:>6}  {after:.3f}")
train_env.close()
