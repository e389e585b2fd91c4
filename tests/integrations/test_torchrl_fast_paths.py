"""The TorchRL adapter's shortcuts give TorchRL's own results, and its outputs never share
memory with a later step's."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "torchrl", reason="the socius[torchrl] extra is not installed (pip install 'socius[torchrl]')")

import torch  # noqa: E402
from tensordict import TensorDict  # noqa: E402
from test_torchrl_native import CASES as SETTINGS  # noqa: E402
from test_torchrl_native import uniform_actions  # noqa: E402
from torchrl.envs import EnvBase  # noqa: E402

from socius.envs import core, kernels, spaces, torchrl_env  # noqa: E402
from socius.envs.torchrl_env import make_torchrl  # noqa: E402
from socius.envs.torchrl_parts import flat_columns, kept_from_root, present_step  # noqa: E402


def policy_with_extras(env, generator: torch.Generator):
    """Uniform allowed actions, plus entries a policy adds (kept by ``step_mdp``)."""
    uniform = uniform_actions(env, generator)

    def policy(tensordict):
        tensordict = uniform(tensordict)
        for group in env.group_map:
            shape = tensordict[group, "action_mask"].shape
            tensordict[group, "logits"] = torch.randn(shape, generator=generator)
        tensordict["extra"] = torch.arange(env.num_envs)
        return tensordict
    return policy


def unshortened(env, merge: bool = False):
    """``env`` stepped by TorchRL's ``step_and_maybe_reset`` and ``_step_proc_data`` (and
    with ``merge``, its masked-merge ``maybe_reset`` too)."""
    env._step_proc_data = lambda data: EnvBase._step_proc_data(env, data)
    env.step_and_maybe_reset = lambda data: EnvBase.step_and_maybe_reset(env, data)
    if merge:
        env.maybe_reset = lambda data: EnvBase.maybe_reset(env, data)
    return env


POLICY_KEYS = {("speaker", "action"), ("listener", "action"), ("speaker", "logits"),
               ("listener", "logits"), ("agent", "action"), ("agent", "logits"), "extra"}


def assert_same(left, right, restarted=None):
    """Same nested keys, every value equal (the policy's entries only in the worlds not
    ``restarted``: TorchRL's masked merge pads them with zeros there)."""
    assert set(left.keys(True, True)) == set(right.keys(True, True))
    for key in left.keys(True, True):
        if restarted is not None and key in POLICY_KEYS:
            assert torch.equal(left[key][~restarted], right[key][~restarted]), key
        else:
            assert torch.equal(left[key], right[key]), key


# Worlds whose episodes a partial reset cuts short before the given steps (of 7 worlds).
STAGGER = {1: [True, False, True, False, False, True, False],
           3: [False, True, False, False, True, False, False]}


@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("options", [{}, {"return_state": True},
                                     {"one_hot": True, "spatial_view": True}])
def test_step_and_maybe_reset_equals_torchrls_path(name, options):
    """The same tensordicts as TorchRL's ``step_and_maybe_reset`` over the env's restart
    path, and, but for the policy's entries in restarted worlds, over its masked merge."""
    envs = [make_torchrl(name, 7, seed=5, **options, **SETTINGS[name]) for _ in range(3)]
    envs[1], envs[2] = unshortened(envs[1]), unshortened(envs[2], merge=True)
    policies = [policy_with_extras(env, torch.Generator().manual_seed(1)) for env in envs]
    carried = [env.reset() for env in envs]
    restarts = partial = 0
    for step in range(20):
        if step in STAGGER:  # cut some episodes short: worlds then end on different steps
            for data in carried:
                data["_reset"] = torch.tensor(STAGGER[step])[:, None]
            carried = [env.reset(data) for env, data in zip(envs, carried)]
        outputs = [env.step_and_maybe_reset(policy(data))
                   for env, policy, data in zip(envs, policies, carried)]
        (fast, fast_carried), (slow, slow_carried), (merged, merged_carried) = outputs
        assert_same(fast, slow)
        assert_same(fast_carried, slow_carried)
        done = fast["next", "done"].reshape(-1)
        assert_same(fast, merged)
        assert_same(fast_carried, merged_carried, restarted=done)
        assert "_reset" not in fast_carried.keys()
        restarts += int(done.any())
        partial += int(done.any() and not done.all())
        carried = [data for _, data in outputs]
    assert restarts >= 2 and partial >= 1


def test_outputs_never_share_memory_with_later_steps():
    """Tensors kept from one step keep their values while the env steps on (the adapter
    reuses the memory of outputs only once nothing refers to them)."""
    env = make_torchrl("referential_v0", 32, seed=0, num_agents=2, max_cycles=4)
    policy = policy_with_extras(env, torch.Generator().manual_seed(0))
    carried = env.reset()
    kept = []
    for _ in range(12):
        stepped, carried = env.step_and_maybe_reset(policy(carried))
        leaves = [stepped["next", "speaker", "observation"], stepped["next", "listener",
                  "action_mask"], carried["speaker", "observation"],
                  carried["listener", "action_mask"]]
        for earlier, copy in kept:
            assert torch.equal(earlier, copy)
            for leaf in leaves:
                assert not np.shares_memory(earlier.numpy(), leaf.numpy())
        kept += [(leaf, leaf.clone()) for leaf in leaves[:2]]
        del stepped, leaves


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_adapters_presentation_is_spaces_present(name):
    env = make_torchrl(name, 5, seed=3, **SETTINGS[name])
    env.reset()
    observation = core.observe(env.world, env._state)
    shown, mask = env._present(observation)
    expected, expected_mask = spaces.present(env.world, observation)
    assert shown.dtype == expected.dtype and mask.dtype == expected_mask.dtype
    np.testing.assert_array_equal(shown, expected)
    np.testing.assert_array_equal(mask, expected_mask)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_one_pass_presentation_equals_the_copy_and_scatter(name):
    """``present_step``'s kernel writes what presenting, copying and scattering the ended
    worlds' rows gives (the numpy path), for both the carried and the ``next`` arrays."""
    if kernels.compiled() is None:
        pytest.skip("numba is not installed: present_step has only its numpy path")
    env = make_torchrl(name, 16, seed=3, **SETTINGS[name])
    env.reset()
    generator = np.random.default_rng(0)
    partial = 0
    for step in range(12):
        if step in (1, 3):  # cut some episodes short: worlds then end on different steps
            env._state = core.restart(env.world, env._state, np.arange(step, 16, 3))
        joint = generator.integers(0, len(env._decoded), (16, env.world.num_agents))
        env._state, result = core.step(env.world, env._state, env._decoded[joint])
        columns = flat_columns(env.world, result.observation)
        arguments = (env._present, result.observation, result.final_observation,
                     result.final_index, columns, len(env._decoded))
        compiled = present_step(*arguments)
        previous = kernels.use("numpy")
        try:
            reference = present_step(*arguments)
        finally:
            kernels.use(previous)
        for got, expected in zip([*compiled[0], *compiled[1]], [*reference[0], *reference[1]]):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
        partial += int(0 < result.final_index.size < 16)
    assert partial >= 1  # some worlds ended while others ran on


def test_a_root_holding_other_tensordicts_carries_them_as_torchrl_does(monkeypatch):
    """A nested TensorDict outside the groups (a collector adds one) and one inside a
    group are carried over as TorchRL's ``step_mdp`` carries them: the same results, in
    copies of their own."""
    envs = [make_torchrl("referential_v0", 6, seed=2, num_agents=2, max_cycles=3)
            for _ in range(2)]
    envs[1] = unshortened(envs[1])
    policies = [policy_with_extras(env, torch.Generator().manual_seed(4)) for env in envs]
    carried = [env.reset() for env in envs]
    fast = []
    monkeypatch.setattr(torchrl_env, "kept_from_root",
                        lambda *args: fast.append(kept_from_root(*args)) or fast[-1])
    for step in range(8):
        for data in carried:
            data["collector"] = TensorDict({"step": torch.full((6,), step)}, batch_size=[6])
            data["listener", "memory"] = TensorDict({"h": torch.ones(6, 1, 3)}, [6, 1])
        outputs = [env.step_and_maybe_reset(policy(data))
                   for env, policy, data in zip(envs, policies, carried)]
        assert_same(outputs[0][0], outputs[1][0])
        assert_same(outputs[0][1], outputs[1][1])
        (stepped, fast_carried), _ = outputs
        assert torch.equal(fast_carried["collector", "step"], torch.full((6,), step))
        assert fast_carried["collector"] is not stepped["collector"]
        assert fast_carried["listener", "memory"] is not stepped["listener", "memory"]
        carried = [data for _, data in outputs]
    assert any(kept is not None for kept in fast)  # the fast carry ran


def test_named_dims_survive_as_through_torchrl():
    """A root with named dims takes TorchRL's own step and carry, which keep the names."""
    envs = [make_torchrl("referential_v0", 5, seed=1, num_agents=2, max_cycles=2)
            for _ in range(2)]
    envs[1] = unshortened(envs[1])
    policies = [uniform_actions(env, torch.Generator().manual_seed(2)) for env in envs]
    carried = [env.reset() for env in envs]
    for _ in range(4):
        for data in carried:
            data.names = ["world"]
        outputs = [env.step_and_maybe_reset(policy(data))
                   for env, policy, data in zip(envs, policies, carried)]
        (stepped, kept), (expected, expected_kept) = outputs
        assert_same(stepped, expected)
        assert stepped["next"].names == expected["next"].names == ["world"]
        assert kept.names == expected_kept.names
        carried = [data for _, data in outputs]
