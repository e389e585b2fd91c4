"""The native batched TorchRL env: specs check out, and its rollouts are the vector core's."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "torchrl", reason="the socius[torchrl] extra is not installed (pip install 'socius[torchrl]')")

import torch  # noqa: E402
from torchrl.envs import EnvBase  # noqa: E402
from torchrl.envs.utils import check_env_specs, step_mdp  # noqa: E402

from socius.envs import core, make_vector  # noqa: E402
from socius.envs.torchrl_env import LAYOUT, make_torchrl  # noqa: E402

CASES = {
    "referential_v0": dict(num_agents=4, max_cycles=6),
    "maze_v0": dict(num_agents=3, max_cycles=8),
    "goal_cycle_v0": dict(max_cycles=8),
    "goal_cycle_v1": dict(max_cycles=8),
}


def uniform_actions(env, generator: torch.Generator):
    """A policy drawing uniform allowed joint actions for every group from ``generator``."""
    def policy(tensordict):
        for group in env.group_map:
            mask = tensordict[group, "action_mask"].float()
            draw = torch.multinomial(mask.reshape(-1, mask.shape[-1]), 1, generator=generator)
            tensordict[group, "action"] = draw.reshape(mask.shape[:-1])
        return tensordict
    return policy


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("categorical", [True, False])
def test_specs_check_out_for_every_task(name, categorical):
    env = make_torchrl(name, 5, seed=0, categorical_actions=categorical, return_state=True,
                       **CASES[name])
    check_env_specs(env, seed=0)
    world = env.world
    assert set(env.group_map) == set(world.role_names)
    assert sum(len(agents) for agents in env.group_map.values()) == world.num_agents
    for group, agents in env.group_map.items():
        assert all(agent.rsplit("_", 1)[0] == group for agent in agents)
        assert env.observation_spec[group, "observation"].dtype == torch.float32
        assert env.observation_spec[group, "observation"].shape[:2] == (5, len(agents))


def test_rollout_equals_the_vector_core_through_restarts():
    """Same seed and actions: every observation, mask, reward and flag equals make_vector's;
    ``next`` holds the observation a world ended on, the root its next episode's."""
    config = CASES["referential_v0"]
    env = make_torchrl("referential_v0", 6, seed=3, **config)
    vector = make_vector("referential_v0", 6, seed=3, **config, **LAYOUT)
    members = {group: [env.world.agent_names.index(a) for a in agents]
               for group, agents in env.group_map.items()}
    generator = torch.Generator().manual_seed(0)
    rollout = env.rollout(20, uniform_actions(env, generator), break_when_any_done=False)
    observation = vector.reset()
    ended = 0
    for t in range(20):
        step = rollout[:, t]  # TorchRL puts time after the batch of worlds
        for group, index in members.items():
            torch.testing.assert_close(step[group, "observation"], observation[:, index])
            assert (step[group, "action_mask"] == vector.action_mask[:, index].bool()).all()
        joint = torch.zeros(6, env.world.num_agents, dtype=torch.int64)
        for group, index in members.items():
            joint[:, index] = step[group, "action"]
        observation, reward, terminated, truncated, info = vector.step(joint)
        done = terminated | truncated
        assert (step["next", "done"][:, 0] == done).all()
        assert (step["next", "terminated"][:, 0] == terminated).all()
        final = info["final_index"]
        ended += len(final)
        for group, index in members.items():
            assert (step["next", group, "reward"][:, :, 0] == reward[:, index]).all()
            success = step["next", group, "info", "success"]
            assert (success == info["success"][:, index]).all()
            nxt = step["next", group, "observation"]
            running = ~done
            torch.testing.assert_close(nxt[running], observation[running][:, index])
            if len(final):
                torch.testing.assert_close(nxt[final], info["final_observation"][:, index])
    assert ended >= 6  # the rollout crossed episode ends in every world


def test_fast_restart_path_equals_torchrls_generic_merge():
    """``maybe_reset`` skips TorchRL's masked merge; both give the same tensordict."""
    env = make_torchrl("referential_v0", 16, seed=1, **CASES["referential_v0"])
    generator = torch.Generator().manual_seed(2)
    policy = uniform_actions(env, generator)
    tensordict = env.reset()
    checked = 0
    for _ in range(15):
        tensordict = env.step(policy(tensordict))
        carried = step_mdp(tensordict)
        if not carried["done"].any():
            continue
        restarted = env._restarted.copy()
        fast = env.maybe_reset(carried.clone())
        env._restarted[:] = restarted  # the generic path, on the same worlds
        generic = EnvBase.maybe_reset(env, carried.clone())
        for key in fast.keys(True, True):
            assert (fast[key] == generic[key]).all(), key
        assert not fast["done"].any()
        tensordict = fast
        checked += 1
    assert checked >= 2


