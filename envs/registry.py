"""The environments socius ships, by name, and their PettingZoo registry ids."""

from __future__ import annotations

import importlib
from types import ModuleType

import pettingzoo

TASKS = ("referential_v0", "goal_cycle_v0", "goal_cycle_v1", "maze_v0")


def _load(name: str) -> ModuleType:
    """The versioned module of a task."""
    return importlib.import_module(f"socius.envs.{name}")


ENVIRONMENTS: dict[str, ModuleType] = {name: _load(name) for name in TASKS}
"""Each environment name mapped to its versioned module."""


def registry_id(name: str) -> str:
    """PettingZoo registry id of an environment, e.g. ``socius/Referential-v0``."""
    base, version = name.rsplit("_v", 1)
    return "socius/" + "".join(part.capitalize() for part in base.split("_")) + f"-v{version}"


def _register_with_pettingzoo() -> None:
    """Register every task under its ``socius/<Task>-v<N>`` id where PettingZoo has a
    registry (``pettingzoo.make``)."""
    if not hasattr(pettingzoo, "register"):
        return
    for name in TASKS:
        identifier = registry_id(name)
        if identifier not in getattr(pettingzoo, "parallel_registry", {}):
            pettingzoo.register("parallel", identifier,
                                entry_point=f"socius.envs.{name}:parallel_env")
            pettingzoo.register("aec", identifier, entry_point=f"socius.envs.{name}:env")


_register_with_pettingzoo()
