"""The fair-tasks issue: the referential game's timing, outcomes, timeout cost and contrast
rooms; goal_cycle_v1's scoring; the spaces every library accepts; goal_env's refusals."""

from __future__ import annotations

import numpy as np
import pytest

from socius.envs import core, goal_cycle_v1, maze_v0, referential_v0, spaces
from socius.envs.state import TILE, replace
from socius.envs.wrappers import goal_env

HELD_8X8 = tuple((i, i) for i in range(8))


def test_listener_hears_the_message_before_its_first_move():
    env = referential_v0.parallel_env(message_length=2)
    observations, _ = env.reset(seed=3)
    assert observations["listener_0"]["action_mask"].tolist() == [1, 0, 0, 0, 0]
    assert (observations["listener_0"]["inbox"] == 0).all()
    before = observations["listener_0"]["position"].copy()
    observations, *_ = env.step({"speaker_0": np.array([0, 5, 6]),
                                 "listener_0": np.array([2, 0, 0])})
    # The opening step moved nobody, and the listener now hears tokens 5 and 6 (+1).
    assert (observations["listener_0"]["position"] == before).all()
    assert observations["listener_0"]["inbox"][0].tolist() == [6, 7]
    assert observations["listener_0"]["action_mask"][1:].any()


def test_old_timing_moves_in_silence_from_the_first_step():
    env = referential_v0.parallel_env(speak_first=False)
    observations, _ = env.reset(seed=3)
    assert observations["listener_0"]["action_mask"][1:].any()


def play_out(world, seed: int, moves: np.ndarray) -> tuple[list, list]:
    """Rewards and outcome infos of one episode with fixed moves ``[N]`` every step."""
    state, _ = core.reset(world, seed, 1)
    actions = np.zeros((1, world.num_agents, 1 + world.config.message_length), np.int64)
    actions[0, :, 0] = moves
    rewards, infos = [], []
    for _ in range(world.config.max_cycles):
        state, result = core.step(world, state, actions, auto_reset=False)
        rewards.append(result.reward[0].copy())
        infos.append({key: value[0].copy() for key, value in result.info.items()})
        if result.terminated[0] or result.truncated[0]:
            break
    return rewards, infos


def test_a_listener_that_never_commits_times_out_and_pays_the_cost():
    world = referential_v0.build_world(referential_v0.CONFIG(timeout_cost=0.25, max_cycles=5))
    rewards, infos = play_out(world, 0, np.zeros(2, np.int64))
    assert len(rewards) == 5
    assert rewards[-1].tolist() == [-0.25, -0.25] and all(r.sum() == 0 for r in rewards[:-1])
    assert [i["timeout"].tolist() for i in infos] == [[0, 0]] * 4 + [[1, 1]]
    assert sum(i["success"].sum() + i["wrong_object"].sum() for i in infos) == 0


def test_every_episode_has_exactly_one_outcome_per_group():
    world = referential_v0.build_world(referential_v0.CONFIG(num_agents=6, max_cycles=8))
    generator = np.random.default_rng(0)
    state, _ = core.reset(world, 1, 64)
    counted = np.zeros((64, 6))
    for _ in range(8):
        actions = np.concatenate([generator.integers(0, 5, (64, 6, 1)),
                                  generator.integers(0, 8, (64, 6, 2))], axis=-1)
        state, result = core.step(world, state, actions, auto_reset=False)
        counted += sum(result.info.values())
        success = result.info["success"] > 0
        assert (result.reward[success] == 1).all()
    assert (counted == 1).all()


def test_contrast_rooms_hold_the_targets_colour_and_shape_elsewhere():
    config = referential_v0.CONFIG(n_colours=8, n_shapes=8, vocab_size=8, held_out=HELD_8X8,
                                   split="test", num_objects=3)
    state, _ = core.reset(referential_v0.build_world(config), 0, 200)
    colour, shape = state.task["object_colour"], state.task["object_shape"]
    target = state.task["target"][:, 0]
    rows = np.arange(200)
    goal_colour, goal_shape = colour[rows, target], shape[rows, target]
    assert (goal_colour == goal_shape).all()  # a held-out pair (i, i)
    others = np.ones_like(colour, bool)
    others[rows, target] = False
    same_colour = ((colour == goal_colour[:, None]) & others).sum(axis=1)
    same_shape = ((shape == goal_shape[:, None]) & others).sum(axis=1)
    assert (same_colour == 1).all() and (same_shape == 1).all()
    assert not ((colour == shape) & others).any()  # no held-out distractor


