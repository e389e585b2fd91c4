"""Tianshou 2.0 DQN on a socius world, with no glue code: the world's own settings give
Tianshou what it reads.

    python examples/tianshou_dqn.py

- ``mask_in="wrapped"``: each observation is ``{"observation", "action_mask"}``, the layout
  Tianshou's ``PettingZooEnv`` looks for, so DQN never picks a move into a wall;
- ``flatten=True, flat_dtype="float32"``: the inner observation is one float vector;
- a mute world (``maze_v0``'s default) has ``Discrete(5)`` actions, as DQN needs; a talking
  world can give one ``Discrete`` over (move, tokens) with ``joint_actions=True,
  action_mask="full"``.

It trains for a few epochs, then compares the greedy policy with a uniform random one on
fresh episodes.
"""

from __future__ import annotations

import numpy as np
import torch
from tianshou.algorithm import DQN
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, CollectStats, VectorReplayBuffer
from tianshou.env import DummyVectorEnv, PettingZooEnv
from tianshou.trainer import OffPolicyTrainerParams
from tianshou.utils.net.common import Net

from socius.envs import maze_v0

torch.set_num_threads(1)
torch.manual_seed(0)
SETTINGS = dict(layout="open", size=7, max_cycles=20, flatten=True, flat_dtype="float32",
                mask_in="wrapped")
seeds = iter(range(10_000))


def make() -> PettingZooEnv:
    """One seeded maze as Tianshou's PettingZooEnv (each copy gets the next seed)."""
    return PettingZooEnv(maze_v0.env(seed=next(seeds), **SETTINGS))


probe = make()
net = Net(state_shape=probe.observation_space["observation"].shape,
          action_shape=probe.action_space.n, hidden_sizes=[64, 64])
policy = DiscreteQLearningPolicy(model=net, action_space=probe.action_space,
                                 eps_training=0.2, eps_inference=0.0)
algorithm = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=0.9,
                target_update_freq=100)
training = Collector[CollectStats](algorithm, DummyVectorEnv([make] * 4),
                                   VectorReplayBuffer(20_000, 4), exploration_noise=True)
testing = Collector[CollectStats](algorithm, DummyVectorEnv([make] * 4))
training.reset()
training.collect(n_step=256)
result = algorithm.run_training(OffPolicyTrainerParams(
    training_collector=training, test_collector=testing, max_epochs=5, epoch_num_steps=2000,
    collection_step_num_env_steps=16, test_step_num_episodes=20, batch_size=64,
    update_step_num_gradient_steps_per_sample=0.25, show_progress=False))
print(f"DQN: {result.train_step} environment steps, {result.update_step} update steps")

evaluation = Collector[CollectStats](algorithm, DummyVectorEnv([make] * 4))
evaluation.reset()
trained = evaluation.collect(n_episode=100).returns.mean()
generator = np.random.default_rng(0)
random_returns = []
for _ in range(100):
    env = make()
    observation, _ = env.reset()
    total, done = 0.0, False
    while not done:
        allowed = np.flatnonzero(observation["mask"])
        observation, reward, terminated, truncated, _ = env.step(int(generator.choice(allowed)))
        total += float(np.sum(reward))
        done = terminated or truncated
    random_returns.append(total)
print(f"mean return over 100 episodes: DQN {trained:.2f}, uniform random "
      f"{np.mean(random_returns):.2f}")
