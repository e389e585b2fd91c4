"""A socius world in Tianshou: PettingZooEnv over the AEC env, and a Collector.

    python examples/tianshou_collect.py

Tianshou 2.0 limits, and what this example does about them:
- its PettingZooEnv reads a Dict observation that holds ``action_mask`` as
  ``{"observation", "action_mask"}``; socius's Dict has other keys, so use ``flatten=True``;
- socius actions are MultiDiscrete ``[move, tokens...]``, so Tianshou gives no ``mask``, and
  ``MultiAgentPolicy`` (and its random policy) fail without one. A single policy that looks at
  ``obs.agent_id`` serves every agent instead: here, a uniform random one.
Tianshou's learning algorithms that need a Discrete action space (DQN and friends) do not apply.
"""

from __future__ import annotations

import numpy as np
from tianshou.algorithm.algorithm_base import Policy
from tianshou.data import Batch, Collector, ReplayBuffer
from tianshou.env import DummyVectorEnv, PettingZooEnv

from socius.envs import goal_cycle_v0, referential_v0


class UniformPolicy(Policy):
    """Uniform ``[move, tokens...]`` actions for whichever agent's turn it is."""

    def __init__(self, action_space, generator: np.random.Generator):
        super().__init__(action_space=action_space, action_bound_method=None)
        self.generator = generator

    def forward(self, batch, state=None, **kwargs):
        """One uniform action per row; ``batch.obs.agent_id`` names the acting agent."""
        nvec = self.action_space.nvec
        return Batch(act=self.generator.integers(0, nvec, size=(len(batch.obs.agent_id),
                                                               len(nvec))))


def collect(make_socius_env, episodes: int, seed: int):
    """Collect ``episodes`` episodes with the uniform policy; print what came back."""
    make = lambda: PettingZooEnv(make_socius_env(seed=seed))  # noqa: E731
    probe = make()
    policy = UniformPolicy(probe.action_space, np.random.default_rng(seed))
    collector = Collector(policy, DummyVectorEnv([make]), ReplayBuffer(10_000))
    collector.reset()
    stats = collector.collect(n_episode=episodes)
    data, _ = collector.buffer.sample(0)
    print(f"{probe.env.metadata['name']}: agents {probe.agents}, action space {probe.action_space}")
    print(f"  {stats.n_collected_episodes} episodes, {stats.n_collected_steps} AEC steps "
          f"(lengths {stats.lens.tolist()})")
    print(f"  mean return per agent {np.round(stats.returns.mean(axis=0), 3).tolist()}")
    print(f"  first turns {data.obs.agent_id[:6].tolist()}, observation "
          f"{data.obs.obs.shape[1:]}, reward rows {data.rew.shape}")


collect(lambda seed: referential_v0.env(seed=seed, num_agents=4, max_cycles=10, flatten=True),
        episodes=20, seed=0)
collect(lambda seed: goal_cycle_v0.env(seed=seed, max_cycles=50, flatten=True),
        episodes=4, seed=0)
