"""Multi-agent datasets: a list of :class:`Trajectory` episodes in one atomically written file.

The file is a compressed ``.npz``. Episodes are concatenated along time and cut
back apart by ``episode_lengths`` ``[E]``: per-step arrays have ``sum(T)`` rows,
observations/alive/goals have ``sum(T + 1)`` rows, per-episode arrays have ``E``.
A JSON ``metadata`` string records the format, env, world config, spaces and agents.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from socius.envs import ENVIRONMENTS
from socius.envs.spaces import action_components, observation_bounds
from socius.envs.world import World
from socius.societies.engine.rollout import Trajectory
from socius.societies.runs.files import atomic_write

FORMAT_NAME = "socius-dataset"
FORMAT_VERSION = 1
STEP_FIELDS = ("actions", "rewards", "terminations", "truncations", "messages",
               "achieved_goals", "desired_goals", "goal_achieved")
ROW_FIELDS = ("alive", "goals")
EPISODE_FIELDS = ("seeds", "env_indices", "episode_numbers", "policy_ids")


@dataclass(frozen=True)
class Dataset:
    """Episodes read back from a dataset file, with the file's metadata."""

    episodes: list[Trajectory]
    """The episodes, in saved order, with ``states=None``."""
    metadata: dict[str, Any]
    """Format, env, config, spaces, agents, seeds, policy ids; user metadata under ``user``."""

    @property
    def num_episodes(self) -> int:
        """Episodes E."""
        return len(self.episodes)

    @property
    def num_transitions(self) -> int:
        """Environment steps over all episodes, sum(T)."""
        return sum(episode.length for episode in self.episodes)

    @property
    def agent_names(self) -> list[str]:
        """Agent names in index order."""
        return list(self.metadata["agent_names"])

    def transitions(self) -> dict[str, np.ndarray]:
        """Flat per-transition arrays ``[sum T, N, ...]``: step fields, ``observations/<key>``
        and ``next_observations/<key>``, ``alive``/``goals`` before the step, ``episode_index``."""
        def cat(arrays):
            return np.concatenate(list(arrays))

        flat = {name: cat(getattr(e, name) for e in self.episodes) for name in STEP_FIELDS}
        flat.update({name: cat(getattr(e, name)[:-1] for e in self.episodes)
                     for name in ROW_FIELDS})
        for key in self.episodes[0].observations:
            flat[f"observations/{key}"] = cat(e.observations[key][:-1] for e in self.episodes)
            flat[f"next_observations/{key}"] = cat(e.observations[key][1:] for e in self.episodes)
        flat["episode_index"] = np.repeat(np.arange(self.num_episodes),
                                          [e.length for e in self.episodes])
        return flat


def save_dataset(path: str | os.PathLike, episodes: list[Trajectory],
                 metadata: dict[str, Any] | None = None, *, world: Any) -> Path:
    """Write ``episodes`` of ``world`` (a World, or its config) atomically to one ``.npz``."""
    if not episodes:
        raise ValueError("episodes: cannot save an empty list of episodes")
    world = _as_world(world, episodes[0].env_name)
    _check_episodes(episodes, world)
    arrays = _pack(episodes)
    try:
        text = json.dumps(_describe(episodes, world, metadata or {}), default=_json_value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"metadata is not JSON-serialisable: {error}") from error
    arrays["metadata"] = np.array(text)

    def write(temporary: str) -> None:
        # A file object, because np.savez appends '.npz' to a name that lacks it.
        with open(temporary, "wb") as file:
            np.savez_compressed(file, **arrays)

    atomic_write(path, write, suffix=".npz")
    return Path(path)


