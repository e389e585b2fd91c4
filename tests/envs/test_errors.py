"""Bad input raises a clear error naming the field; nothing is clipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import socius.envs as envs
from socius.envs import referential_v0


@pytest.fixture
def env():
    env = referential_v0.parallel_env()
    env.reset(seed=0)
    return env


def test_out_of_range_move_names_agent(env):
    with pytest.raises(ValueError, match=r"move of agent 'listener_0'.*\[0, 5\).*7"):
        env.step({"speaker_0": np.array([0, 0, 0]), "listener_0": np.array([7, 0, 0])})


def test_out_of_range_token_names_agent(env):
    with pytest.raises(ValueError, match=r"message token of agent 'speaker_0'.*\[0, 8\)"):
        env.step({"speaker_0": np.array([0, 8, 0]), "listener_0": np.array([0, 0, 0])})


def test_negative_token_is_not_clipped(env):
    with pytest.raises(ValueError, match="speaker_0"):
        env.step({"speaker_0": np.array([0, -1, 0]), "listener_0": np.array([0, 0, 0])})


def test_wrong_shape_action(env):
    with pytest.raises(ValueError, match=r"agent 'listener_0' must have shape \(3,\)"):
        env.step({"speaker_0": np.array([0, 0, 0]), "listener_0": np.array([1, 0])})


def test_float_action_is_a_type_error(env):
    with pytest.raises(TypeError, match="listener_0.*integers"):
        env.step({"speaker_0": np.array([0, 0, 0]), "listener_0": np.array([1.0, 0.0, 0.0])})


def test_unknown_agent(env):
    with pytest.raises(ValueError, match=r"unknown agent 'listener_9'"):
        env.step({"listener_9": np.array([0, 0, 0])})
    with pytest.raises(ValueError, match="unknown agent 'nobody'"):
        env.observation_space("nobody")


def test_missing_agent(env):
    with pytest.raises(ValueError, match=r"missing actions.*speaker_0"):
        env.step({"listener_0": np.array([0, 0, 0])})


def test_step_after_episode_end():
    env = referential_v0.parallel_env(max_cycles=2)
    env.reset(seed=0)
    for _ in range(2):  # the speakers' opening step, then one move
        env.step({a: np.zeros(3, np.int64) for a in env.agents})
    with pytest.raises(ValueError, match="episode has ended"):
        env.step({a: np.zeros(3, np.int64) for a in env.possible_agents})


def test_step_before_reset():
    with pytest.raises(ValueError, match="reset"):
        referential_v0.parallel_env().step({})


@pytest.mark.parametrize("name, kwargs, field", [
    ("referential_v0", {"vocab_size": 0, "message_length": 2}, "vocab_size"),
    ("referential_v0", {"num_agents": 3}, "num_agents"),
    ("referential_v0", {"num_agents": 50}, "num_agents"),
    ("referential_v0", {"view_radius": -1}, "view_radius"),
    ("referential_v0", {"split": "dev"}, "split"),
    ("referential_v0", {"held_out": ((9, 0),)}, "held_out"),
    ("goal_cycle_v0", {"num_agents": 60}, "num_agents"),
    ("goal_cycle_v0", {"token_drop_prob": 1.5}, "token_drop_prob"),
    ("maze_v0", {"layout": "spiral"}, "layout"),
    ("maze_v0", {"size": 5, "num_agents": 9}, "num_agents"),
    ("maze_v0", {"start": (0, 0)}, "start"),
    ("maze_v0", {"hearing_radius": 5}, "hearing_radius"),
    ("maze_v0", {"max_cycles": 0}, "max_cycles"),
])
def test_impossible_configurations(name, kwargs, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        envs.ENVIRONMENTS[name].parallel_env(**kwargs)


def test_unknown_and_mistyped_config_fields():
    with pytest.raises(TypeError, match="unknown config key 'radius'.*expected one of"):
        referential_v0.parallel_env(radius=2)
    with pytest.raises(TypeError, match="'num_agents' must be int"):
        referential_v0.parallel_env(num_agents=2.5)


def test_vector_rejects_bad_actions():
    venv = envs.make_vector("referential_v0", 4, seed=0)
    venv.reset()
    good = torch.zeros((4, 2, 3), dtype=torch.int64)
    bad = good.clone()
    bad[2, 1, 0] = 5
    with pytest.raises(ValueError, match="move of agent 'listener_0' in environment 2"):
        venv.step(bad)
    with pytest.raises(ValueError, match=r"shape \[num_envs, num_agents, 1 \+ message_length\]"):
        venv.step(good[:, :, :2])
    with pytest.raises(TypeError, match="integer dtype"):
        venv.step(good.float())
    with pytest.raises(ValueError, match="unknown environment 'chess_v0'"):
        envs.make_vector("chess_v0", 2)
    with pytest.raises(ValueError, match="num_envs"):
        envs.make_vector("maze_v0", 0)
