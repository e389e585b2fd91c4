"""BenchMARL: every socius task as a ``TaskClass`` over the native TorchRL env
(``socius[benchmarl]``).

``socius_task(name)`` gives a task BenchMARL's ``Experiment`` takes as it is, with the
world settings of ``socius/configs/benchmarl/<name>.yaml`` (``language_pair`` is the
README's speaker-listener pair); keyword arguments override them::

    from benchmarl.experiment import Experiment
    Experiment(task=socius_task("language_pair"), algorithm_config=MappoConfig..., ...)

The env is batched natively (``num_envs`` worlds in one core call), observations are
one-hot where the world's codes are categorical (BenchMARL's MLPs cannot read a token or
a colour from its code's magnitude; ``one_hot: false`` in the YAML gives the flat codes;
``spatial_view: true`` gives the one-hot view as an image ``(group, "view")`` of shape
``[S, S, C]`` beside the other fields, for CNNs), agents are grouped by role, actions
are one ``Categorical`` joint index per agent, and the action mask turns BenchMARL's
policies into ``MaskedCategorical`` ones. Episode outcomes (``success``, ``timeout``...)
are logged as ``<group>/<outcome>``: their mean over the episodes that ended in the
collected batch.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import torch
import yaml
from benchmarl.environments.common import TaskClass
from tensordict import TensorDictBase
from torchrl.data import Composite
from torchrl.envs import EnvBase

from socius.envs.registry import ENVIRONMENTS
from socius.envs.torchrl_env import make_torchrl

CONFIG_PACKAGE = "socius.configs"


def task_configs() -> dict[str, dict[str, Any]]:
    """Every shipped BenchMARL task: its name mapped to its YAML (``env`` and ``world``)."""
    folder = resources.files(CONFIG_PACKAGE) / "benchmarl"
    return {entry.name.removesuffix(".yaml"): yaml.safe_load(entry.read_text())
            for entry in folder.iterdir() if entry.name.endswith(".yaml")}


class SociusTask(TaskClass):
    """A socius world for BenchMARL; ``config`` is ``{"env": name, "world": settings,
    "one_hot": bool, "spatial_view": bool}`` (``one_hot``, default True: categorical codes
    as one-hot floats; ``spatial_view``, default False: the view as an image)."""

    def __init__(self, name: str, config: dict[str, Any]):
        env = config.get("env")
        if env not in ENVIRONMENTS:
            raise ValueError(f"config['env'] must be one of {sorted(ENVIRONMENTS)}; "
                             f"got {env!r}")
        if not isinstance(config.get("world", {}), dict):
            raise ValueError(f"config['world'] must be a mapping of world settings; got "
                             f"{config['world']!r}")
        super().__init__(name=name, config=config)

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None,
                    device) -> Callable[[], EnvBase]:
        """A maker of ``num_envs`` worlds in one batched env (discrete actions only)."""
        if continuous_actions:
            raise ValueError("socius worlds have discrete actions; set the experiment's "
                             "prefer_continuous_actions=False")
        env, world = self.config["env"], dict(self.config.get("world", {}))
        one_hot = bool(self.config.get("one_hot", True))
        spatial_view = bool(self.config.get("spatial_view", False))
        return lambda: make_torchrl(env, num_envs, seed=seed, device=device, one_hot=one_hot,
                                    spatial_view=spatial_view, **world)

    def supports_continuous_actions(self) -> bool:
        """No: moves and tokens are discrete."""
        return False

    def supports_discrete_actions(self) -> bool:
        """Yes: one joint index per agent."""
        return True

    def max_steps(self, env: EnvBase) -> int:
        """Steps before an episode is truncated (the world's ``max_cycles``)."""
        return int(env.world.config.max_cycles)

    def has_render(self, env: EnvBase) -> bool:
        """No frames in BenchMARL's videos yet; ``socius play`` draws a world."""
        return False

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        """Agents grouped by role."""
        return env.group_map

    def observation_spec(self, env: EnvBase) -> Composite:
        """Each group's observation alone: its mask and info are specs of their own, so
        BenchMARL's models do not read them as inputs."""
        spec = env.full_observation_spec_unbatched.clone()
        for group in self.group_map(env):
            del spec[group]["info"]
            del spec[group]["action_mask"]
        return spec

    def info_spec(self, env: EnvBase) -> Composite:
        """Each group's numeric outcomes (``goal_achieved``, ``success``...)."""
        return self._entry_spec(env, "info")

    def state_spec(self, env: EnvBase) -> Composite | None:
        """None: critics read the agents' observations."""
        return None

    def action_mask_spec(self, env: EnvBase) -> Composite:
        """Each group's mask over its joint actions."""
        return self._entry_spec(env, "action_mask")

    def _entry_spec(self, env: EnvBase, key: str) -> Composite:
        """The spec of one observation entry ``key`` of every group, alone."""
        full = env.full_observation_spec_unbatched
        return Composite({group: Composite({key: full[group][key].clone()},
                                           shape=full[group].shape)
                          for group in self.group_map(env)})

    def action_spec(self, env: EnvBase) -> Composite:
        """One ``Categorical`` joint action per agent."""
        return env.full_action_spec_unbatched

    @staticmethod
    def env_name() -> str:
        """The name BenchMARL files these tasks under."""
        return "socius"

    @staticmethod
    def log_info(batch: TensorDictBase) -> dict[str, float]:
        """Each outcome's mean over the episodes that ended in ``batch``."""
        done = batch.get(("next", "done")).squeeze(-1)
        logged = {}
        if not bool(done.any()):
            return logged
        for group, entry in batch.get("next").items():
            if not isinstance(entry, TensorDictBase) or "info" not in entry.keys():
                continue
            for key, value in entry.get("info").items():
                ended = value[done]  # [episodes, agents]
                logged[f"{group}/{key}"] = float(ended.to(torch.float32).mean())
        return logged


def socius_task(name: str, spatial_view: bool | None = None, **world: Any) -> SociusTask:
    """The shipped BenchMARL task ``name`` (``task_configs()``), with ``world`` settings
    laid over its YAML (and ``spatial_view``, when given, over its own)."""
    configs = task_configs()
    if name not in configs:
        raise ValueError(f"name must be one of {sorted(configs)}; got {name!r}")
    config = configs[name]
    if spatial_view is None:
        spatial_view = config.get("spatial_view", False)
    return SociusTask(name, {"env": config["env"], "one_hot": config.get("one_hot", True),
                             "spatial_view": bool(spatial_view),
                             "world": {**config.get("world", {}), **world}})
