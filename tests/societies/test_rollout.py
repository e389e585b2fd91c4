"""The episode record: shapes, and an exact replay of every recorded episode."""

from __future__ import annotations

import numpy as np
import pytest

from socius.agents.scripted import GoalSeeker, RandomPolicy
from socius.envs import core, make_vector
from socius.societies.engine.rollout import record_episodes, summarize


def random_policy(venv):
    return RandomPolicy(venv.world.config.vocab_size, venv.world.config.message_length)


@pytest.mark.parametrize("name, kwargs", [
    ("referential_v0", {"num_agents": 4, "token_drop_prob": 0.3}),
    ("maze_v0", {"max_cycles": 12, "num_agents": 2}),
    ("goal_cycle_v0", {"max_cycles": 9, "message_length": 1}),
])
def test_recorded_episodes_replay_exactly(name, kwargs):
    venv = make_vector(name, 3, seed=11, **kwargs)
    episodes = record_episodes(venv, random_policy(venv), np.random.default_rng(0), num_steps=40,
                       policy_ids=("random",) * venv.num_agents)
    assert len(episodes) >= 3
    for episode in episodes:
        state, observation = core.reset(venv.world, episode.seed, 1,
                                        env_index=np.array([episode.env_index]),
                                        episode=episode.episode)
        for t in range(episode.length):
            for key, value in observation.items():
                assert np.array_equal(value[0], episode.observations[key][t]), (key, t)
            assert np.array_equal(~state.finished[0], episode.alive[t])
            assert np.array_equal(state.goal[0], episode.goals[t])
            state, result = core.step(venv.world, state, episode.actions[t][None],
                                      auto_reset=False)
            observation = result.observation
            assert np.array_equal(result.reward[0], episode.rewards[t])
            assert np.array_equal(result.message[0], episode.messages[t])
            assert np.array_equal(result.achieved_goal[0], episode.achieved_goals[t])
        for key, value in observation.items():
            assert np.array_equal(value[0], episode.observations[key][-1]), key
        ended = episode.terminations[-1] | episode.truncations[-1]
        assert ended.all() and not (episode.terminations[:-1] | episode.truncations[:-1]).any()
        assert episode.policy_ids == ("random",) * venv.num_agents


def test_shapes_and_states():
    venv = make_vector("maze_v0", 2, seed=0, max_cycles=30, layout="four_rooms", size=11)
    (episode,) = record_episodes(venv, GoalSeeker(), np.random.default_rng(0), num_steps=60,
                         num_episodes=1, record_states=True)
    steps, agents = episode.length, venv.num_agents
    assert episode.observations["view"].shape[:2] == (steps + 1, agents)
    assert episode.actions.shape == (steps, agents, 1)
    assert episode.messages.shape == (steps, agents, 0)
    assert episode.alive.shape == (steps + 1, agents) and not episode.alive[-1].any()
    assert len(episode.states) == steps + 1
    final = episode.states[-1]
    assert (final.row[0, 0], final.col[0, 0]) == tuple(episode.goals[-1, 0])
    assert summarize([episode], 0).success_rate == 1.0


def test_collect_stops_after_enough_episodes():
    venv = make_vector("referential_v0", 4, seed=0)
    episodes = record_episodes(venv, random_policy(venv), np.random.default_rng(1), num_steps=1000,
                       num_episodes=5)
    assert len(episodes) == 5


def test_episodes_start_from_chosen_cells_and_goals():
    venv = make_vector("maze_v0", 2, seed=3, layout="open", size=7, max_cycles=30)
    row, col = np.array([[1], [5]]), np.array([[1], [5]])
    goal = np.array([[[1, 2]], [[5, 1]]])
    episodes = record_episodes(venv, GoalSeeker(), np.random.default_rng(0), num_steps=30,
                               place=(row, col, goal))
    first = {episode.env_index: episode for episode in episodes if episode.episode == 0}
    assert sorted(first) == [0, 1]
    for env in (0, 1):
        assert first[env].observations["position"][0, 0].tolist() == [row[env, 0],
                                                                       col[env, 0]]
        assert first[env].goal_achieved[-1, 0] > 0  # the seeker walks to the chosen goal
    # One step to (1, 2) from (1, 1); four to (5, 1) from (5, 5).
    assert (first[0].length, first[1].length) == (1, 4)
    with pytest.raises(ValueError, match="free cell"):
        venv.place(np.array([[0], [0]]), np.array([[0], [0]]))
