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
# {"observation", "action_mask"}: mask_in="wrapped" gives exactly that (flat inside), and a
# mute world's Discrete(5) actions then come with their mask. Talking worlds stay
# MultiDiscrete here (Tianshou masks no MultiDiscrete action), with the flat Box alone.
CASES = {
    "referential_v0": dict(num_agents=4, max_cycles=6, flatten=True),
    "maze_v0": dict(max_cycles=10, flatten=True, mask_in="wrapped"),
    "goal_cycle_v1": dict(max_cycles=10, flatten=True, mask_in="wrapped"),
}


class UniformPolicy(Policy):
    """Uniform actions for whichever agent's turn it is: an index (Discrete, among the
    moves its mask allows) or ``[move, tokens...]`` (MultiDiscrete)."""

    def __init__(self, action_space, generator: np.random.Generator):
        super().__init__(action_space=action_space, action_bound_method=None)
        self.generator = generator

    def forward(self, batch, state=None, **kwargs):
        """One uniform action per row of the batch."""
        if hasattr(self.action_space, "n"):
            mask = np.asarray(batch.obs.mask, dtype=bool)
            scores = np.where(mask, self.generator.random(mask.shape), -1.0)
            return Batch(act=scores.argmax(axis=-1))
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
    high = getattr(probe.action_space, "n", None) or probe.action_space.nvec
    assert (data.act >= 0).all() and (data.act < high).all()
    if hasattr(probe.action_space, "n"):  # the wrapped mask reached Tianshou and held
        assert np.asarray(data.obs.mask, bool)[np.arange(len(data)), data.act].all()
    assert data.rew.shape == (len(data), len(agents))
    inner = probe.observation_space
    inner = inner["observation"] if "observation" in getattr(inner, "spaces", {}) else inner
    assert data.obs.obs.shape[1:] == inner.shape
    if name == "referential_v0":
        # Speaker and listener of a group share its reward: 1 for the target, 0 for a
        # wrong object, -timeout_cost (0.5) when the listener never commits.
        assert set(np.unique(stats.returns)) <= {-0.5, 0.0, 1.0}
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


def test_the_plain_dict_observation_needs_the_wrapped_mask():
    # Tianshou expects an "observation" key beside "action_mask": mask_in="wrapped".
    with pytest.raises(KeyError, match="observation"):
        PettingZooEnv(envs.ENVIRONMENTS["maze_v0"].env(seed=0))


def test_dqn_trains_on_a_mute_maze_without_a_shim(one_torch_thread):
    from tianshou.algorithm import DQN
    from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import CollectStats, VectorReplayBuffer
    from tianshou.trainer import OffPolicyTrainerParams
    from tianshou.utils.net.common import Net

    settings = dict(layout="open", size=7, max_cycles=20, flatten=True, flat_dtype="float32",
                    mask_in="wrapped")
    seeds = iter(range(100))

    def make():
        return PettingZooEnv(envs.ENVIRONMENTS["maze_v0"].env(seed=next(seeds), **settings))

    probe = make()
    assert str(probe.action_space) == "Discrete(5)"
    net = Net(state_shape=probe.observation_space["observation"].shape,
              action_shape=probe.action_space.n, hidden_sizes=[64, 64])
    policy = DiscreteQLearningPolicy(model=net, action_space=probe.action_space,
                                     eps_training=0.2, eps_inference=0.0)
    algorithm = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=0.9,
                    target_update_freq=50)
    training = Collector[CollectStats](algorithm, DummyVectorEnv([make] * 4),
                                       VectorReplayBuffer(2000, 4), exploration_noise=True)
    testing = Collector[CollectStats](algorithm, DummyVectorEnv([make] * 2))
    training.reset()
    training.collect(n_step=64)
    result = algorithm.run_training(OffPolicyTrainerParams(
        training_collector=training, test_collector=testing, max_epochs=2,
        epoch_num_steps=400, collection_step_num_env_steps=16, test_step_num_episodes=2,
        batch_size=32, update_step_num_gradient_steps_per_sample=0.25, show_progress=False))
    assert result.update_step >= 40  # update steps (4 gradient steps each), not just collection
    assert np.isfinite(result.best_reward)
    data, _ = training.buffer.sample(0)
    # The wrapped mask reached DQN: no move into a wall was ever chosen.
    assert np.asarray(data.obs.mask, bool)[np.arange(len(data)), data.act].all()
