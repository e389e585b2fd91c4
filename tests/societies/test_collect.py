"""Collection by information gain: the measures on known inputs, configs, resume and
determinism, and small seeded versions of the claims beside their controls."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from socius.configs import load
from socius.envs.settings import configure
from socius.envs.vector import VectorEnv
from socius.societies.cli import main
from socius.societies.collection import evaluate as measures
from socius.societies.collection.collectors import LearnedCollector, Learner, RandomCollector
from socius.societies.collection.config import CollectConfig
from socius.societies.collection.experiment import EXPERIMENT, load_record, summarize
from socius.societies.collection.train import make_world, train
from socius.societies.engine.datasets import load_dataset
from socius.societies.engine.rollout import record_episodes

TINY = dict(num_envs=2, steps=400, checkpoint_every=120, model_hidden=32, eval_model_steps=50,
            eval_repeats=1, hier_steps=0, world={"size": 9, "max_cycles": 20})


def tiny(*overrides: str, **fields) -> CollectConfig:
    """A 9x9 four-rooms run of 400 steps with ``fields`` and ``key=value`` overrides."""
    return configure(CollectConfig, {**TINY, **fields}, overrides)


@pytest.mark.parametrize("field, value", [
    ("collector", "greedy"), ("steps", "150"), ("world.noisy_tv", "2"), ("temperature", "0"),
    ("gamma", "1"), ("num_envs", "0"), ("world.start", "[1]"), ("checkpoint_every", "7"),
    ("world.layout", "t_maze"), ("update_every", "0")])
def test_bad_config_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"'{field}'"):
        configure(CollectConfig, {}, [f"{field}={value}"])
    with pytest.raises(ValueError, match="'members'"):
        configure(CollectConfig, {}, ["collector=disagreement", "members=1"])


def test_shipped_config_is_the_default_and_takes_overrides():
    assert EXPERIMENT.config_from(load("collect")) == CollectConfig()
    config = EXPERIMENT.config_from(load("collect"), ["collector=random", "world.start=[2, 2]",
                                                      "steps=4000"])
    assert (config.collector, config.world.start, config.steps) == ("random", (2, 2), 4000)
    with pytest.raises(ValueError, match="unknown config key 'colector'"):
        EXPERIMENT.config_from({}, ["colector=random"])


def test_coverage_and_steps_to_coverage_on_known_visits():
    reachable = np.array([True] * 10 + [False] * 2)
    first_visit = np.full(12, measures.NEVER)
    first_visit[:9] = np.arange(9) * 10
    first_visit[10] = 0  # visiting an unreachable cell counts for nothing
    assert measures.coverage(first_visit < measures.NEVER, reachable) == pytest.approx(0.9)
    assert measures.steps_to_coverage(first_visit, reachable, 0.9) == 80
    assert measures.steps_to_coverage(first_visit, reachable, 0.5) == 40
    assert measures.steps_to_coverage(first_visit, reachable, 1.0) is None


def test_tv_in_view_on_a_known_trajectory():
    positions = np.array([[1, 1], [3, 3], [3, 4], [5, 5], [7, 8], [8, 8]])
    seen = measures.tv_in_view(positions, (5, 6), radius=2)
    assert seen.tolist() == [False, False, True, True, True, False]
    assert seen.mean() == pytest.approx(0.5)


def test_visitation_overlap_is_one_for_the_same_visits_and_zero_for_disjoint_ones():
    assert measures.visitation_overlap(np.array([[2, 2, 0], [1, 1, 0]])) == pytest.approx(1.0)
    assert measures.visitation_overlap(np.array([[3, 0, 0], [0, 1, 1]])) == pytest.approx(0.0)
    assert measures.visitation_overlap(np.array([[1, 1, 0], [0, 1, 1]])) == pytest.approx(0.5)


def test_collectors_may_not_step_onto_their_goal():
    observation = {"position": np.array([[[2, 2]]]), "goal": np.array([[[2, 3]]]),
                   "action_mask": np.ones((1, 1, 5), np.int8)}
    assert measures.collector_mask(observation)[0, 0].tolist() == [True, True, True, True,
                                                                    False]


def same(first, second) -> bool:
    """Nested dicts/lists of tensors, arrays and plain values are equal, element for element."""
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(same(first[k], second[k]) for k in first)
    if isinstance(first, (list, tuple)):
        return len(first) == len(second) and all(map(same, first, second))
    if isinstance(first, torch.Tensor):
        return torch.equal(first, second)
    if isinstance(first, np.ndarray):
        return np.array_equal(first, second, equal_nan=first.dtype.kind == "f")
    return first == second


def test_learned_collector_acts_without_learning(one_torch_thread):
    config = tiny(update_every=2)
    world = make_world(config)
    venv = VectorEnv(world, config.num_envs, seed=0)
    learner = Learner(config, world)
    generator = np.random.default_rng(0)
    chunk = measures.transitions(record_episodes(venv, RandomCollector(), generator,
                                                 config.world.max_cycles, seed=0), world.width)
    learner.learn(chunk, generator)  # Q is no longer all zeros
    before = copy.deepcopy(learner.state_dict())
    assert before["values"]["q"].any()
    policy = LearnedCollector(learner, world.width)
    state, done = policy.initial_state(config.num_envs), np.ones(config.num_envs, bool)
    observation = venv.reset(seed=1)
    # Several times update_every moves: acting used to learn on every update_every-th call.
    for _ in range(3 * config.update_every + 1):
        action, state = policy.act(observation, state, done, generator)
        assert action.shape == (config.num_envs, config.world.num_agents, 1)
        observation, _, terminated, truncated, _ = venv.step(torch.as_tensor(action))
        done = (terminated | truncated).numpy()
    assert same(learner.state_dict(), before)


def test_dataset_holds_every_step_of_every_agent(tmp_path, one_torch_thread):
    config = tiny("world.num_agents=2", collector="covering")
    rows = train(config, tmp_path, progress=False)
    dataset = load_dataset(tmp_path / "dataset.npz", expect_env="maze_v0")
    assert dataset.num_transitions == config.steps
    assert all(e.length == config.world.max_cycles and e.actions.shape[1] == 2
               for e in dataset.episodes)
    # Goal cells are avoided, so no agent ever finishes and every step is data.
    assert all(e.alive.all() for e in dataset.episodes)
    assert rows[-1]["coverage"] == 1.0 and "overlap" in rows[-1]


@pytest.mark.parametrize("collector", ["disagreement", "curiosity", "random", "covering"])
def test_resume_gives_the_same_metrics_row_for_row(collector, tmp_path, one_torch_thread):
    config = tiny("world.num_agents=2", steps=480, collector=collector)
    whole = train(config, tmp_path / "whole", progress=False)
    train(config, tmp_path / "killed", progress=False, stop_after=5)  # checkpoint at 3 chunks
    (tmp_path / "killed" / "metrics.jsonl").open("a").write('{"steps": 2')  # a cut-off row
    resumed = train(config, tmp_path / "killed", progress=False)
    assert resumed == whole
    assert ((tmp_path / "killed" / "metrics.jsonl").read_text()
            == (tmp_path / "whole" / "metrics.jsonl").read_text())
    assert len(load_dataset(tmp_path / "killed" / "dataset.npz").episodes) == 24


def test_same_seed_gives_the_same_run_and_another_seed_does_not(one_torch_thread):
    config = tiny()
    first, second = train(config, progress=False), train(config, progress=False)
    other = train(tiny(seed=1), progress=False)
    assert first == second
    assert first != other


def test_run_evaluates_plots_and_summarises(tmp_path, one_torch_thread):
    directories = []
    for collector in ("disagreement", "random"):
        config = tiny(hier_steps=20, hier_pairs=10, collector=collector)
        summary = EXPERIMENT.run(config, tmp_path / collector, progress=False)
        directories.append(tmp_path / collector)
        assert (tmp_path / collector / "curves.png").exists()
        assert summary["plot"].endswith("curves.png")
        assert 0 <= summary["hier_success"] <= 1 and summary["model_error"] > 0
    saved = json.loads((tmp_path / "random" / "evaluation.json").read_text())
    assert saved["steps"] == 400 and 0 < saved["coverage"] <= 1
    assert EXPERIMENT.resume(tmp_path / "random", progress=False)["steps"] == 400
    table = summarize(directories, tmp_path / "collect")
    assert "| disagreement | 1 |" in table and "| random | 1 |" in table
    for suffix in ("coverage", "disagreement", "heatmaps"):
        assert (tmp_path / f"collect_{suffix}.png").exists()


@pytest.fixture(scope="module")
def four_rooms_runs(tmp_path_factory):
    """The real layout (four rooms, side 13, noisy TV) at 4,000 steps, a smaller model."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = {}
    for collector in ("disagreement", "random"):
        config = CollectConfig(collector=collector, steps=4000, model_hidden=64,
                               checkpoint_every=4000, eval_model_steps=500, eval_repeats=2)
        directory = tmp_path_factory.mktemp(collector)
        rows = train(config, directory, progress=False)
        runs[collector] = (config, directory, rows)
    torch.set_num_threads(before)
    return runs


