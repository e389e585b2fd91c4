"""TorchRL's PettingZooWrapper over socius envs: specs check out, rollouts match the native env."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "torchrl", reason="the socius[torchrl] extra is not installed (pip install 'socius[torchrl]')")

import torch  # noqa: E402
from torchrl.envs.libs.pettingzoo import PettingZooWrapper  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402

import socius.envs as envs  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:PettingZoo in TorchRL is tested:UserWarning")

# TorchRL reads a Dict observation's "action_mask" as a mask over the whole action; socius
# masks moves only, which fits only when there are no message tokens (message_length=0).
# Talking configurations therefore use the flat Box observation.
CASES = {
    "referential_flat": ("referential_v0", dict(num_agents=4, max_cycles=6, flatten=True)),
    "referential_mute_dict": ("referential_v0", dict(num_agents=2, max_cycles=6,
                                                     message_length=0)),
    "maze_dict": ("maze_v0", dict(max_cycles=8)),
    "goal_cycle_dict": ("goal_cycle_v0", dict(max_cycles=8)),
}


def make(case: str, kind: str):
    """The socius PettingZoo env of a case ('parallel' or 'aec') and its config."""
    name, config = CASES[case]
    module = envs.ENVIRONMENTS[name]
    factory = module.parallel_env if kind == "parallel" else module.env
    return factory(seed=0, **config), config


def random_policy(pettingzoo_env, group_map, generator: torch.Generator):
    """A TorchRL policy drawing uniform actions from ``generator``: ``[move, tokens...]``
    (MultiDiscrete), or one index (Discrete: a mute world)."""
    space = pettingzoo_env.action_space(pettingzoo_env.possible_agents[0])
    discrete = not hasattr(space, "nvec")
    nvec = torch.as_tensor([space.n] if discrete else space.nvec)

    def policy(tensordict):
        for group, agents in group_map.items():
            uniform = torch.rand((len(agents), len(nvec)), generator=generator)
            action = (uniform * nvec).long()
            tensordict[group, "action"] = action[:, 0] if discrete else action
        return tensordict

    return policy


def as_numpy_observation(value):
    """A TorchRL observation entry (tensor or TensorDict) as numpy (array or dict)."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    return {key: value[key].numpy() for key in value.keys()}


def assert_same_observation(torchrl_obs, native_obs, action_mask=None):
    """TorchRL's copy equals the native observation (action_mask moved out of the Dict)."""
    if isinstance(native_obs, np.ndarray):
        np.testing.assert_array_equal(torchrl_obs, native_obs)
        return
    assert set(torchrl_obs) == set(native_obs) - {"action_mask"}
    for key, value in torchrl_obs.items():
        np.testing.assert_array_equal(value, native_obs[key], err_msg=key)
    # TorchRL shapes the mask like its one-hot action, (1 move, 5 choices) for a mute task.
    np.testing.assert_array_equal(action_mask.reshape(-1), native_obs["action_mask"] == 1)


@pytest.mark.parametrize("case", list(CASES))
def test_parallel_env_specs_and_rollout(case):
    pettingzoo_env, config = make(case, "parallel")
    env = PettingZooWrapper(pettingzoo_env, return_state=True)
    check_env_specs(env, seed=0)
    roles = {a.rsplit("_", 1)[0] for a in pettingzoo_env.possible_agents}
    assert set(env.group_map) == roles  # agents `<role>_<i>` share a group per role

    steps = 3 * config["max_cycles"]
    generator = torch.Generator().manual_seed(0)
    start = env.reset(seed=7)
    rollout = env.rollout(steps, random_policy(pettingzoo_env, env.group_map, generator),
                          tensordict=start, auto_reset=False, break_when_any_done=False)

    assert rollout.batch_size == (steps,)
    width = 1 + config.get("message_length", pettingzoo_env.world.config.message_length)
    parts = (width,) if width > 1 else ()  # a mute world's Discrete(5): one index
    done = rollout["next", "done"].squeeze(-1)
    for group, agents in env.group_map.items():
        assert rollout[group, "action"].shape == (steps, len(agents), *parts)
        reward = rollout["next", group, "reward"]
        assert reward.shape == (steps, len(agents), 1) and torch.isfinite(reward).all()
        # Every socius agent's episode ends with the environment's.
        assert (rollout["next", group, "done"].squeeze(-1) == done[:, None]).all()
        goal_achieved = rollout["next", group, "info", "goal_achieved"]
        assert ((goal_achieved == 0) | (goal_achieved == 1)).all()
    assert rollout["next", "state"].shape == (steps, *pettingzoo_env.state_space.shape)
    # Episodes last at most max_cycles steps, so `steps` steps end at least 3 of them.
    ends = torch.nonzero(done).squeeze(-1)
    assert len(ends) >= 3
    assert (torch.diff(ends, prepend=torch.tensor([-1])) <= config["max_cycles"]).all()

    replay_first_episode(case, rollout, env.group_map, int(ends[0]) + 1)


def replay_first_episode(case, rollout, group_map, length):
    """The native env, fed the rollout's actions, gives its observations and rewards."""
    native, _ = make(case, "parallel")
    observations, _ = native.reset(seed=7)
    for t in range(length):
        actions = {}
        for group, agents in group_map.items():
            for i, agent in enumerate(agents):
                obs = as_numpy_observation(rollout[group, "observation"][t, i])
                mask = rollout[group].get("action_mask", None)
                assert_same_observation(obs, observations[agent],
                                        None if mask is None else mask[t, i].numpy())
                actions[agent] = rollout[group, "action"][t, i].numpy()
        observations, rewards, _, _, _ = native.step(actions)
        for group, agents in group_map.items():
            for i, agent in enumerate(agents):
                assert rollout["next", group, "reward"][t, i, 0].item() == rewards[agent]
    assert native.agents == []  # the native episode ended where TorchRL's did


@pytest.mark.parametrize("case", list(CASES))
def test_aec_env_specs_and_rollout(case):
    pettingzoo_env, config = make(case, "aec")
    env = PettingZooWrapper(pettingzoo_env, use_mask=True)
    check_env_specs(env, seed=0)
    agents = pettingzoo_env.possible_agents
    assert env.group_map == {agent: [agent] for agent in agents}

    cycles = 2 * config["max_cycles"]
    steps = len(agents) * cycles
    generator = torch.Generator().manual_seed(1)
    rollout = env.rollout(steps, random_policy(pettingzoo_env, env.group_map, generator),
                          tensordict=env.reset(seed=3), auto_reset=False,
                          break_when_any_done=False)

    assert rollout.batch_size == (steps,)
    # One agent acts per AEC step, in turn: the mask shows whose turn it is.
    acting = torch.stack([rollout[agent, "mask"][:, 0] for agent in agents], dim=1)
    assert (acting.sum(dim=1) == 1).all()
    assert (acting.float().argmax(dim=1) == torch.arange(steps) % len(agents)).all()
    done = rollout["next", "done"].squeeze(-1)
    ends = torch.nonzero(done).squeeze(-1)
    assert len(ends) >= 2  # each episode lasts at most max_cycles cycles
    assert ((ends + 1) % len(agents) == 0).all()  # episodes end after whole cycles
    for agent in agents:
        reward = rollout["next", agent, "reward"]
        assert reward.shape == (steps, 1, 1) and torch.isfinite(reward).all()
        assert (rollout["next", agent, "done"].squeeze(-1).squeeze(-1) == done).all()
