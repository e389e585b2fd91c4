"""Tianshou's PettingZooEnv over the socius AEC env: a random policy collects whole episodes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tianshou", reason="the socius[tianshou] extra is not installed "
                                       "(pip install 'socius[tianshou]')")

from tianshou.algorithm.algorithm_base import Policy  # noqa: E402
from tianshou.data import Batch, Collector, ReplayBuffer  # noqa: E402
from tianshou.env import DummyVectorEnv, PettingZooEnv  # noqa: E402

import socius.envs as envs  # noqa: E402

# Tianshou's PettingZooEnv reads a Dict observation holding "action_mask" as
# {"observation", "action_mask"}; socius's Dict has other keys, so use the flat Box.
CASES = {
    "referential_v0": dict(num_agents=4, max_cycles=6, flatten=True),
    "maze_v0": dict(max_cycles=10, flatten=True),
    "goal_cycle_v0": dict(max_cycles=10, flatten=True),
}


class UniformPolicy(Policy):
    """Uniform ``[move, tokens...]`` actions for whichever agent's turn it is (MultiDiscrete)."""

    def __init__(self, action_space, generator: np.random.Generator):
        super().__init__(action_space=action_space, action_bound_method=None)
        self.generator = generator

    def forward(self, batch, state=None, **kwargs):
        """One uniform action per row of the batch."""
        nvec = self.action_space.nvec
        return Batch(act=self.generator.integers(0, nvec, size=(len(batch.obs.agent_id),
                                                               len(nvec))))


def make_env(name: str, seed: int) -> PettingZooEnv:
    """Tianshou's wrapper over the socius AEC env of one task, seeded."""
    return PettingZooEnv(envs.ENVIRONMENTS[name].env(seed=seed, **CASES[name]))


@pytest.mark.parametrize("name", list(CASES))
def test_random_policy_collects_whole_episodes(name):
    probe = make_env(name, 0)
    agents, max_cycles = probe.agents, CASES[name]["max_cycles"]
    # One env and a plain ReplayBuffer: VectorReplayBuffer spends ~10 s compiling with numba.
    venv = DummyVectorEnv([lambda: make_env(name, 1)])
    policy = UniformPolicy(probe.action_space, np.random.default_rng(0))
    collector = Collector(policy, venv, ReplayBuffer(2000))
    collector.reset()
    stats = collector.collect(n_episode=4)

    assert stats.n_collected_episodes == 4
    assert stats.n_collected_steps == stats.lens.sum()
    # An AEC episode is whole cycles of all agents, at most max_cycles of them.
    assert (stats.lens % len(agents) == 0).all() and (stats.lens <= len(agents) * max_cycles).all()
    assert stats.returns.shape == (4, len(agents)) and np.isfinite(stats.returns).all()

    data, _ = collector.buffer.sample(0)  # the whole buffer, in insertion order
    assert len(data) == stats.n_collected_steps
    assert set(data.obs.agent_id) == set(agents)
    assert (data.act >= 0).all() and (data.act < probe.action_space.nvec).all()
    assert data.rew.shape == (len(data), len(agents))
    assert data.obs.obs.shape[1:] == probe.observation_space.shape
    if name == "referential_v0":
        # Speaker and listener of a group share its reward: 1 for the target, else 0.
        assert set(np.unique(stats.returns)) <= {0.0, 1.0}
        np.testing.assert_array_equal(stats.returns[:, 0::2], stats.returns[:, 1::2])


def test_turns_follow_the_agent_order():
    env = make_env("referential_v0", 5)
    observation, _ = env.reset()
    generator = np.random.default_rng(1)
    turns = [observation["agent_id"]]
    for _ in range(7):
        observation, *_ = env.step(generator.integers(0, env.action_space.nvec))
        turns.append(observation["agent_id"])
    assert turns == env.agents * 2


def test_dict_observation_needs_flatten():
    # The documented limit: Tianshou expects an "observation" key beside "action_mask".
    with pytest.raises(KeyError, match="observation"):
        PettingZooEnv(envs.ENVIRONMENTS["maze_v0"].env(seed=0))