def load_dataset(path: str | os.PathLike, expect_env: str | None = None) -> Dataset:
    """Read a dataset written by :func:`save_dataset`, checking format, env and lengths."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no socius dataset at {path}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
        if "metadata" not in arrays:
            raise ValueError("it has no 'metadata' entry")
        metadata = json.loads(str(arrays.pop("metadata")[()]))
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not a JSON object")
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"{path} is not a readable socius dataset: {error}") from error
    _check_metadata(path, metadata, expect_env)
    return Dataset(episodes=_unpack(path, arrays, metadata["env_name"]), metadata=metadata)


def minari_export(dataset: Dataset | str | os.PathLike, agent: str, dataset_id: str,
                  algorithm_name: str = "socius", author: str | None = None,
                  author_email: str | None = None, code_permalink: str | None = None,
                  description: str | None = None, data_format: str | None = None):
    """Export ``agent``'s view of every episode as a single-agent Minari dataset."""
    try:
        import minari
        from minari.data_collector import EpisodeBuffer
    except ImportError as error:
        raise ImportError("minari_export needs Minari: pip install 'socius[minari]'") from error

    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset)
    if agent not in dataset.agent_names:
        raise ValueError(f"agent {agent!r} is not in this dataset; expected one of "
                         f"{dataset.agent_names}")
    index = dataset.agent_names.index(agent)
    observation_space = gymnasium.spaces.Dict({
        key: gymnasium.spaces.Box(np.array(space["low"], space["dtype"]),
                                  np.array(space["high"], space["dtype"]),
                                  dtype=np.dtype(space["dtype"]))
        for key, space in dataset.metadata["observation_space"].items()})
    # Plain MultiDiscrete: Minari serialises only gymnasium's own space classes.
    actions = gymnasium.spaces.MultiDiscrete(dataset.metadata["action_space"]["nvec"])
    buffers = [_agent_buffer(EpisodeBuffer, number, episode, index)
               for number, episode in enumerate(dataset.episodes)]
    optional = {"data_format": data_format} if data_format is not None else {}
    if description is None:
        description = (f"{agent}'s view of a socius {dataset.metadata['env_name']} dataset "
                       f"({dataset.num_episodes} episodes)")
    return minari.create_dataset_from_buffers(
        dataset_id, buffers, observation_space=observation_space, action_space=actions,
        algorithm_name=algorithm_name, author=author, author_email=author_email,
        code_permalink=code_permalink, description=description, **optional)


def _agent_buffer(buffer_class, number: int, episode: Trajectory, index: int):
    """One agent's whole episode; infos follow Minari's T + 1 rows (row 0 is the reset)."""
    def with_reset_row(array):
        return np.concatenate([np.zeros_like(array[:1]), array])

    return buffer_class(
        id=number,
        observations={key: value[:, index] for key, value in episode.observations.items()},
        actions=episode.actions[:, index], rewards=episode.rewards[:, index],
        terminations=episode.terminations[:, index], truncations=episode.truncations[:, index],
        infos={"goal_achieved": with_reset_row(episode.goal_achieved[:, index]),
               "achieved_goal": with_reset_row(episode.achieved_goals[:, index]),
               "desired_goal": with_reset_row(episode.desired_goals[:, index])})


def _as_world(world: Any, env_name: str) -> World:
    """The World itself, or one built from a config by the episodes' env module."""
    if not isinstance(world, World):
        if not dataclasses.is_dataclass(world):
            raise TypeError(f"world must be a World or its config; got {type(world).__name__}")
        if env_name not in ENVIRONMENTS:
            raise ValueError(f"env_name: unknown environment {env_name!r}")
        world = ENVIRONMENTS[env_name].build_world(world)
    if world.name != env_name:
        raise ValueError(f"env_name: the episodes are from {env_name!r} but the world is "
                         f"{world.name!r}")
    return world


def _fields(episode: Trajectory) -> dict[str, tuple[np.ndarray, int]]:
    """Every array of an episode, with its row count: T, or T + 1."""
    steps = episode.length
    fields = {f"observations/{key}": (value, steps + 1)
              for key, value in episode.observations.items()}
    fields.update({name: (getattr(episode, name), steps + 1) for name in ROW_FIELDS})
    fields.update({name: (getattr(episode, name), steps) for name in STEP_FIELDS})
    return fields


def _check_episodes(episodes: list[Trajectory], world: World) -> None:
    """Raise ValueError naming the first field that differs between episodes or from the world."""
    first = episodes[0]
    reference = _fields(first)
    if first.alive.shape[1] != world.num_agents:
        raise ValueError(f"num_agents: the episodes have {first.alive.shape[1]} agents, "
                         f"the world {world.num_agents}")
    if not world.config.flatten:
        for key, (low, _, dtype) in observation_bounds(world).items():
            value = first.observations.get(key)
            if value is None or value.shape[2:] != low.shape or value.dtype != dtype:
                raise ValueError(f"observations/{key}: does not match the world's space "
                                 f"{low.shape} {np.dtype(dtype)}")
    for number, episode in enumerate(episodes):
        if episode.env_name != first.env_name:
            raise ValueError(f"env_name: episode {number} is from {episode.env_name!r}, "
                             f"episode 0 from {first.env_name!r}")
        fields = _fields(episode)
        if fields.keys() != reference.keys():
            raise ValueError(f"observations: episode {number} has keys "
                             f"{sorted(episode.observations)}, episode 0 "
                             f"{sorted(first.observations)}")
        for name, (array, rows) in fields.items():
            expected = reference[name][0]
            if array.shape[0] != rows:
                raise ValueError(f"{name}: episode {number} has {array.shape[0]} rows, "
                                 f"expected {rows}")
            if array.shape[1:] != expected.shape[1:] or array.dtype != expected.dtype:
                raise ValueError(f"{name}: episode {number} is {array.shape[1:]} {array.dtype}, "
                                 f"episode 0 {expected.shape[1:]} {expected.dtype}")
        if len(episode.policy_ids) != len(first.policy_ids):
            raise ValueError(f"policy_ids: episode {number} has {len(episode.policy_ids)}, "
                             f"episode 0 {len(first.policy_ids)}")


