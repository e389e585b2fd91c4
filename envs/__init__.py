"""socius worlds: a batched grid-world core with PettingZoo and vector facades."""

from __future__ import annotations

from socius.envs.registry import ENVIRONMENTS, TASKS, registry_id
from socius.envs.vector import VectorEnv, make_vector

__all__ = ["ENVIRONMENTS", "TASKS", "VectorEnv", "make_vector", "registry_id"]
