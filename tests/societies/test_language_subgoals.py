"""The hierarchical listener (agent=hierarchical|walker): room maps, the walker, the
low level's replay and learning, decisions, resume, and a small learning run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from socius.agents.map_memory import OPEN, UNKNOWN, WALL
from socius.agents.subgoal_cells import (
    OBJECT,
    Replay,
    bfs_moves,
    room_cells,
    train_skill,
    walk_distances,
    walk_moves,
)
from socius.envs import core
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.envs.settings import configure
from socius.envs.state import COLOUR
from socius.societies.language import train as language
from socius.societies.language.config import LanguageConfig
from socius.societies.language.subgoals import room_maps

SMALL_ROOM = ["world.room_size=3", "world.view_radius=2", "world.num_objects=2",
              "world.contrast=none"]


def tiny(agent: str, **fields) -> LanguageConfig:
    """A pair on 32 worlds of a 3 x 3 room with two objects."""
    return configure(LanguageConfig, {"num_envs": 32, "population": 1, "eval_envs": 32,
                                      "minibatches": 4, "agent": agent, **fields}, SMALL_ROOM)


def listener_view(config: LanguageConfig, batch: int = 8):
    """The listeners' first observation and the worlds' state."""
    world = language.make_world(config, "train")
    state, observation = core.reset(world, 0, batch)
    return world, state, observation["view"][:, 1], observation["position"][:, 1]


def test_room_map_shows_objects_where_the_world_put_them():
    config = configure(LanguageConfig, {"agent": "walker"}, [])
    world, state, view, position = listener_view(config)
    maps = room_maps(view, position.astype(np.int64), (world.height, world.width))
    pad = world.pad
    objects = state.cells[:, COLOUR, pad:pad + world.height, pad:pad + world.width] > 0
    np.testing.assert_array_equal(maps == OBJECT, objects)
    inside = maps[:, 1:-1, 1:-1]
    assert ((inside == OPEN) | (inside == OBJECT)).all()
    border = np.concatenate([maps[:, [0, -1], :].reshape(len(maps), -1),
                             maps[:, :, [0, -1]].reshape(len(maps), -1)], 1)
    assert np.isin(border, [WALL, UNKNOWN]).all() and (border == WALL).any(-1).all()


def corridor() -> np.ndarray:
    """A 3 x 5 map: a row of open cells between walls, an object in the middle."""
    maps = np.full((1, 3, 5), WALL, np.int8)
    maps[0, 1, :] = OPEN
    maps[0, 1, 2] = OBJECT
    return maps


def test_walks_enter_an_object_but_never_pass_through_one():
    steps = walk_distances(corridor(), np.array([[1, 0]]))[0]
    assert steps[1, 1] == 1 and steps[1, 2] == 2  # the object is entered
    assert steps[1, 3] > 100 and steps[1, 4] > 100  # what lies behind it is not reached


def test_the_walker_goes_round_other_objects():
    maps = np.full((1, 5, 5), OPEN, np.int8)
    maps[0, 2, 1:4] = OBJECT  # a wall of objects between start and subgoal
    position, subgoal = np.array([[0, 2]]), np.array([[4, 2]])
    for _ in range(12):
        move = bfs_moves(maps, position, subgoal)
        position = position + np.array([[[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]][move[0]]])
        assert maps[0, position[0, 0], position[0, 1]] != OBJECT
        if (position == subgoal).all():
            break
    assert (position == subgoal).all()


def test_candidates_are_room_cells_but_not_the_listeners_own():
    config = configure(LanguageConfig, {"agent": "walker"}, [])
    world, _, view, position = listener_view(config)
    position = position.astype(np.int64)
    maps = room_maps(view, position, (world.height, world.width))
    allowed = room_cells(maps, position, view.shape[-1])
    room = config.world.room_size
    assert (allowed.sum(-1) == room * room - 1).all()
    assert not allowed[:, allowed.shape[1] // 2].any()


def test_the_replay_backs_up_every_move_and_ends_walks_in_objects():
    maps = corridor()
    replay = Replay(maps, np.array([[1, 1]]))
    batch = replay.sample(1, np.random.default_rng(0))
    after = batch["next_cell"][0]  # stay, up, down, left, right
    np.testing.assert_array_equal(after, [[1, 1], [1, 1], [1, 1], [1, 0], [1, 2]])
    np.testing.assert_array_equal(batch["terminal"][0], [False, False, False, False, True])


def test_the_learned_low_level_walks_to_cells_of_unseen_rooms():
    """Trained on the rooms of 64 worlds, greedy walks reach far more cells of other
    rooms than a random walk does, in the same steps."""
    config = configure(LanguageConfig, {"agent": "hierarchical", "skill_updates": 300}, [])
    world = language.make_world(config, "train")
    shape = (world.height, world.width)

    def rooms(seed, count):
        state, observation = core.reset(world, seed, count)
        position = observation["position"][:, 1].astype(np.int64)
        return room_maps(observation["view"][:, 1], position, shape), position

    train_maps, _ = rooms(1, 64)
    generator = np.random.default_rng(0)
    inside = [np.argwhere(m == OPEN) for m in train_maps]
    cells = np.stack([cells[generator.integers(len(cells))] for cells in inside for _ in range(8)])
    replay = Replay(np.repeat(train_maps, 8, 0), cells)
    population = language.make_population(config, world, torch.Generator().manual_seed(0))
    train_skill(config, population.skill, replay, generator)

    test_maps, start = rooms(2, 64)
    steps = walk_distances(test_maps, start)
    # Goals among the open cells each start can reach (objects may wall a corner off).
    goal = np.stack([m[generator.integers(len(m))] for m in
                     (np.argwhere((r == OPEN) & (s < 100)) for r, s in zip(test_maps, steps))])
    far = steps[np.arange(64), goal[:, 0], goal[:, 1]]

    def reached(choose):
        """Share of walks that arrive within d + 2 steps; entering an object ends a walk."""
        position, ended = start.copy(), np.zeros(64, bool)
        arrived = (position == goal).all(-1)
        for _ in range(int(far.max()) + 2):
            move = choose(position)
            after = position + np.stack([MOVE_ROW[move], MOVE_COL[move]], -1)
            kind = test_maps[np.arange(64), after[:, 0], after[:, 1]]
            moving = (kind != WALL) & (kind != UNKNOWN) & ~arrived & ~ended
            position = np.where(moving[:, None], after, position)
            arrived |= (position == goal).all(-1)
            ended |= moving & (kind == OBJECT)
        return arrived.mean()

    def learned(position):
        after = position[:, None, :] + np.stack([MOVE_ROW, MOVE_COL], -1)[None]
        kind = test_maps[np.arange(64)[:, None], after[..., 0], after[..., 1]]
        mask = torch.as_tensor((kind != WALL) & (kind != UNKNOWN)).to(torch.int8)
        with torch.no_grad():  # greedy, as the listener acts in evaluation
            return walk_moves(config, population.skill, test_maps, position, goal, mask,
                              True, torch.Generator())

    walked = reached(learned)
    random = reached(lambda position: generator.integers(1, 5, len(position)))
    assert walked >= random + 0.3 and walked >= 0.8


def test_decisions_choose_candidate_cells_and_carry_the_episode_reward():
    config = tiny("walker")
    world = language.make_world(config, "train")
    generator = torch.Generator().manual_seed(0)
    population = language.make_population(config, world, generator)
    pairing = np.random.default_rng(0)
    stream = language.start_stream(config, world, language.schedule(config, pairing))
    episode, _ = language.play(config, population, stream, 20, generator,
                               language.draw_members(config, pairing))
    decisions = episode.listener_decisions
    rows = torch.arange(len(decisions.members))
    assert decisions.candidates[rows, decisions.cell].all()
    assert (decisions.cell_logp <= 0).all()
    assert len(decisions.members) >= episode.episodes  # one or more per ended episode
    # Every return is a reward the task pays (1 or the timeout's cost) or a bootstrap.
    assert torch.isfinite(decisions.returns).all()
    assert episode.decisions is not None  # the speaker's decisions are unchanged


@pytest.mark.parametrize("agent", ["hierarchical", "walker"])
def test_a_cut_hierarchical_run_resumes_to_the_same_rows(tmp_path, agent):
    config = tiny(agent, rounds=4, eval_every=2)
    whole = language.train(config, tmp_path / "whole", progress=False)
    language.train(config, tmp_path / "cut", progress=False, stop_after=2)
    resumed = language.train(config, tmp_path / "cut", progress=False)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in whole]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in resumed] == strip
    assert ("skill_updates" in whole[-1]) == (agent == "hierarchical")


def test_bad_agent_and_skill_name_their_field():
    with pytest.raises(ValueError, match="'agent'"):
        tiny("planner")
    with pytest.raises(ValueError, match="'skill'"):
        configure(LanguageConfig, {"agent": "hierarchical"}, ["skill.map_kinds=3"])


def test_the_walker_listener_learns_the_code_well_above_chance():
    """One pair, K = 2, 30 rounds: the listener that picks a cell (walked there by BFS)
    must clear chance (50%) by 30 points, and shuffled messages must undo the gain; its
    causal influence is read from its subgoal distribution."""
    config = configure(LanguageConfig, {"population": 1, "num_envs": 256, "rounds": 30,
                                        "eval_every": 30, "eval_envs": 256, "agent": "walker",
                                        "move_entropy": 0.01, "seed": 0}, SMALL_ROOM)
    report = language.train(config, progress=False)[-1]
    assert report["success"] >= 0.5 + 0.3
    assert report["success_shuffled"] <= report["success"] - 0.2
    assert report["cic"] > 0.1


@pytest.mark.parametrize("agent", ["hierarchical", "walker"])
def test_the_viewer_seats_a_trained_listener_and_shows_its_subgoal(tmp_path, agent):
    from socius.societies.experiments import experiment

    language.train(tiny(agent, rounds=2, eval_every=2), tmp_path / "run", progress=False)
    cast = experiment("language").load_policy(tmp_path / "run")
    venv = cast.vector(seed=0)
    venv.reset(seed=0)
    listener = int(cast.world.info["listeners"][0])
    state, done = cast.policy.initial_state(1), np.ones(1, bool)
    shown = []
    for _ in range(4):
        action, state = cast.policy.act(core.observe(cast.world, venv.state), state, done,
                                        np.random.default_rng(0))
        done[:] = False
        venv.step(action)
        shown.append(state["others"]["subgoal"][0, listener].copy())
    assert (shown[0] == -1).all()  # the opening step is the speaker's: nothing chosen yet
    row, col = shown[1]
    room = cast.world.config.room_size
    assert 1 <= row <= room and 1 <= col <= room  # a cell inside the room's walls
