"""Task-specific behaviour: the claims each task's docstring makes."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from pettingzoo.test import render_test

import socius.envs as envs
from socius.envs import core, layouts
from socius.envs.settings import configure
from socius.envs.state import COLOUR, SHAPE


def build(name, **kwargs):
    module = envs.ENVIRONMENTS[name]
    return module.build_world(configure(module.CONFIG, kwargs))


def stay(world, batch):
    return np.zeros((batch, world.num_agents, 1 + world.config.message_length), np.int64)


@pytest.mark.parametrize("name", envs.TASKS)
def test_pettingzoo_render_test(name):
    render_test(functools.partial(envs.ENVIRONMENTS[name].env, seed=0))


def test_procedural_mazes_have_far_goals():
    world = build("maze_v0", layout="maze", size=21, num_layouts=4, layout_seed=1)
    farthest = []
    for walls in world.info["walls"]:
        start = tuple(np.argwhere(~walls)[0])
        farthest.append(layouts.distances_from(walls, start).max())
    assert min(farthest) >= 50


def test_four_rooms_is_connected_through_doorways():
    walls = layouts.four_rooms(13)
    distance = layouts.distances_from(walls, (1, 1))
    assert ((distance >= 0) == ~walls).all()


def test_t_maze_cue_is_visible_only_at_the_start():
    world = build("maze_v0", layout="t_maze", size=4)
    state, observation = core.reset(world, 3, 16)
    centre = world.config.view_radius
    cue = observation["view"][:, 0, COLOUR, centre, centre]
    assert set(cue.tolist()) == {1, 2}  # colours 0 and 1 both occur over 16 episodes
    goal_is_left = state.goal[:, 0, 1] < world.width // 2
    assert np.array_equal(cue == 1, goal_is_left)
    assert (observation["goal_mask"] == 0).all()
    state, result = core.step(world, state, stay(world, 16))
    assert (result.observation["view"][:, :, COLOUR] == 0).all()


def test_noisy_tv_changes_every_step():
    world = build("maze_v0", layout="four_rooms", size=11, noisy_tv=True, max_cycles=200)
    state, _ = core.reset(world, 0, 1)
    tv_row, tv_col = np.divmod(world.info["tv_cell"][0], world.width)
    seen = []
    for _ in range(60):
        state, _ = core.step(world, state, stay(world, 1))
        seen.append(tuple(state.cells[0, [COLOUR, SHAPE], tv_row + world.pad,
                                      tv_col + world.pad]))
    assert len(set(seen)) >= 10
    assert all(c >= 1 and s >= 1 for c, s in seen)


def test_arena_holds_a_thousand_agents():
    world = build("maze_v0", layout="open", size=64, num_agents=1000, max_cycles=5)
    state, observation = core.reset(world, 0, 1)
    generator = np.random.default_rng(0)
    for _ in range(4):
        actions = generator.integers(0, 5, (1, 1000, 1))
        state, result = core.step(world, state, actions)
    cells = set(zip(state.row[0].tolist(), state.col[0].tolist()))
    assert len(cells) == 1000
    assert result.observation["others"].shape == (1, 1000, 4, 6)


@pytest.mark.parametrize("drop, replace", [(0.3, 0.0), (0.0, 0.4), (0.2, 0.2)])
def test_channel_noise_rates(drop, replace):
    world = build("referential_v0", num_agents=20, message_length=4, vocab_size=8,
                  token_drop_prob=drop, token_replace_prob=replace, max_cycles=1000)
    state, _ = core.reset(world, 0, 50)
    said = np.full((50, 20, 5), 3, np.int64)
    said[..., 0] = 0
    state, _ = core.step(world, state, said)
    heard = state.last_message
    dropped = (heard == -1).mean()
    # A replacement draws uniformly from V = 8 tokens, so 1/8 of them repeat the token.
    changed = ((heard != -1) & (heard != 3)).mean()
    assert abs(dropped - drop) < 0.03
    assert abs(changed - replace * 7 / 8) < 0.03


def test_referential_success_needs_the_target():
    world = build("referential_v0", num_objects=3, max_cycles=30)
    state, observation = core.reset(world, 0, 1)
    from socius.agents.scripted import ReferentialExpert

    expert = ReferentialExpert(world)
    returns = 0.0
    for _ in range(30):
        action, _ = expert.act(observation, {}, np.zeros(1, bool), np.random.default_rng(0))
        state, result = core.step(world, state, action)
        observation = result.observation
        returns += result.reward.sum()
        if result.final_index.size:
            break
    assert returns == 2.0
    assert result.terminated[0]
    assert np.array_equal(result.achieved_goal[0, 1], result.desired_goal[0, 1])


def test_goal_cycle_rewards_the_right_order_and_penalises_others():
    world = build("goal_cycle_v0", num_agents=1, penalty=0.5, max_cycles=500)
    state, _ = core.reset(world, 1, 1)
    from socius.agents.scripted import CycleExpert, Privileged, RandomPolicy

    expert, policy_state = CycleExpert(), CycleExpert().initial_state(1)
    rewards = []
    for _ in range(60):
        action, policy_state = expert.act(None, policy_state, np.zeros(1, bool), None,
                                          Privileged(world, state))
        state, result = core.step(world, state, action)
        rewards.append(float(result.reward[0, 0]))
    assert rewards.count(1.0) >= 6 and -0.5 not in rewards
    walker = RandomPolicy(8, 0)
    state, observation = core.reset(world, 1, 1)
    generator = np.random.default_rng(5)
    penalties = 0
    for _ in range(400):
        action, _ = walker.act(observation, {}, None, generator)
        state, result = core.step(world, state, action)
        observation = result.observation
        penalties += int(result.reward[0, 0] == -0.5)
    assert penalties > 0


@pytest.mark.parametrize("name", ["referential_v0", "goal_cycle_v0", "maze_v0"])
def test_reset_infos_report_the_goals_a_step_of_standing_still_reports(name):
    from socius.envs import ENVIRONMENTS

    env = ENVIRONMENTS[name].parallel_env()
    observations, reset_infos = env.reset(seed=3)
    width = 1 + env.world.config.message_length
    _, _, _, _, step_infos = env.step({a: np.zeros(width, np.int64) for a in env.agents})
    for agent in env.possible_agents:
        assert np.array_equal(reset_infos[agent]["desired_goal"],
                              step_infos[agent]["desired_goal"]), agent
        assert np.array_equal(reset_infos[agent]["achieved_goal"],
                              step_infos[agent]["achieved_goal"]), agent
    if name == "maze_v0":
        assert np.array_equal(reset_infos["agent_0"]["achieved_goal"],
                              observations["agent_0"]["position"])
