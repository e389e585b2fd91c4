"""The registry: every experiment is one record that the CLI, the grid, the viewer and the
plots read; each one runs, resumes, plots and (where it has agents) seats in the viewer
the same way; configs nest their world and read older flat run directories."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from socius import configs
from socius.societies.cli import main
from socius.societies.experiments import EXPERIMENTS, experiment, experiment_of
from socius.societies.language.config import LanguageConfig
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.experiment import nest_world_keys
from socius.societies.viewer.cast import play_episodes
from socius.societies.viewer.seating import cast_for

MEMORY = ["episodes=32", "steps=20", "eval_episodes=20", "hidden=16", "world.size=3"]
"""A t-maze memory run of a few seconds."""


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_record_builds_its_config_and_names_its_curves(name):
    record = experiment(name)
    assert record.name == name
    base = configs.load(record.default_config) if record.default_config else {}
    config = record.config_from(base)
    assert isinstance(config, record.config_class) and hasattr(config, "world")
    x, panels = record.curves
    assert isinstance(x, str) and panels and all(isinstance(k, str) for k in panels.values())
    assert record.final and set(record.summary_keys)


def test_the_command_line_offers_every_experiment(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    listing = capsys.readouterr().out
    assert all(name in listing for name in EXPERIMENTS)
    with pytest.raises(ValueError, match="unknown experiment 'lang'"):
        experiment("lang")


def test_a_bad_set_key_is_one_line_naming_it_and_the_keys_it_could_be(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "language", "--out", str(tmp_path / "run"), "--set", "world.rom_size=3"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--grid" not in error
    assert "unknown config key 'world.rom_size'" in error and "'world.room_size'" in error
    with pytest.raises(SystemExit):
        main(["run", "language", "--out", str(tmp_path / "run"), "--set", "rounds=3",
              "--grid", "world.message_length=0,two"])
    assert "--grid world.message_length=two" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_memory_runs_resumes_plots_and_seats_like_every_experiment(tmp_path, capsys,
                                                                    one_torch_thread):
    out = tmp_path / "memory"
    assert main(["run", "memory", "--out", str(out), "--set", *MEMORY]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 20 and 0 <= summary["memory"] <= 1
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "evaluation.json",
                 "curves.png", "tensorboard"):
        assert (out / name).exists(), name
    assert experiment_of(out).name == "memory"
    rows = RunDirectory(out).rows()
    assert main(["resume", str(out)]) == 0  # a finished run is read back, not trained again
    assert RunDirectory(out).rows() == rows
    assert json.loads(capsys.readouterr().out)["memory"] == summary["memory"]
    assert main(["plot", str(out)]) == 0
    cast = cast_for(out)
    _, episodes = play_episodes(cast, 2, seed=0)
    assert cast.env_name == "maze_v0" and len(episodes) == 2


def test_gcrl_runs_reports_and_exports_through_the_command_line(tmp_path, capsys,
                                                              one_torch_thread):
    settings = ["data_steps=2000", "data_envs=8", "steps=50", "eval_every=50",
                "eval_pairs=20", "world.size=11"]
    assert main(["run", "gcrl", "--out", str(tmp_path / "gcrl"), "--set", *settings]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 50 and (tmp_path / "gcrl" / "tensorboard").is_dir()
    assert main(["report", "gcrl", str(tmp_path / "gcrl")]) == 0
    assert "| hier (noisy data) | 1 | 50 |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "gcrl", "--out", str(tmp_path / "bad"), "--set", "data=bogus"])
    assert "'data' must be one of" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_a_memory_run_killed_after_its_first_clone_finishes_with_the_same_numbers(
        tmp_path, one_torch_thread):
    record = experiment("memory")
    config = record.config_from({}, MEMORY)
    whole = record.train(config, tmp_path / "whole", progress=False)
    cut = RunDirectory.create(tmp_path / "cut", config, experiment="memory")
    payload = {key: value for key, value in
               RunDirectory(tmp_path / "whole").require_checkpoint().items()
               if key != "no_memory"}
    cut.save_checkpoint({**payload, "progress": 1})  # as if killed during the second clone
    assert record.train(config, tmp_path / "cut", progress=False) == whole


BEFORE = Path(__file__).parent / "before"


@pytest.mark.parametrize("name, settings, overrides", [
    ("language", {"num_envs": 16, "population": 2, "eval_envs": 16, "rounds": 4,
                  "eval_every": 2},
     # An old run keeps its task: the message one step late, random distractors.
     ["world.room_size=3", "world.view_radius=2", "world.num_objects=2",
      "world.max_cycles=10", "world.speak_first=false", "world.contrast=none",
      "world.timeout_cost=0"]),
    ("imitation", {"num_envs": 32, "minibatches": 2, "hidden": 32, "env_steps": 5120,
                   "eval_every": 2560, "eval_envs": 32},
     # An old run keeps its task: goal_cycle_v0, 3 numbered tiles, a penalty of 1.
     ["world.max_cycles=40", "task=goal_cycle_v0", "world.num_tiles=3", "world.penalty=1"]),
    ("collect", {"num_envs": 2, "steps": 400, "checkpoint_every": 120, "model_hidden": 32,
                 "eval_model_steps": 50, "eval_repeats": 1, "hier_steps": 0},
     ["world.size=9", "world.max_cycles=20"]),
    ("gcrl-hier", {"data_steps": 4000, "data_envs": 16, "eval_pairs": 50, "steps": 200,
                   "eval_every": 100}, ["world.layout=maze", "world.size=11"]),
])
def test_flat_configs_of_older_runs_read_as_the_nested_configs_they_were(tmp_path, name,
                                                                        settings, overrides):
    """The ``config.json`` files the code before the move wrote (for the runs whose rows
    test_behaviour keeps) load as the nested configs that reproduce those rows."""
    run = tmp_path / name
    run.mkdir()
    (run / "config.json").write_text((BEFORE / f"config-{name}.json").read_text())
    record = experiment(name.split("-")[0])
    (run / "experiment.txt").write_text(record.name + "\n")
    assert experiment_of(run).config_of(run) == record.config_from(settings, overrides)


def test_a_world_key_given_at_the_top_level_is_pointed_to_its_nested_place():
    with pytest.raises(ValueError, match="did you mean 'world.room_size'"):
        experiment("language").config_from({}, ["room_size=3"])
    nested = nest_world_keys(LanguageConfig, {"seed": 3, "room_size": 3})
    assert nested == {"seed": 3, "world": {"room_size": 3}}


def test_an_old_language_run_refuses_todays_task_and_resumes_its_own(tmp_path):
    from socius.societies.runs.directory import open_run

    record = experiment("language")
    # A run directory written before the world had these three fields.
    saved = json.loads(json.dumps(dataclasses.asdict(record.config_from({}, ["rounds=2"]))))
    for key in ("speak_first", "timeout_cost", "contrast"):
        del saved["world"][key]
    run = tmp_path / "old"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(saved))
    (run / "experiment.txt").write_text("language\n")
    own = record.config_of(run)  # the task it trained on: message late, no timeout cost
    assert (own.world.speak_first, own.world.timeout_cost, own.world.contrast) == (
        False, 0.0, "none")
    today = dataclasses.replace(own, world=dataclasses.replace(
        own.world, speak_first=True, timeout_cost=0.5, contrast="test"))
    with pytest.raises(ValueError, match=r"older ReferentialConfig.*socius resume"):
        open_run(run, today, "language")
    assert open_run(run, own, "language").path == run  # its own task resumes