def test_contrast_needs_three_objects_and_one_group():
    with pytest.raises(ValueError, match="num_objects.*at least 3"):
        referential_v0.parallel_env(held_out=((0, 0),), split="test", num_objects=2)
    with pytest.raises(ValueError, match="num_agents.*one group"):
        referential_v0.parallel_env(held_out=((0, 0),), split="test", num_agents=4)


def test_contrast_refuses_targets_without_a_shown_pair_of_their_colour():
    # With split='all' a held-out pair can be the target; its colour has no shown pair.
    with pytest.raises(ValueError, match="held_out.*these do not: \\[\\(0, 0\\)"):
        referential_v0.parallel_env(n_colours=3, n_shapes=3, contrast="all", split="all",
                                    held_out=((0, 0), (0, 1), (0, 2)))


def test_a_language_run_checks_its_held_out_world_too():
    from socius.envs.settings import configure
    from socius.societies.language.config import LanguageConfig

    with pytest.raises(ValueError, match="num_objects.*at least 3"):
        configure(LanguageConfig, {}, ["world.num_objects=2"])


def cycle_world(**settings):
    """A goal_cycle_v1 world and a fresh state with its K tiles moved to row 2, columns
    1..K, the hidden cycle 0 -> 1 -> ... -> K-1 -> 0, and the agents on the bottom row."""
    world = goal_cycle_v1.build_world(goal_cycle_v1.CONFIG(**settings))
    state, _ = core.reset(world, 0, 1)
    tiles = world.config.num_tiles
    cells = state.cells.copy()
    cells[:, TILE] = 0
    cells[0, TILE, 2 + world.pad, 1 + world.pad:1 + tiles + world.pad] = 1
    task = dict(state.task, tile_row=np.full((1, tiles), 2), tile_col=np.arange(1, tiles + 1)[None],
                successor=np.roll(np.arange(tiles), -1)[None], order=np.arange(tiles)[None])
    state = replace(state, cells=cells, task=task)
    agents = world.num_agents
    return world, core.relocate(world, state, np.full((1, agents), world.height - 2),
                                np.arange(1, agents + 1)[None])


def enter(world, state, tile: int):
    """Put agent_0 under ``tile`` (the others stay put) and step it up onto the tile;
    returns the state and agent_0's reward."""
    rows, cols = state.row.copy(), state.col.copy()
    rows[0, 0], cols[0, 0] = 3, tile + 1
    state = core.relocate(world, state, rows, cols)  # it keeps the task arrays
    actions = np.zeros((1, world.num_agents, 1), np.int64)
    actions[0, 0, 0] = 1  # up
    state, result = core.step(world, state, actions, auto_reset=False)
    return state, float(result.reward[0, 0])


def test_goal_cycle_v1_pays_the_first_tile_and_each_successor_and_resets_on_mistakes():
    world, state = cycle_world(num_tiles=4, penalty=2.0, size=9, num_agents=2)
    state, reward = enter(world, state, 2)
    assert reward == 1.0  # any first tile pays
    state, reward = enter(world, state, 3)
    assert reward == 1.0  # 3 succeeds 2
    state, reward = enter(world, state, 1)
    assert reward == -2.0 and state.task["last"][0, 0] == 1  # 1 does not succeed 3
    state, reward = enter(world, state, 2)
    assert reward == 1.0  # paid again from the tile the mistake left it on
    state, reward = enter(world, state, 2)
    assert reward == -2.0  # re-entering the same tile is a mistake
    assert state.task["last"][0, 1] == -1  # the other agent has entered nothing


def test_goal_cycle_v1_tiles_look_alike():
    world = goal_cycle_v1.build_world(goal_cycle_v1.CONFIG(view_radius=8))
    state, observation = core.reset(world, 0, 16)  # views of the whole grid
    assert (observation["view"][:, :, 3].sum(axis=(-1, -2)) == world.config.num_tiles).all()
    assert set(np.unique(observation["view"][:, :, 3])) <= {0, 1}
    assert goal_cycle_v1.parallel_env().observation_space("agent_0")["view"].high[3].max() == 1


def test_mute_worlds_have_discrete_actions_and_joint_actions_round_trip():
    assert str(maze_v0.parallel_env().action_space("agent_0")) == "Discrete(5)"
    world = referential_v0.build_world(referential_v0.CONFIG(joint_actions=True,
                                                             action_mask="full"))
    assert spaces.action_space(world).n == 5 * 8 * 8
    parts = np.stack(np.meshgrid(np.arange(5), np.arange(8), np.arange(8), indexing="ij"),
                     axis=-1).reshape(-1, 3)
    joint = spaces.encode_actions(world, parts)
    assert joint.tolist() == list(range(320))
    assert (spaces.decode_actions(world, joint) == parts).all()