def _pack(episodes: list[Trajectory]) -> dict[str, np.ndarray]:
    """Concatenate every field along time, plus the per-episode arrays."""
    fields = [_fields(episode) for episode in episodes]
    arrays = {name: np.concatenate([f[name][0] for f in fields]) for name in fields[0]}
    arrays["episode_lengths"] = np.array([e.length for e in episodes], np.int64)
    arrays["seeds"] = np.array([e.seed for e in episodes], np.int64)
    arrays["env_indices"] = np.array([e.env_index for e in episodes], np.int64)
    arrays["episode_numbers"] = np.array([e.episode for e in episodes], np.int64)
    arrays["policy_ids"] = np.array([list(e.policy_ids) for e in episodes], dtype=str).reshape(
        len(episodes), len(episodes[0].policy_ids))
    return arrays


def _describe(episodes: list[Trajectory], world: World, user: dict[str, Any]) -> dict[str, Any]:
    """The metadata record of a dataset."""
    name = episodes[0].env_name
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "env_name": name, "env_version": int(name.rsplit("_v", 1)[1]),
        "config": dataclasses.asdict(world.config),
        "observation_space": {
            key: {"shape": list(low.shape), "dtype": np.dtype(dtype).name,
                  "low": low.tolist(), "high": high.tolist()}
            for key, (low, high, dtype) in observation_bounds(world).items()},
        "action_space": {"type": "MultiDiscrete", "dtype": "int64",
                         "nvec": action_components(world).tolist()},
        "agent_names": list(world.agent_names),
        "num_episodes": len(episodes),
        "num_transitions": sum(e.length for e in episodes),
        "seeds": sorted({e.seed for e in episodes}),
        "policy_ids": sorted({p for e in episodes for p in e.policy_ids}),
        "user": user,
    }


def _json_value(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON; anything else is refused."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")


def _check_metadata(path: Path, metadata: dict[str, Any], expect_env: str | None) -> None:
    """Raise ValueError naming the field if the format, version or env is not what we read."""
    if metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: metadata field 'format' is {metadata.get('format')!r}, "
                         f"expected {FORMAT_NAME!r}")
    version = metadata.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{path}: metadata field 'format_version' is {version!r}; this socius "
                         f"reads versions 1 to {FORMAT_VERSION} (a newer one needs a newer socius)")
    if not isinstance(metadata.get("env_name"), str):
        raise ValueError(f"{path}: metadata field 'env_name' is missing")
    if expect_env is not None and metadata["env_name"] != expect_env:
        raise ValueError(f"{path}: the dataset is from env {metadata['env_name']!r}, "
                         f"expected {expect_env!r}")


def _unpack(path: Path, arrays: dict[str, np.ndarray], env_name: str) -> list[Trajectory]:
    """Cut the concatenated arrays back into episodes, checking every array's length."""
    def require(name: str, rows: int) -> np.ndarray:
        if name not in arrays:
            raise ValueError(f"{path}: array {name!r} is missing")
        if arrays[name].ndim == 0 or arrays[name].shape[0] != rows:
            raise ValueError(f"{path}: array {name!r} has {arrays[name].shape[:1]} rows, "
                             f"expected {rows} from episode_lengths")
        return arrays[name]

    lengths = arrays.get("episode_lengths")
    if lengths is None or lengths.ndim != 1 or (lengths < 0).any():
        raise ValueError(f"{path}: array 'episode_lengths' is missing or invalid")
    count, steps = len(lengths), int(lengths.sum())
    step_ends = np.cumsum(lengths)[:-1]
    row_ends = np.cumsum(lengths + 1)[:-1]
    keys = [name.split("/", 1)[1] for name in arrays if name.startswith("observations/")]
    observations = {key: np.split(require(f"observations/{key}", steps + count), row_ends)
                    for key in keys}
    rows = {name: np.split(require(name, steps + count), row_ends) for name in ROW_FIELDS}
    step = {name: np.split(require(name, steps), step_ends) for name in STEP_FIELDS}
    seeds, env_indices, numbers, policy_ids = (require(name, count) for name in EPISODE_FIELDS)
    return [Trajectory(
        observations={key: observations[key][i] for key in keys},
        **{name: step[name][i] for name in STEP_FIELDS},
        **{name: rows[name][i] for name in ROW_FIELDS},
        env_name=env_name, seed=int(seeds[i]), env_index=int(env_indices[i]),
        episode=int(numbers[i]), policy_ids=tuple(str(p) for p in policy_ids[i]),
    ) for i in range(count)]
