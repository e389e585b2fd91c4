"""The vector facade: batched tensors, auto-reset, final observations, B-independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import socius.envs as envs


@pytest.mark.parametrize("name", envs.TASKS)
def test_shapes_and_dtypes(name):
    venv = envs.make_vector(name, 5, seed=0)
    observation = venv.reset()
    for key, space in venv.single_observation_space.items():
        assert isinstance(observation[key], torch.Tensor)
        assert tuple(observation[key].shape) == (5, venv.num_agents, *space.shape)
    generator = np.random.default_rng(0)
    observation, reward, terminated, truncated, info = venv.step(venv.sample_actions(generator))
    assert reward.shape == (5, venv.num_agents) and reward.dtype == torch.float32
    assert terminated.shape == truncated.shape == (5,) and terminated.dtype == torch.bool
    assert info["goal_achieved"].shape == (5, venv.num_agents)
    assert info["achieved_goal"].shape == info["desired_goal"].shape
    assert all(isinstance(v, torch.Tensor) for v in info.values() if not isinstance(v, dict))


def test_auto_reset_returns_final_observation():
    venv = envs.make_vector("maze_v0", 3, seed=1, max_cycles=4)
    venv.reset()
    stay = torch.zeros((3, 1, 1), dtype=torch.int64)
    for _ in range(3):
        _, _, _, truncated, info = venv.step(stay)
        assert not truncated.any() and "final_observation" not in info
    before = venv.state.row.copy()
    observation, _, _, truncated, info = venv.step(stay)
    assert truncated.all()
    assert info["final_index"].tolist() == [0, 1, 2]
    final = info["final_observation"]["position"][:, 0].numpy()
    assert np.array_equal(final[:, 0], before[:, 0])
    assert (venv.state.step_count == 0).all() and (venv.state.episode == 1).all()
    assert not torch.equal(observation["position"], info["final_observation"]["position"])


def test_environment_does_not_depend_on_batch_size():
    def play(batch):
        venv = envs.make_vector("referential_v0", batch, seed=7)
        frames = [venv.reset()["view"][3].clone()]
        for step in range(25):
            generator = np.random.default_rng(step)
            actions = venv.sample_actions(generator)
            # Environment 3 always receives the same actions whatever the batch.
            actions[3] = torch.from_numpy(
                (np.random.default_rng(1000 + step).random((2, 3)) * [5, 8, 8]).astype(np.int64))
            frames.append(venv.step(actions)[0]["view"][3].clone())
        return torch.stack(frames)

    assert torch.equal(play(4), play(64))


def test_flatten_gives_box_tensor():
    venv = envs.make_vector("goal_cycle_v0", 2, seed=0, flatten=True)
    observation = venv.reset()
    assert observation.shape == (2, venv.num_agents, venv.single_observation_space.shape[0])


def test_global_state_matches_space():
    venv = envs.make_vector("referential_v0", 3, seed=0, num_agents=4)
    venv.reset()
    state = venv.global_state().numpy()
    assert all(venv.state_space.contains(row) for row in state)
