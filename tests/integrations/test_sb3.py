"""Stable-Baselines3: the native VecEnv and the SuperSuit path give the same seeded worlds,
and a PPO run learns."""

import numpy as np
import pytest

pytest.importorskip("stable_baselines3",
                    reason="the socius[sb3] extra is not installed (pip install 'socius[sb3]')")
pytest.importorskip("supersuit",
                    reason="the socius[sb3] extra is not installed (pip install 'socius[sb3]')")

import gymnasium  # noqa: E402

from socius.envs import maze_v0, referential_v0  # noqa: E402
from socius.envs.wrappers import (  # noqa: E402
    check_shared_spaces,
    sb3_vec_env,
    supersuit_vec_env,
)

PATHS = pytest.mark.parametrize("make", [sb3_vec_env, supersuit_vec_env],
                                ids=["native", "supersuit"])

SHORT_MAZE = dict(layout="open", size=7, max_cycles=6, num_agents=2)
EASY_MAZE = dict(layout="open", size=7, max_cycles=20)


def random_actions(generator, vec, steps):
    """A fixed sequence of random actions for ``vec``: [steps, num_envs] joint indices
    (Discrete, e.g. a mute maze) or [steps, num_envs, 1 + L] (MultiDiscrete)."""
    if isinstance(vec.action_space, gymnasium.spaces.Discrete):
        return generator.integers(0, vec.action_space.n, size=(steps, vec.num_envs))
    high = vec.action_space.nvec
    return generator.integers(0, high, size=(steps, vec.num_envs, len(high)))


def play(vec, actions):
    """Reset, then step through ``actions``: observations [1 + steps, num_envs, F], dones."""
    observations, dones = [vec.reset()], []
    for action in actions:
        observation, _, done, _ = vec.step(action)
        observations.append(observation)
        dones.append(done)
    return np.stack(observations), np.stack(dones)


@PATHS
def test_copies_play_different_episodes(make):
    vec = make("maze_v0", 4, seed=3, **SHORT_MAZE)
    observations, _ = play(vec, random_actions(np.random.default_rng(0), vec, 20))
    agents = 2
    per_copy = observations.reshape(len(observations), 4, agents, -1)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(per_copy[:, i], per_copy[:, j]), (i, j)


@PATHS
def test_same_seed_same_observations_and_other_seed_differs(make):
    actions = random_actions(np.random.default_rng(1), make("maze_v0", 3, 0,
                                                                    **SHORT_MAZE), 30)
    first, first_dones = play(make("maze_v0", 3, seed=11, **SHORT_MAZE), actions)
    second, second_dones = play(make("maze_v0", 3, seed=11, **SHORT_MAZE), actions)
    other, _ = play(make("maze_v0", 3, seed=12, **SHORT_MAZE), actions)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first_dones, second_dones)
    assert not np.array_equal(first, other)


@PATHS
def test_copy_i_matches_a_standalone_env_seeded_seed_plus_i(make):
    seed, copies, agents = 40, 3, 2
    vec = make("maze_v0", copies, seed=seed, **SHORT_MAZE)
    actions = random_actions(np.random.default_rng(2), vec, 20)  # crosses episode ends
    observations, dones = play(vec, actions)
    assert dones.any()
    for i in range(copies):
        standalone = maze_v0.parallel_env(flatten=True, **SHORT_MAZE)
        observation, _ = standalone.reset(seed=seed + i)
        names = standalone.possible_agents
        for step, action in enumerate(actions):
            block = slice(i * agents, (i + 1) * agents)
            expected = np.stack([observation[name] for name in names])
            np.testing.assert_array_equal(observations[step, block], expected)
            observation, _, terminated, truncated, _ = standalone.step(
                {name: action[i * agents + k] for k, name in enumerate(names)})
            if any(terminated.values()) or any(truncated.values()):
                assert dones[step, block].all()
                observation, _ = standalone.reset()


@PATHS
def test_ppo_seed_reseeds_the_copies(make):
    from stable_baselines3 import PPO

    vec = make("maze_v0", 2, seed=0, **EASY_MAZE)
    PPO("MlpPolicy", vec, seed=7, n_steps=16, batch_size=16, device="cpu")
    np.testing.assert_array_equal(vec.reset(),
                                  make("maze_v0", 2, seed=7, **EASY_MAZE).reset())


@PATHS
def test_spaces_are_a_flat_int_box_and_multidiscrete(make):
    vec = make("referential_v0", 2, seed=0, num_agents=2)
    parallel = referential_v0.parallel_env(flatten=True, num_agents=2)
    assert vec.num_envs == 2 * len(parallel.possible_agents)
    assert isinstance(vec.observation_space, gymnasium.spaces.Box)
    assert vec.observation_space.dtype == np.int32 and len(vec.observation_space.shape) == 1
    assert isinstance(vec.action_space, gymnasium.spaces.MultiDiscrete)
    assert vec.reset().shape == (vec.num_envs, *vec.observation_space.shape)


@pytest.mark.parametrize("arguments, field", [
    (dict(name="maze_v0", n_copies=0, seed=0), "n_copies"),
    (dict(name="maze_v0", n_copies="2", seed=0), "n_copies"),
    (dict(name="maze_v0", n_copies=2, seed=-1), "seed"),
    (dict(name="mazes_v9", n_copies=2, seed=0), "name"),
])
@PATHS
def test_bad_arguments_name_the_field(make, arguments, field):
    with pytest.raises(ValueError, match=field):
        make(**arguments)