def test_resetting_a_running_world_starts_its_next_episode():
    env = make_torchrl("maze_v0", 4, seed=0, num_agents=2, max_cycles=50)
    tensordict = env.reset()
    generator = torch.Generator().manual_seed(0)
    tensordict = env.step(uniform_actions(env, generator)(tensordict))
    before = env._state
    wanted = torch.tensor([[False], [True], [False], [False]])
    after = env.reset(tensordict["next"].clone().set("_reset", wanted))
    state = env._state
    assert state.step_count.tolist() == [1, 0, 1, 1]
    assert state.episode.tolist() == [0, 1, 0, 0]
    untouched = [0, 2, 3]
    np.testing.assert_array_equal(state.row[untouched], before.row[untouched])
    assert (after["agent", "observation"][untouched]
            == tensordict["next", "agent", "observation"][untouched]).all()


def test_same_seed_same_rollout_and_set_seed_restarts_the_sequence():
    def rollout(env):
        generator = torch.Generator().manual_seed(5)
        return env.rollout(12, uniform_actions(env, generator), break_when_any_done=False)

    first = make_torchrl("referential_v0", 3, seed=9)
    second = make_torchrl("referential_v0", 3, seed=9)
    a, b = rollout(first), rollout(second)
    assert (a["listener", "observation"] == b["listener", "observation"]).all()
    first.set_seed(9)
    c = rollout(first)
    assert (a["listener", "observation"] == c["listener", "observation"]).all()


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="name must be one of"):
        make_torchrl("nope", 2)
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1"):
        make_torchrl("referential_v0", 0)
    with pytest.raises(ValueError, match="flatten"):
        make_torchrl("referential_v0", 2, flatten=False)
    env = make_torchrl("referential_v0", 2, seed=0)
    tensordict = env.reset()
    tensordict["speaker", "action"] = torch.full((2, 1), 320)
    tensordict["listener", "action"] = torch.zeros((2, 1), dtype=torch.int64)
    expected = r"\('speaker', 'action'\): joint actions must be integers in \[0, 320\)"
    with pytest.raises(ValueError, match=expected):
        env.step(tensordict)
    one_hot = make_torchrl("referential_v0", 2, seed=0, categorical_actions=False)
    tensordict = one_hot.reset()
    tensordict["speaker", "action"] = torch.zeros((2, 1, 320), dtype=torch.bool)
    tensordict["listener", "action"] = torch.zeros((2, 1, 320), dtype=torch.bool)
    with pytest.raises(ValueError, match="must be one-hot"):
        one_hot.step(tensordict)


def test_one_hot_observations_hold_the_same_codes():
    """Each one-hot segment decodes to the flat observation's code, and the numeric tail
    is the flat observation's ``others``, ``goal_mask`` and ``position``."""
    flat = make_torchrl("referential_v0", 8, seed=4, num_agents=2)
    hot = make_torchrl("referential_v0", 8, seed=4, num_agents=2, one_hot=True)
    encoder = hot.encoder
    hot.reset()
    observation = hot._present(core.observe(hot.world, hot._state))[0]
    codes = core.observe(flat.world, hot._state)
    view = codes["view"]  # [B, N, 5, S, S]
    cells = view.shape[-1] * view.shape[-2]
    width = int(encoder.view_values.sum())
    segment = observation[..., : cells * width].reshape(8, 2, cells, width)
    for channel, (offset, values) in enumerate(zip(encoder.view_offset,
                                                   encoder.view_values)):
        decoded = segment[..., offset:offset + values].argmax(-1)
        np.testing.assert_array_equal(decoded, view[:, :, channel].reshape(8, 2, cells))
    assert (segment.sum(-1) == len(encoder.view_values)).all()  # one code per channel
    tail = np.concatenate([codes[key].reshape(8, 2, -1) for key in encoder.numeric], -1)
    np.testing.assert_array_equal(observation[..., -tail.shape[-1]:], tail)
    inbox_start = cells * width
    inbox = observation[..., inbox_start: inbox_start + 2 * encoder.token_values]
    np.testing.assert_array_equal(inbox.reshape(8, 2, 2, -1).argmax(-1),
                                  codes["inbox"].reshape(8, 2, 2))


def test_spatial_view_is_the_one_hot_view_in_place():
    """``spatial_view`` splits the one-hot observation: the view as an image ``[S, S, C]``
    whose cell (row, column) is the view's, then the other fields; specs match the data."""
    hot = make_torchrl("referential_v0", 4, seed=2, one_hot=True)
    image = make_torchrl("referential_v0", 4, seed=2, one_hot=True, spatial_view=True)
    flat, split = hot.reset(), image.reset()
    side, _, width = image.encoder.view_shape
    for group in ("speaker", "listener"):
        view, rest = split[group, "view"], split[group, "observation"]
        assert view.shape == (4, 1, side, side, width)
        joined = torch.cat([view.flatten(-3), rest], dim=-1)
        assert torch.equal(joined, flat[group, "observation"])
    codes = core.observe(image.world, image._state)["view"]  # [B, N, 5, S, S]
    colour = split["listener", "view"][:, 0, ..., image.encoder.view_offset[1]:
                                       image.encoder.view_offset[2]].argmax(-1)
    np.testing.assert_array_equal(colour.numpy(), codes[:, 1, 1])
    check_env_specs(image)
    with pytest.raises(ValueError, match="needs one_hot"):
        make_torchrl("referential_v0", 2, spatial_view=True)
