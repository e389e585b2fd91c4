"""The goal-conditioned Gymnasium env: API checks, the goal reward, seeding, and HER with SB3."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from socius.envs.wrappers import goal_env

SB3_MISSING = "the socius[sb3] extra is not installed (pip install 'socius[sb3]')"
FOUR_ROOMS = dict(layout="four_rooms", size=11, max_cycles=50)
OPEN = dict(layout="open", size=7, max_cycles=30)

SETUPS = [
    ("maze_v0", dict(FOUR_ROOMS)),
    ("maze_v0", dict(num_agents=2, others="random", **OPEN)),
    ("maze_v0", dict(observation_keys=("position",), **FOUR_ROOMS)),
    ("goal_cycle_v1", dict(reveal_order=True)),
]


@pytest.mark.parametrize("name, options", SETUPS)
def test_passes_the_gymnasium_and_sb3_checkers(name, options):
    gymnasium_check_env(goal_env(name, **options), skip_render_check=True)
    env_checker = pytest.importorskip("stable_baselines3.common.env_checker", reason=SB3_MISSING)
    env_checker.check_env(goal_env(name, **options))


def test_action_space_is_discrete_without_tokens_and_multidiscrete_with_them():
    assert goal_env("maze_v0").action_space.n == 5
    spoken = goal_env("maze_v0", message_length=2, vocab_size=3).action_space
    assert list(spoken.nvec) == [5, 3, 3]


def test_compute_reward_batched_equals_per_row():
    env = goal_env("maze_v0", **FOUR_ROOMS)
    generator = np.random.default_rng(0)
    achieved = generator.integers(0, 3, size=(200, 2)).astype(np.int32)
    desired = generator.integers(0, 3, size=(200, 2)).astype(np.int32)
    infos = np.array([{} for _ in range(200)])
    batched = env.compute_reward(achieved, desired, infos)
    rows = [float(env.compute_reward(a, d, {})) for a, d in zip(achieved, desired)]
    assert batched.shape == (200,)
    np.testing.assert_array_equal(batched, rows)
    np.testing.assert_array_equal(batched, np.where((achieved == desired).all(axis=1), 0, -1))
    assert 0 < (batched == 0).sum() < 200


def test_compute_reward_rejects_goals_of_different_shapes():
    with pytest.raises(ValueError, match="achieved_goal and desired_goal"):
        goal_env("maze_v0").compute_reward(np.zeros((4, 2)), np.zeros((4, 3)), {})


def step_towards(observation):
    """Move (in an open room) one cell towards the desired goal: row first, then column."""
    row, col = observation["achieved_goal"]
    goal_row, goal_col = observation["desired_goal"]
    if row != goal_row:
        return 1 if goal_row < row else 2
    return 3 if goal_col < col else 4


def test_reaching_the_goal_gives_zero_reward_success_and_termination():
    env = goal_env("maze_v0", **OPEN)
    for seed in range(5):
        observation, _ = env.reset(seed=seed)
        assert not np.array_equal(observation["achieved_goal"], observation["desired_goal"])
        rewards = []
        while True:
            observation, reward, terminated, truncated, info = env.step(step_towards(observation))
            rewards.append(reward)
            assert reward == env.compute_reward(observation["achieved_goal"],
                                                observation["desired_goal"], info)
            if terminated or truncated:
                break
        assert terminated and not truncated
        assert info["is_success"] == 1.0
        np.testing.assert_array_equal(observation["achieved_goal"], observation["desired_goal"])
        assert rewards[-1] == 0.0 and all(r == -1.0 for r in rewards[:-1])


def test_standing_still_is_truncated_without_success():
    env = goal_env("maze_v0", **OPEN)
    env.reset(seed=0)
    for _ in range(OPEN["max_cycles"]):
        _, reward, terminated, truncated, info = env.step(0)
        assert reward == -1.0 and not terminated and info["is_success"] == 0.0
    assert truncated


def rollout(env, seed, steps=60):
    """Observations of ``steps`` seeded random steps (resetting at episode ends)."""
    generator = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    seen = [observation]
    for _ in range(steps):
        observation, _, terminated, truncated, _ = env.step(int(generator.integers(5)))
        seen.append(observation)
        if terminated or truncated:
            observation, _ = env.reset()
            seen.append(observation)
    return [np.concatenate([o[key] for key in sorted(o)]) for o in seen]


def test_same_seed_same_episodes_and_different_seeds_differ():
    options = dict(num_agents=2, others="random", **OPEN)
    first = rollout(goal_env("maze_v0", **options), seed=3)
    again = rollout(goal_env("maze_v0", **options), seed=3)
    other = rollout(goal_env("maze_v0", **options), seed=4)
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert not np.array_equal(np.stack(first[:10]), np.stack(other[:10]))


def test_others_callable_sees_every_agent_and_its_actions_are_applied():
    seen = []

    def others(observations):
        seen.append({name: observation["position"].copy()
                     for name, observation in observations.items()})
        return {"agent_1": np.array([4])}  # always try to move right

    env = goal_env("maze_v0", num_agents=2, others=others, **OPEN)
    env.reset(seed=0)
    for _ in range(8):
        env.step(0)
    assert set(seen[0]) == {"agent_0", "agent_1"}
    columns = [positions["agent_1"][1] for positions in seen]
    assert all(later >= earlier for earlier, later in zip(columns, columns[1:]))
    assert columns[-1] > columns[0] or columns[0] == OPEN["size"] - 2


@pytest.mark.parametrize("name, options, field", [
    ("maze_v9", {}, "name"),
    ("maze_v0", dict(agent="agent_7"), "agent"),
    ("maze_v0", dict(others="dance"), "others"),
    ("maze_v0", dict(observation_keys=("goal",)), "observation_keys"),
    ("maze_v0", dict(observation_keys=()), "observation_keys"),
    ("maze_v0", dict(flatten=True), "flatten"),
    ("maze_v0", dict(render_mode="human"), "render_mode"),
])
def test_bad_options_name_the_field(name, options, field):
    with pytest.raises(ValueError, match=field):
        goal_env(name, **options)


def test_step_before_reset_is_an_error():
    with pytest.raises(ValueError, match="reset"):
        goal_env("maze_v0").step(0)


def make_dqn(her: bool, seed: int, **overrides):
    """DQN on the four-rooms goal env, with or without HER (same hyperparameters)."""
    sb3 = pytest.importorskip("stable_baselines3", reason=SB3_MISSING)
    from stable_baselines3.common.vec_env import DummyVecEnv

    settings = dict(learning_rate=5e-4, buffer_size=50_000, learning_starts=200,
                    batch_size=128, gamma=0.95, train_freq=2, target_update_interval=500,
                    exploration_fraction=0.2, exploration_final_eps=0.05,
                    policy_kwargs=dict(net_arch=[128, 128]), device="cpu")
    settings.update(overrides)
    if her:
        settings.update(replay_buffer_class=sb3.HerReplayBuffer,
                        replay_buffer_kwargs=dict(n_sampled_goal=4,
                                                  goal_selection_strategy="future"))
    env = DummyVecEnv([lambda: goal_env("maze_v0", **FOUR_ROOMS)])
    return sb3.DQN("MultiInputPolicy", env, seed=seed, **settings)


def test_her_dqn_runs_and_relabelled_rewards_match_compute_reward(one_torch_thread):
    model = make_dqn(her=True, seed=0)
    model.learn(400)
    assert model.num_timesteps == 400
    samples = model.replay_buffer.sample(256)
    achieved = samples.next_observations["achieved_goal"].numpy()
    desired = samples.observations["desired_goal"].numpy()
    expected = goal_env("maze_v0").compute_reward(achieved, desired, None)
    np.testing.assert_array_equal(samples.rewards.numpy().ravel(), expected)
    assert (expected == 0).any()  # hindsight goals turn some failures into successes
    action, _ = model.predict(goal_env("maze_v0", **FOUR_ROOMS).reset(seed=0)[0])
    assert 0 <= int(action) < 5


def success_rate(model, episodes: int) -> float:
    """Greedy success rate over fixed evaluation episodes (seeds 10_000 + k)."""
    successes = 0
    for episode in range(episodes):
        env = goal_env("maze_v0", **FOUR_ROOMS)
        observation, _ = env.reset(seed=10_000 + episode)
        while True:
            action, _ = model.predict(observation, deterministic=True)
            observation, _, terminated, truncated, info = env.step(int(action))
            if terminated or truncated:
                successes += info["is_success"] > 0
                break
    return successes / episodes


@pytest.mark.slow
def test_her_beats_plain_replay_on_four_rooms(one_torch_thread):
    rates = {}
    for her in (True, False):
        model = make_dqn(her=her, seed=0)
        model.learn(10_000)
        rates[her] = success_rate(model, 100)
    assert rates[True] >= rates[False] + 0.25, rates


def test_importing_the_wrappers_loads_no_optional_library_nor_upper_layer():
    import subprocess
    import sys

    code = ("import sys, socius.envs.wrappers; print(sorted(m for m in sys.modules if m in "
            "('stable_baselines3', 'supersuit', 'socius.agents', 'socius.societies')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert output.strip() == "[]"


def test_rgb_render_and_pickling_keep_the_episode():
    import pickle

    env = goal_env("maze_v0", render_mode="rgb_array", **OPEN)
    env.reset(seed=1)
    env.step(1)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    copy = pickle.loads(pickle.dumps(env))
    for action in (2, 3, 4, 0):
        left, right = env.step(action), copy.step(action)
        for key in left[0]:
            np.testing.assert_array_equal(left[0][key], right[0][key])
        assert left[1:4] == right[1:4]