def test_agents_with_different_spaces_are_rejected_by_name():
    class Uneven:
        possible_agents = ["agent_0", "agent_1"]

        def observation_space(self, agent):
            return gymnasium.spaces.Box(0, 1, shape=(3 if agent == "agent_0" else 4,))

        def action_space(self, agent):
            return gymnasium.spaces.Discrete(5)

    with pytest.raises(ValueError, match=r"observation_space.*\['agent_1'\]"):
        check_shared_spaces(Uneven())


def mean_return(vec, choose, episodes):
    """Mean undiscounted return of the first ``episodes`` episodes that end in ``vec``."""
    observation = vec.reset()
    totals, finished = np.zeros(vec.num_envs), []
    while len(finished) < episodes:
        observation, reward, done, _ = vec.step(choose(observation))
        totals += reward
        for index in np.flatnonzero(done):
            finished.append(totals[index])
            totals[index] = 0.0
    return float(np.mean(finished[:episodes]))


def test_ppo_learns_to_reach_the_goal_better_than_random(one_torch_thread):
    from stable_baselines3 import PPO

    vec = sb3_vec_env("maze_v0", 4, seed=0, **EASY_MAZE)
    model = PPO("MlpPolicy", vec, seed=0, n_steps=256, batch_size=256, n_epochs=4,
                learning_rate=1e-3, ent_coef=0.01, gamma=0.95, device="cpu",
                policy_kwargs=dict(net_arch=[64, 64]))
    model.learn(20_000)
    generator = np.random.default_rng(0)
    evaluation = dict(n_copies=4, seed=100, **EASY_MAZE)
    random_return = mean_return(sb3_vec_env("maze_v0", **evaluation),
                                lambda o: generator.integers(0, 5, size=len(o)), 200)
    trained_return = mean_return(sb3_vec_env("maze_v0", **evaluation),
                                 lambda o: model.predict(o, deterministic=True)[0], 200)
    assert np.isfinite(trained_return)
    assert trained_return >= random_return + 0.4, (trained_return, random_return)


@pytest.mark.parametrize("name, config", [
    ("maze_v0", SHORT_MAZE),
    ("referential_v0", dict(num_agents=4, max_cycles=5)),
    ("goal_cycle_v1", dict(max_cycles=6)),
])
def test_native_and_supersuit_paths_play_the_same_worlds(name, config):
    """Same seed and actions: identical observations, rewards and dones, and each ended
    episode's terminal observation in infos."""
    native, generic = sb3_vec_env(name, 3, seed=5, **config), supersuit_vec_env(
        name, 3, seed=5, **config)
    actions = random_actions(np.random.default_rng(3), native, 25)
    np.testing.assert_array_equal(native.reset(), generic.reset())
    ends = 0
    for action in actions:
        observation, reward, done, infos = native.step(action)
        expected_observation, expected_reward, expected_done, expected_infos = generic.step(
            action)
        np.testing.assert_array_equal(observation, expected_observation)
        np.testing.assert_array_equal(reward, expected_reward)
        np.testing.assert_array_equal(done, expected_done)
        for index in np.flatnonzero(done):
            np.testing.assert_array_equal(infos[index]["terminal_observation"],
                                          expected_infos[index]["terminal_observation"])
            # SuperSuit lays the next episode's reset infos (zero outcomes) over the last
            # step's, so the outcomes are checked against the rewards in the next test.
            ends += 1
        assert all(info == {} for info, ended in zip(infos, done) if not ended)
    assert ends > 0


def test_native_outcomes_and_masks_reach_sb3():
    vec = sb3_vec_env("referential_v0", 8, seed=0, num_agents=2, mask_in="info",
                      action_mask="components")
    vec.reset()
    masks = vec.env_method("action_masks")
    assert len(masks) == vec.num_envs and masks[0].dtype == bool
    assert masks[0].shape == (5 + 2 * 8,) and not masks[0][1:5].any()  # a speaker stays
    generator = np.random.default_rng(0)
    successes = 0
    for _ in range(60):
        _, reward, done, infos = vec.step(random_actions(generator, vec, 1)[0])
        for info, paid, ended in zip(infos, reward, done):
            assert bool(info) == ended  # infos are filled at episode ends only
            if ended:
                assert {"terminal_observation", "TimeLimit.truncated", "success", "timeout",
                        "is_success"} <= set(info)
                assert info["is_success"] == (info["success"] == 1.0) == (paid == 1.0)
                successes += info["is_success"]
    assert successes > 0


def test_native_bad_actions_get_a_clear_error():
    vec = sb3_vec_env("maze_v0", 2, seed=0, **SHORT_MAZE)
    vec.reset()
    with pytest.raises(ValueError, match=r"actions must have shape .* \(4,\)"):
        vec.step(np.zeros((3,), dtype=np.int64))
    with pytest.raises(ValueError, match=r"joint actions must be integers in \[0, 5\)"):
        vec.step(np.array([0, 1, 2, 5]))
    talking = sb3_vec_env("referential_v0", 1, seed=0, num_agents=2)
    talking.reset()
    with pytest.raises(ValueError, match="message token of agent 'speaker_0'"):
        talking.step(np.array([[0, 9, 0], [0, 0, 0]]))