def test_disagreement_covers_the_rooms_at_least_twice_as_fast_as_random(four_rooms_runs):
    world = make_world(four_rooms_runs["random"][0])
    reachable = measures.reachable_cells(world)
    steps = {name: measures.steps_to_coverage(load_record(directory).first_visit, reachable, 0.9)
             for name, (_, directory, _) in four_rooms_runs.items()}
    assert steps["disagreement"] is not None and steps["disagreement"] <= 2000, steps
    # Random walkers restarted at one corner have not reached 90% within 4,000 steps.
    assert four_rooms_runs["random"][2][-1]["coverage"] < 0.9, steps


def test_a_fresh_model_learns_more_from_the_disagreement_data(four_rooms_runs, one_torch_thread):
    errors = {}
    for name, (config, directory, _) in four_rooms_runs.items():
        world = make_world(config)
        held_out = measures.held_out_transitions(world, 0, config.eval_repeats)
        episodes = load_dataset(directory / "dataset.npz").episodes
        errors[name] = measures.model_error(episodes, world, held_out, config.dynamics(),
                                            config.eval_model_steps, 0)
    assert errors["disagreement"] <= 0.8 * errors["random"], errors


def test_curiosity_watches_the_noisy_tv_and_disagreement_does_not(one_torch_thread):
    # A 3x3 view: the TV is in view only from the corner of its room.
    small = dict(steps=6000, checkpoint_every=200, model_hidden=64, model_learning_rate=3e-3,
                 world={"size": 11, "view_radius": 1, "max_cycles": 50})
    watched = {kind: train(configure(CollectConfig, {"collector": kind, **small}),
                           progress=False)[-1]["tv_in_view_total"]
               for kind in ("curiosity", "disagreement")}
    assert watched["disagreement"] <= 0.08, watched
    assert watched["curiosity"] >= 3 * watched["disagreement"], watched


def test_cli_runs_a_collector_and_reports_it(tmp_path, capsys, one_torch_thread):
    settings = [f"{key}={value}" for key, value in TINY.items() if key != "world"]
    settings += ["world.size=9", "world.max_cycles=20", "collector=random"]
    assert main(["run", "collect", "--out", str(tmp_path / "random"), "--set",
                 *settings]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["plot"].endswith("curves.png")
    assert (tmp_path / "random" / "experiment.txt").read_text().strip() == "collect"
    assert (tmp_path / "random" / "tensorboard").is_dir()
    assert main(["evaluate", str(tmp_path / "random")]) == 0
    assert 0 < json.loads(capsys.readouterr().out)["coverage"] <= 1
    assert main(["report", "collect", str(tmp_path / "random")]) == 0
    assert "| random | 1 |" in capsys.readouterr().out
