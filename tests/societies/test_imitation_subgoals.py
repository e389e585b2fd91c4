"""The hierarchical learner of Goal Cycle (``agent=hierarchical|walker``): its map, its
decisions and their returns, its walks, its checkpoints, its viewer seat, and the move of
the experiment to goal_cycle_v1 (older runs keep goal_cycle_v0)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from socius.agents.map_memory import OPEN, UNKNOWN, WALL
from socius.agents.scripted import Privileged
from socius.agents.subgoal_cells import OBJECT, bfs_moves, walk_distances
from socius.envs import core
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.envs.settings import configure
from socius.societies.engine.stream import Record
from socius.societies.imitation import train as imitation
from socius.societies.imitation.config import ImitationConfig, make_arenas
from socius.societies.imitation.rollout import play_episodes
from socius.societies.imitation.subgoals import cycle_maps, decision_returns
from socius.societies.runs.directory import RunDirectory

SMALL = dict(num_envs=8, minibatches=2, hidden=16, env_steps=8 * 20 * 4,
             eval_every=8 * 20 * 2, eval_envs=8, world={"max_cycles": 20},
             skill_updates=2, skill={"channels": 8})


def small(agent: str, **fields) -> ImitationConfig:
    """A small config of ``agent``."""
    return configure(ImitationConfig, {**SMALL, "agent": agent, **fields})


def test_the_map_shows_tiles_as_objects_and_other_agents_as_walls():
    view = np.zeros((1, 5, 5, 5), np.uint8)  # free terrain everywhere
    view[0, 3, 0, 2] = 2  # a tile two rows up
    view[0, 4, 2, 3] = 2  # an agent to the right
    view[0, 4, 2, 2] = 1  # the learner itself
    maps = cycle_maps(view, np.array([[4, 4]]), (9, 9))
    assert maps[0, 2, 4] == OBJECT and maps[0, 4, 5] == WALL and maps[0, 4, 4] == OPEN
    assert maps[0, 0, 0] == UNKNOWN  # out of view


def test_a_walker_standing_on_a_tile_steps_off_it_and_round_the_others():
    maps = np.full((1, 5, 5), OPEN, np.int8)
    maps[0, 2, 2] = maps[0, 2, 3] = OBJECT  # it stands on the left tile
    position, subgoal = np.array([[2, 2]]), np.array([[2, 4]])
    assert walk_distances(maps, position)[0, 2, 4] == 4  # round the right tile, not through
    for _ in range(4):
        move = bfs_moves(maps, position, subgoal)
        position = position + np.stack([MOVE_ROW[move], MOVE_COL[move]], -1)
        assert not (position == [[2, 3]]).all()
    assert (position == subgoal).all()


def test_a_decision_returns_the_reward_until_the_next_plus_its_discounted_value():
    rewards = torch.tensor([[0.0], [1.0], [0.0], [-2.0], [1.0]])
    decided = torch.tensor([[True], [False], [True], [False], [False]])
    values = torch.tensor([[0.5], [9.0], [0.25], [9.0], [9.0]])
    record = Record({"rewards": rewards, "decided": decided, "values": values},
                    np.zeros((5, 1, 1)), torch.ones(5, 1, dtype=torch.bool),
                    torch.zeros(5, 1, dtype=torch.bool))
    returns = decision_returns(record, gamma=0.5)
    # The first decision: 0 + 1, then half the second's value; the second: -2 + 1, the end.
    assert returns[:, 0].tolist() == [1.0 + 0.5 * 0.25, 0.0, -1.0, 0.0, 0.0]


@pytest.mark.parametrize("agent", ["walker", "hierarchical"])
def test_decisions_pick_candidates_and_walks_enter_no_tile_they_were_not_aimed_at(agent):
    config = small(agent)
    generator = torch.Generator().manual_seed(0)
    learner = imitation.make_learner(config, generator)
    world = make_arenas(config, 1)[0][0]
    low = imitation.LowLevel.start(config, (world.height, world.width), generator)
    record = play_episodes(make_arenas(config, 8), "learner", 5, learner, generator,
                           config=config, skill=low.skill)
    decided = record.decided
    assert decided[0].all()  # every learner chooses at its first step
    chosen = record.candidates[decided].gather(-1, record.cell[decided][:, None])
    assert chosen.all()  # every choice was a candidate
    assert record.candidates[decided].sum(-1).min() >= 1
    assert record.candidates[~decided].sum() == 0
    if agent == "walker":
        assert int(record.stray.sum()) == 0  # BFS goes round every other tile


def test_bad_agent_and_task_settings_name_their_field():
    with pytest.raises(ValueError, match="agent"):
        small("runner")
    with pytest.raises(ValueError, match="agent"):
        small("hierarchical", method="bc")
    with pytest.raises(ValueError, match="task"):
        small("flat", task="goal_cycle_v9")
    with pytest.raises(ValueError, match="skill"):
        configure(ImitationConfig, {**SMALL, "agent": "hierarchical"}, ["skill.map_kinds=3"])


@pytest.mark.parametrize("agent", ["walker", "hierarchical"])
def test_a_killed_run_resumes_row_for_row_with_its_low_level(tmp_path, agent):
    config = small(agent)
    whole = imitation.train(config, tmp_path / "whole", progress=False)
    imitation.train(config, tmp_path / "cut", progress=False, stop_after=2)
    resumed = imitation.train(config, tmp_path / "cut", progress=False)
    assert len(whole) == 2 and resumed == whole
    assert whole[-1]["decisions"] > 0 and "strays_with" in whole[-1]
    saved = RunDirectory(tmp_path / "whole").require_checkpoint()
    assert ("skill" in saved) == (agent == "hierarchical")
    if agent == "hierarchical":
        assert whole[-1]["skill_updates"] == 4 * config.skill_updates
        assert len(saved["skill"]["replay"]["cell"]) > 0


def test_the_viewer_seats_a_trained_learner_and_shows_its_subgoal(tmp_path):
    from socius.societies.experiments import experiment
    from socius.societies.viewer.play import seated_subgoals

    imitation.train(small("hierarchical"), tmp_path / "run", progress=False)
    cast = experiment("imitation").load_policy(tmp_path / "run")
    assert cast.world.name == "goal_cycle_v1"
    venv = cast.vector(seed=0)
    venv.reset(seed=0)
    state, done = cast.policy.initial_state(1), np.ones(1, bool)
    for _ in range(3):
        action, state = cast.policy.act(core.observe(cast.world, venv.state), state, done,
                                        np.random.default_rng(0),
                                        Privileged(cast.world, venv.state))
        done[:] = False
        subgoal = seated_subgoals(state)[0]
        position = venv.state.row[0, 0], venv.state.col[0, 0]
        assert (subgoal[1:] == -1).all()  # the experts choose no subgoals
        assert max(abs(subgoal[0, 0] - position[0]), abs(subgoal[0, 1] - position[1])) <= 2
        venv.step(action)


def test_runs_made_before_the_move_keep_goal_cycle_v0(tmp_path):
    from socius.societies.experiments import experiment

    config = small("flat", task="goal_cycle_v0")
    imitation.train(config, tmp_path / "old", progress=False, stop_after=1)
    saved = json.loads((tmp_path / "old" / "config.json").read_text())
    del saved["task"]  # as a run made before the field existed
    for name in ("agent", "skill", "skill_updates", "replay", "move_beta"):
        del saved[name]
    (tmp_path / "old" / "config.json").write_text(json.dumps(saved))
    assert experiment("imitation").config_of(tmp_path / "old").task == "goal_cycle_v0"
    # Continuing it under today's default task would change what it learns: refused.
    with pytest.raises(ValueError, match="task"):
        imitation.train(dataclasses.replace(config, task="goal_cycle_v1"), tmp_path / "old",
                        progress=False)
