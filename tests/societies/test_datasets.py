"""Multi-agent datasets: exact round trips, refusals that name the field, atomic saves."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
import zipfile

import numpy as np
import pytest

from socius.agents.scripted import RandomPolicy
from socius.envs import make_vector
from socius.societies.engine import datasets
from socius.societies.engine.datasets import load_dataset, minari_export, save_dataset
from socius.societies.engine.rollout import record_episodes

ENVS = {
    "referential_v0": {"num_agents": 4, "message_length": 2, "token_drop_prob": 0.2},
    "maze_v0": {"max_cycles": 8, "num_agents": 2},
    "goal_cycle_v0": {"max_cycles": 7, "message_length": 1},
}


def episodes_of(name, num_steps=25, **overrides):
    venv = make_vector(name, 2, seed=3, **{**ENVS[name], **overrides})
    config = venv.world.config
    policy = RandomPolicy(config.vocab_size, config.message_length)
    ids = tuple(f"random_{i}" for i in range(venv.num_agents))
    episodes = record_episodes(venv, policy, np.random.default_rng(0), num_steps=num_steps,
                       policy_ids=ids)
    assert len(episodes) >= 2
    return venv.world, episodes


@pytest.fixture(scope="module")
def maze():
    return episodes_of("maze_v0")


def assert_same_episode(loaded, original):
    assert loaded.observations.keys() == original.observations.keys()
    for key, value in original.observations.items():
        assert loaded.observations[key].dtype == value.dtype, key
        assert np.array_equal(loaded.observations[key], value), key
    for field in dataclasses.fields(original):
        if field.name in ("observations", "states"):
            continue
        mine, theirs = getattr(loaded, field.name), getattr(original, field.name)
        if isinstance(theirs, np.ndarray):
            assert mine.dtype == theirs.dtype and mine.shape == theirs.shape, field.name
            assert np.array_equal(mine, theirs), field.name
        else:
            assert mine == theirs and type(mine) is type(theirs), field.name
    assert loaded.states is None


@pytest.mark.parametrize("name", sorted(ENVS))
def test_round_trip_is_exact(tmp_path, name):
    world, episodes = episodes_of(name)
    user = {"collector": "random", "note": np.int64(3)}
    path = save_dataset(tmp_path / "data.npz", episodes, user, world=world)
    dataset = load_dataset(path, expect_env=name)
    assert len(dataset.episodes) == len(episodes)
    for loaded, original in zip(dataset.episodes, episodes, strict=True):
        assert_same_episode(loaded, original)
    meta = dataset.metadata
    assert (meta["format"], meta["format_version"]) == ("socius-dataset", 1)
    assert (meta["env_name"], meta["env_version"]) == (name, 0)
    assert meta["config"] == json.loads(json.dumps(dataclasses.asdict(world.config)))
    assert meta["agent_names"] == list(world.agent_names) == dataset.agent_names
    assert meta["seeds"] == [3] and meta["policy_ids"] == sorted(episodes[0].policy_ids)
    assert meta["user"] == {"collector": "random", "note": 3}
    assert meta["action_space"]["nvec"] == [5] + [world.config.vocab_size] * (
        world.config.message_length)
    view = meta["observation_space"]["view"]
    assert view["shape"] == list(episodes[0].observations["view"].shape[2:])
    assert view["dtype"] == "uint8" and np.array(view["high"]).shape == tuple(view["shape"])
    assert dataset.num_transitions == sum(e.length for e in episodes)


def test_messages_are_kept(tmp_path):
    world, episodes = episodes_of("referential_v0")
    assert episodes[0].messages.shape[-1] == 2 and (episodes[0].messages >= 0).any()
    dataset = load_dataset(save_dataset(tmp_path / "r.npz", episodes, world=world))
    assert np.array_equal(dataset.episodes[-1].messages, episodes[-1].messages)


def test_config_argument_and_flat_transitions(tmp_path, maze):
    world, episodes = maze
    dataset = load_dataset(save_dataset(tmp_path / "m.npz", episodes, world=world.config))
    flat = dataset.transitions()
    total, agents = dataset.num_transitions, world.num_agents
    assert flat["rewards"].shape == (total, agents)
    assert flat["observations/view"].shape[:2] == flat["next_observations/view"].shape[:2]
    first = episodes[0]
    assert np.array_equal(flat["next_observations/position"][first.length - 1],
                          first.observations["position"][-1])
    assert np.array_equal(flat["observations/position"][first.length],
                          episodes[1].observations["position"][0])
    assert np.array_equal(np.bincount(flat["episode_index"]), [e.length for e in episodes])


def test_save_refuses_bad_input(tmp_path, maze):
    world, episodes = maze
    path = tmp_path / "bad.npz"
    with pytest.raises(ValueError, match="episodes"):
        save_dataset(path, [], world=world)
    other_world, others = episodes_of("goal_cycle_v0")
    with pytest.raises(ValueError, match="env_name"):
        save_dataset(path, [episodes[0], others[0]], world=world)
    with pytest.raises(ValueError, match="env_name"):
        save_dataset(path, episodes, world=other_world)
    three_world, three = episodes_of("maze_v0", num_agents=3)
    with pytest.raises(ValueError, match="alive|observations"):
        save_dataset(path, [episodes[0], three[0]], world=world)
    with pytest.raises(ValueError, match="num_agents"):
        save_dataset(path, episodes, world=three_world)
    wider = dataclasses.replace(episodes[1], actions=np.zeros((episodes[1].length, 2, 2),
                                                              np.int64))
    with pytest.raises(ValueError, match="actions"):
        save_dataset(path, [episodes[0], wider], world=world)
    with pytest.raises(ValueError, match="policy_ids"):
        save_dataset(path, [episodes[0], dataclasses.replace(episodes[1], policy_ids=())],
                     world=world)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_load_errors(tmp_path, maze):
    world, episodes = maze
    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_dataset(missing)
    text = tmp_path / "text.npz"
    text.write_text("not a dataset")
    with pytest.raises(ValueError, match="is not a readable socius dataset"):
        load_dataset(text)
    good = save_dataset(tmp_path / "good.npz", episodes, world=world)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="is not a readable socius dataset"):
        load_dataset(truncated)
    with pytest.raises(ValueError, match="'maze_v0', expected 'goal_cycle_v0'"):
        load_dataset(good, expect_env="goal_cycle_v0")
    with pytest.raises(TypeError, match="world"):
        save_dataset(tmp_path / "x.npz", episodes, world=None)


def rewrite(source, target, change):
    """Copy a dataset with ``change(arrays, metadata)`` applied."""
    with np.load(source) as archive:
        arrays = {name: archive[name] for name in archive.files}
    metadata = json.loads(str(arrays["metadata"]))
    change(arrays, metadata)
    arrays["metadata"] = np.array(json.dumps(metadata))
    np.savez_compressed(target, **arrays)
    return target


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m.update(format="other-format"), "'format'.*'socius-dataset'"),
    (lambda a, m: m.update(format_version=2), "'format_version'"),
    (lambda a, m: a.update(rewards=a["rewards"][:-1]), "'rewards'"),
    (lambda a, m: a.update({"observations/view": a["observations/view"][1:]}),
     "'observations/view'"),
    (lambda a, m: a.update(seeds=a["seeds"][:1]), "'seeds'"),
    (lambda a, m: a.pop("goals"), "'goals'"),
])
def test_load_refuses_inconsistent_files(tmp_path, maze, change, message):
    world, episodes = maze
    good = save_dataset(tmp_path / "good.npz", episodes, world=world)
    with pytest.raises(ValueError, match=message):
        load_dataset(rewrite(good, tmp_path / "changed.npz", change))


def test_failed_save_leaves_old_file_intact(tmp_path, maze, monkeypatch):
    world, episodes = maze
    path = save_dataset(tmp_path / "data.npz", episodes[:1], world=world)
    before = path.read_bytes()

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 partial")
        raise RuntimeError("disk full")

    with pytest.raises(ValueError, match="JSON"):
        save_dataset(path, episodes, {"bad": object()}, world=world)
    monkeypatch.setattr(datasets.np, "savez_compressed", half_written)
    with pytest.raises(RuntimeError, match="disk full"):
        save_dataset(path, episodes, world=world)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["data.npz"]
    assert zipfile.is_zipfile(io.BytesIO(before))
    assert len(load_dataset(path).episodes) == 1


def test_minari_export_round_trip(tmp_path, maze, monkeypatch):
    minari = pytest.importorskip(
        "minari", reason="the socius[minari] extra is not installed (pip install 'socius[minari]')")
    pytest.importorskip("h5py", reason="Minari's default hdf5 storage needs h5py")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    world, episodes = maze
    dataset = load_dataset(save_dataset(tmp_path / "data.npz", episodes, world=world))
    agent = world.agent_names[1]
    minari_export(dataset, agent, "socius/maze-random-v0", author="tests")
    exported = minari.load_dataset("socius/maze-random-v0")
    assert exported.total_episodes == len(episodes)
    assert exported.total_steps == dataset.num_transitions
    (loaded,) = exported.iterate_episodes([1])
    original = episodes[1]
    assert np.array_equal(loaded.actions, original.actions[:, 1])
    assert np.array_equal(loaded.rewards, original.rewards[:, 1])
    assert np.array_equal(loaded.observations["view"], original.observations["view"][:, 1])
    assert np.array_equal(loaded.terminations | loaded.truncations,
                          original.terminations[:, 1] | original.truncations[:, 1])
    assert (tmp_path / "minari" / "socius" / "maze-random-v0").is_dir()
    assert loaded.infos["goal_achieved"].shape == (original.length + 1,)


def test_minari_export_names_unknown_agent(tmp_path, maze):
    world, episodes = maze
    dataset = load_dataset(save_dataset(tmp_path / "data.npz", episodes, world=world))
    pytest.importorskip("minari", reason="the socius[minari] extra is not installed")
    with pytest.raises(ValueError, match="nobody_0"):
        minari_export(dataset, "nobody_0", "socius/x-v0")


def test_minari_export_without_minari_says_how_to_install(tmp_path, maze, monkeypatch):
    world, episodes = maze
    dataset = load_dataset(save_dataset(tmp_path / "data.npz", episodes, world=world))
    monkeypatch.setitem(sys.modules, "minari", None)
    with pytest.raises(ImportError, match=r"pip install 'socius\[minari\]'"):
        minari_export(dataset, world.agent_names[0], "socius/x-v0")
