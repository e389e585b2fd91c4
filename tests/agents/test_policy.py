"""Learned networks behind the policy interface."""

from __future__ import annotations

import numpy as np
import torch

from socius.agents.modules import AgentNetwork, ObservationSpec
from socius.agents.policy import NetworkPolicy
from socius.envs import make_vector
from socius.societies.engine.rollout import record_episodes


def test_network_policy_acts_validly_and_resets_memory():
    venv = make_vector("referential_v0", 4, seed=0, num_agents=4)
    spec = ObservationSpec.from_spaces(venv.single_observation_space, venv.single_action_space)
    network = AgentNetwork(spec, hidden=32, generator=torch.Generator().manual_seed(0))
    for greedy in (True, False):
        policy = NetworkPolicy(network, venv.num_agents, greedy=greedy)
        episodes = record_episodes(venv, policy, np.random.default_rng(0), num_steps=25)
        assert episodes and all(e.actions.shape[-1] == 3 for e in episodes)
    policy = NetworkPolicy(network, venv.num_agents)
    observation = venv.reset()
    state = policy.initial_state(4)
    _, state = policy.act(observation, state, np.ones(4, bool), np.random.default_rng(0))
    assert state.abs().sum() > 0
    fresh = policy.initial_state(4)
    _, again = policy.act(observation, state, np.ones(4, bool), np.random.default_rng(0))
    _, from_zero = policy.act(observation, fresh, np.ones(4, bool), np.random.default_rng(0))
    assert torch.allclose(again, from_zero)  # done wipes the memory first