@pytest.mark.parametrize("kind, size", [("moves", 5), ("components", 5 + 2 * 8)])
def test_masks_cover_what_they_say(kind, size):
    env = referential_v0.parallel_env(action_mask=kind)
    observations, _ = env.reset(seed=0)
    mask = observations["listener_0"]["action_mask"]
    assert mask.shape == (size,) and mask[0] == 1 and (mask[5:] == 1).all()
    assert env.observation_space("listener_0")["action_mask"].shape == (size,)


def test_full_mask_allows_exactly_the_joint_actions_of_allowed_moves():
    env = referential_v0.parallel_env(joint_actions=True, action_mask="full", mask_in="info")
    observations, infos = env.reset(seed=0)
    assert "action_mask" not in observations["listener_0"]
    mask = infos["listener_0"]["action_mask"]
    # An ndarray for PettingZoo's sample(mask); `None in [mask]` answers, for AgileRL.
    assert isinstance(mask, np.ndarray) and mask.dtype == np.int8 and None not in [mask]
    moves = spaces.decode_actions(env.world, np.arange(320))[:, 0]
    assert (mask == (moves == 0)).all()  # the opening step: listeners may only stay
    observations, *_, infos = env.step({agent: 0 for agent in env.agents})
    move_mask = core.observe(env.world, env._core_state)["action_mask"][0, 1]
    assert (np.asarray(infos["listener_0"]["action_mask"]) == move_mask[moves]).all()


def test_wrapped_float_observations_for_tianshou_and_torchrl():
    env = maze_v0.parallel_env(flatten=True, flat_dtype="float32", mask_in="wrapped")
    observations, _ = env.reset(seed=0)
    shown = observations["agent_0"]
    assert set(shown) == {"observation", "action_mask"}
    assert shown["observation"].dtype == np.float32
    assert env.observation_space("agent_0").contains(shown)


def test_a_joint_action_out_of_range_is_refused_with_its_range():
    env = maze_v0.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"agent_0.*\[0, 5\); got 7"):
        env.step({"agent_0": 7})


@pytest.mark.parametrize("settings, message", [
    (dict(action_mask="everything"), "action_mask"),
    (dict(mask_in="somewhere"), "mask_in"),
    (dict(flat_dtype="float64"), "flat_dtype"),
    (dict(joint_actions=True), "action_mask.*'full' with joint_actions"),
    (dict(timeout_cost=-1.0), "timeout_cost"),
    (dict(contrast="some"), "contrast"),
])
def test_bad_settings_name_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        referential_v0.parallel_env(**settings)


def test_goal_env_refuses_a_speaker_and_a_listener_that_must_infer_its_goal():
    with pytest.raises(ValueError, match="no agent of referential_v0 can be seated"):
        goal_env("referential_v0")
    with pytest.raises(ValueError, match="speaker_0 cannot move"):
        goal_env("referential_v0", agent="speaker_0")
    with pytest.raises(ValueError, match="listener_0 may not see its goal"):
        goal_env("referential_v0", agent="listener_0")
    with pytest.raises(ValueError, match="may not see its goal"):
        goal_env("goal_cycle_v1")
    assert goal_env("goal_cycle_v1", reveal_order=True).reset(seed=0)
    with pytest.raises(ValueError, match=r"\['mask_in'\] are not goal_env options"):
        goal_env("maze_v0", mask_in="info")


def test_vector_env_takes_joint_indices_and_reports_outcomes_and_the_info_mask():
    from socius.envs import make_vector

    settings = dict(joint_actions=True, action_mask="full", mask_in="info", max_cycles=4)
    joint = make_vector("referential_v0", 8, seed=2, **settings)
    parts = make_vector("referential_v0", 8, seed=2, max_cycles=4)
    observation, _ = joint.reset(), parts.reset()
    assert "action_mask" not in observation and joint.action_mask.shape == (8, 2, 320)
    assert int(joint.action_mask[0, 1].sum()) == 64  # the opening step: stay, any tokens
    generator = np.random.default_rng(0)
    ended, outcomes = np.zeros(8), np.zeros(8)
    for _ in range(6):
        index = generator.integers(0, 320, (8, 2))
        _, reward, terminated, truncated, info = joint.step(index)
        _, expected, *_, _ = parts.step(spaces.decode_actions(joint.world, index))
        assert (reward == expected).all()
        assert info["action_mask"].shape == (8, 2, 320)
        ended += (terminated | truncated).numpy()
        outcomes += (info["success"] + info["wrong_object"] + info["timeout"])[:, 1].numpy()
    assert (outcomes == ended).all() and ended.min() >= 1  # one outcome per episode
    with pytest.raises(ValueError, match=r"joint actions must be integers in \[0, 320\)"):
        joint.step(np.full((8, 2), 320))
