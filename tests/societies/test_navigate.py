"""The navigate experiment: disjoint layouts, clear errors, a killed run that resumes to
the same rows, its report beside the planner, and its agent in the viewer with subgoals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from socius.agents.map_memory import UNKNOWN, WALL
from socius.agents.navigator import Navigator
from socius.envs.settings import configure
from socius.societies.experiments import experiment
from socius.societies.navigation import navigate, online
from socius.societies.navigation.navigate import NavigateConfig, train, training_worlds
from socius.societies.navigation.unseen import evaluation_layouts, overlap

TINY = {"world": {"size": 9, "max_cycles": 40}, "train_layouts": 3, "data_steps": 1500,
        "steps": 20, "eval_every": 10, "eval_layouts": 2, "eval_pairs": 4}


def tiny(**fields) -> NavigateConfig:
    return configure(NavigateConfig, {**TINY, **fields}, ())


def test_evaluation_mazes_are_not_training_mazes():
    config = tiny(train_layouts=20, world={"size": 21})
    walls = [world.info["walls"][0] for world in training_worlds(config)]
    layouts = evaluation_layouts(config.world, config.eval_layout_seed, 20, 40, seed=0)
    assert overlap(walls, layouts) == 0
    assert overlap(walls, evaluation_layouts(config.world, config.world.layout_seed, 2, 4,
                                             seed=0)) == 2
    assert np.bincount(layouts.layout).tolist() == [2] * 20
    # Small mazes repeat: 9 x 9 ones from other seeds do coincide, and a run refuses them.
    small = tiny(train_layouts=40)
    small_walls = [world.info["walls"][0] for world in training_worlds(small)]
    assert overlap(small_walls, evaluation_layouts(small.world, small.eval_layout_seed, 20, 20,
                                                   seed=0)) > 0
    with pytest.raises(ValueError, match="eval_layout_seed"):
        train(configure(small, {"eval_layouts": 20, "eval_pairs": 20}), progress=False)


def test_bad_settings_name_their_field():
    with pytest.raises(ValueError, match="eval_layout_seed"):
        tiny(eval_layout_seed=2)
    with pytest.raises(ValueError, match="world.layout"):
        tiny(world={"layout": "four_rooms", "size": 9})
    with pytest.raises(ValueError, match="eval_pairs"):
        tiny(eval_pairs=1)
    with pytest.raises(ValueError, match="learner"):
        tiny(learner={"learner": "hiql"})
    with pytest.raises(ValueError, match="collector"):
        tiny(collector="crowd")
    with pytest.raises(ValueError, match="rollout_envs"):
        tiny(collector="self", rollout_envs=0)


ONLINE = {"collector": "self", "data_steps": 900, "rollout_envs": 4, "rollout_steps": 100}


def test_each_learner_is_evaluated_in_the_modes_it_can_act():
    assert navigate.modes(tiny()) == ("hierarchical", "hiql", "flat")
    assert navigate.modes(tiny(learner={"learner": "low"})) == ("flat",)  # no high level
    assert navigate.modes(tiny(learner={"learner": "gcbc"})) == ("gcbc",)


def test_online_rounds_spend_the_budget_on_the_navigators_own_episodes(one_torch_thread):
    config = tiny(**ONLINE)
    world = online.layout_bank(config)
    navigator = Navigator(config.learner, torch.Generator().manual_seed(0))
    assert online.rounds(config) == 3 and online.updates_after(config, 2) == config.steps
    data = online.collect_round(config, world, navigator, 2)  # the last round: 100 steps
    assert data is not None and len(data) > 0
    # Each episode's maze is the bank's layout it was drawn: every remembered cell agrees.
    walls = ~data.open[data.layout]
    known = data.maps != UNKNOWN
    assert ((data.maps == WALL) == walls)[known].all()
    assert len({tuple(cells.ravel()) for cells in data.open}) > 1  # several mazes played


@pytest.mark.parametrize("learner", ["hierarchical", "gcbc", "online"])
def test_a_killed_run_resumes_to_the_same_rows(learner, tmp_path, one_torch_thread):
    config = tiny(**ONLINE) if learner == "online" else tiny(learner={"learner": learner})
    whole = train(config, tmp_path / "whole", progress=False)
    train(config, tmp_path / "cut", progress=False, stop_after=1)
    resumed = train(config, tmp_path / "cut", progress=False)
    assert len(whole) == 2 and json.dumps(resumed) == json.dumps(whole)
    modes = ("gcbc",) if learner == "gcbc" else ("hierarchical", "flat")
    for mode in (*modes, "planner"):
        assert 0 <= whole[-1][f"{mode}_success_3d+20"] <= 1
    assert whole[-1]["planner_success_4d+50"] == 1.0  # small mazes: the ceiling arrives


def test_the_report_and_the_viewer_read_a_finished_run(tmp_path, one_torch_thread):
    record = experiment("navigate")
    config = tiny(steps=10)
    record.run(config, tmp_path / "run", progress=False)
    # The run saved its last row as the evaluation: what evaluating again gives.
    saved = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    fresh = record.evaluate(tmp_path / "run")
    np.testing.assert_equal({key: saved[key] for key in fresh}, fresh)
    table = record.report([tmp_path / "run"], None)
    assert "| hierarchical |" in table and "| flat |" in table and "| planner |" in table
    cast = record.load_policy(tmp_path / "run")
    venv = cast.vector(seed=0)
    observation = venv.reset(seed=0)
    from socius.envs import core

    state, done = cast.policy.initial_state(1), np.ones(1, bool)
    for _ in range(12):
        action, state = cast.policy.act(core.observe(cast.world, venv.state), state, done,
                                        np.random.default_rng(0))
        done[:] = False
        venv.step(action)
        subgoal = state["subgoal"][0, 0]
        assert 0 <= subgoal[0] < cast.world.height and 0 <= subgoal[1] < cast.world.width
    assert observation is not None
