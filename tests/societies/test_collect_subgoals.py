"""The subgoal collector (``collector=disagreement`` with ``agent=hierarchical|walker``): its
config, its choices, its resume with the learned low level, its viewer seat, and a short
run on the real four rooms beside the random walker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from socius.agents.map_memory import WALL
from socius.envs import core
from socius.envs.settings import configure
from socius.envs.vector import VectorEnv
from socius.societies.collection import evaluate as measures
from socius.societies.collection.collectors import (
    Learner,
    SubgoalCollector,
    cell_values,
    collector_maps,
)
from socius.societies.collection.config import CollectConfig
from socius.societies.collection.experiment import load_record
from socius.societies.collection.train import make_world, train
from socius.societies.engine.datasets import load_dataset
from socius.societies.runs.directory import RunDirectory

TINY = dict(num_envs=2, steps=400, checkpoint_every=120, model_hidden=32, eval_model_steps=50,
            eval_repeats=1, hier_steps=0, world={"size": 9, "max_cycles": 20},
            skill={"channels": 8})


def tiny(agent: str, **fields) -> CollectConfig:
    """A 9x9 four-rooms run of 400 steps of the subgoal collector."""
    return configure(CollectConfig, {**TINY, "agent": agent, **fields})


def test_only_the_disagreement_collector_takes_subgoals_and_bad_values_name_the_field():
    for collector in ("curiosity", "random", "covering"):
        with pytest.raises(ValueError, match="agent"):
            tiny("walker", collector=collector)
    with pytest.raises(ValueError, match="agent"):
        tiny("runner")
    with pytest.raises(ValueError, match="skill"):
        configure(CollectConfig, {**TINY, "agent": "hierarchical"}, ["skill.learner=hierarchical"])


def test_a_cell_is_valued_by_its_best_move_that_a_wall_does_not_block():
    maps = np.full((1, 3, 3), 1, np.int8)
    maps[0, 0, 1] = WALL  # above the centre
    table = np.zeros((9, 5))
    table[4] = [0.0, 9.0, 2.0, 1.0, 1.0]  # the centre: moving up (into the wall) looks best
    assert cell_values(table, maps, np.array([[[1, 1]]]))[0, 0] == 2.0


@pytest.mark.parametrize("agent", ["walker", "hierarchical"])
def test_subgoals_are_open_cells_in_view_and_never_the_goal(agent, one_torch_thread):
    config = tiny(agent)
    world = make_world(config)
    collector = SubgoalCollector(Learner(config, world), (world.height, world.width))
    venv = VectorEnv(world, 2, seed=0)
    observation = venv.reset(seed=0)
    observation = observation[0] if isinstance(observation, tuple) else observation
    state, done = collector.initial_state(2), np.ones(2, bool)
    generator, before, chosen = np.random.default_rng(0), np.full((2, 2), -1), 0
    for _ in range(12):
        action, state = collector.act(observation, state, done, generator)
        done[:] = False
        maps = collector_maps({k: np.asarray(v) for k, v in observation.items()},
                              (world.height, world.width))
        subgoal = state["subgoal"].reshape(-1, 2)
        held = subgoal[:, 0] >= 0  # -1 after arriving: the probe move, then a new choice
        new = (subgoal != before).any(-1) & held  # chosen now, from this observation
        position = np.asarray(observation["position"]).reshape(-1, 2)
        assert (np.abs(subgoal - position).max(-1)[new] <= world.config.view_radius).all()
        assert (maps[np.arange(2), subgoal[:, 0], subgoal[:, 1]] != WALL)[held].all()
        before, chosen = subgoal, chosen + int(new.sum())
        stepped = venv.step(action)
        observation = stepped[0] if isinstance(stepped, tuple) else stepped.observation
    assert chosen >= 4  # every k steps or on arrival, for both collectors


def test_a_killed_run_resumes_row_for_row_with_its_low_level(tmp_path, one_torch_thread):
    config = tiny("hierarchical", steps=240)
    whole = train(config, tmp_path / "whole", progress=False)
    train(config, tmp_path / "killed", progress=False, stop_after=4)  # checkpoint at 3 chunks
    assert train(config, tmp_path / "killed", progress=False) == whole
    saved = RunDirectory(tmp_path / "whole").require_checkpoint()["learner"]
    assert len(saved["skill"]["replay"]["cell"]) == config.steps  # every step it took


def test_the_viewer_seats_the_collector_and_shows_its_subgoals(tmp_path, one_torch_thread):
    from socius.societies.experiments import experiment
    from socius.societies.viewer.play import seated_subgoals

    train(tiny("walker"), tmp_path / "run", progress=False)
    cast = experiment("collect").load_policy(tmp_path / "run")
    venv = cast.vector(seed=0)
    venv.reset(seed=0)
    state, done = cast.policy.initial_state(1), np.ones(1, bool)
    action, state = cast.policy.act(core.observe(cast.world, venv.state), state, done,
                                    np.random.default_rng(0))
    assert (seated_subgoals(state)[0, 0] >= 0).all()


def test_the_walker_covers_the_four_rooms_sooner_than_random_walkers(tmp_path, one_torch_thread):
    """The real layout at 2,000 steps: subgoals drawn by disagreement reach 90% of the four
    rooms, where random walkers restarted at one corner have not (measured: 620 steps;
    the random walkers cover 68%)."""
    runs = {}
    for collector, agent in (("disagreement", "walker"), ("random", "flat")):
        config = CollectConfig(collector=collector, agent=agent, steps=2000, model_hidden=64,
                               checkpoint_every=2000, hier_steps=0)
        train(config, tmp_path / collector, progress=False)
        moves = np.concatenate([episode.actions[:, 0, 0] for episode in load_dataset(
            tmp_path / collector / "dataset.npz").episodes])
        assert np.bincount(moves, minlength=5).min() > 0.05 * len(moves)  # stays too
        reachable = measures.reachable_cells(make_world(config))
        runs[collector] = measures.steps_to_coverage(
            load_record(tmp_path / collector).first_visit, reachable, 0.9)
    assert runs["disagreement"] is not None and runs["random"] is None, runs
    assert torch.get_num_threads() == 1
