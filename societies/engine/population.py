"""Populations: members with their own parameters, and a seeded schedule of who plays whom.

A population holds ``size`` members for each role (e.g. 4 speakers and 4 listeners).
Members are independent networks by default; ``shared=True`` makes every member of a
role one network (the usual parameter-sharing baseline). The schedule is drawn from an
explicit ``numpy.random.Generator``, so a seed fixes every pairing. Members can be
replaced by fresh ones mid-training (to watch a language pass to newcomers), and two
populations can be crossed for cross-play.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class PopulationConfig:
    """Shape of a population."""

    size: int = 4
    """Members per role."""
    roles: tuple[str, ...] = ("speaker", "listener")
    """Role names; each group of the world has one agent of each role, in this order."""
    shared: bool = False
    """One network per role, shared by all its members (a baseline), instead of one each."""

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"config field 'size' must be an integer >= 1; got {self.size!r}")
        if not self.roles or len(set(self.roles)) != len(self.roles):
            raise ValueError(f"config field 'roles' must be distinct names; got {self.roles!r}")


class Population(nn.Module):
    """``members[role][i]``: the networks of a population, built by ``make_member(generator)``."""

    def __init__(self, config: PopulationConfig,
                 make_member: Callable[[str, torch.Generator], nn.Module],
                 generator: torch.Generator):
        super().__init__()
        self.config = config
        self.make_member = make_member
        self.members = nn.ModuleDict()
        for role in config.roles:
            if config.shared:
                one = make_member(role, generator)
                self.members[role] = nn.ModuleList([one] * config.size)
            else:
                self.members[role] = nn.ModuleList(make_member(role, generator)
                                                   for _ in range(config.size))
        # How many times each seat has been refilled with a fresh member.
        self.register_buffer("generation", torch.zeros(len(config.roles), config.size,
                                                       dtype=torch.long))

    def member(self, role: str, index: int) -> nn.Module:
        """The network of member ``index`` of ``role``."""
        self._check(role, index)
        return self.members[role][index]

    def replace(self, role: str, index: int, generator: torch.Generator) -> nn.Module:
        """Give seat ``index`` of ``role`` a freshly initialised member; returns it.

        The fresh weights are copied into the seat's module, so an optimizer keeps
        holding the same parameter objects (reset their optimizer state yourself).
        """
        self._check(role, index)
        if self.config.shared:
            raise ValueError("members of a shared population cannot be replaced one by one")
        seat = self.members[role][index]
        seat.load_state_dict(self.make_member(role, generator).state_dict())
        self.generation[self.config.roles.index(role), index] += 1
        return seat

    def _check(self, role: str, index: int) -> None:
        if role not in self.members:
            raise ValueError(f"unknown role {role!r}; expected one of {list(self.members)}")
        if not 0 <= index < self.config.size:
            raise ValueError(f"member index must be in [0, {self.config.size}); got {index}")


def pairing_schedule(generator: np.random.Generator, size: int, roles: int,
                     groups: int) -> np.ndarray:
    """Members ``[groups, roles]`` for one round: each column is a balanced random draw
    (every member plays ``groups / size`` times, up to rounding), independent per role."""
    if size < 1 or roles < 1 or groups < 0:
        raise ValueError(f"pairing_schedule needs size >= 1, roles >= 1 and groups >= 0; "
                         f"got {size}, {roles}, {groups}")
    blocks = -(-groups // size)
    columns = [np.concatenate([generator.permutation(size) for _ in range(blocks)])[:groups]
               if groups else np.zeros(0, np.int64) for _ in range(roles)]
    return np.stack(columns, axis=1).astype(np.int64)


def cross_population_pairs(size_a: int, size_b: int) -> np.ndarray:
    """Every (member of A, member of B) pair ``[size_a * size_b, 2]``, for cross-play."""
    return np.stack(np.meshgrid(np.arange(size_a), np.arange(size_b), indexing="ij"),
                    axis=-1).reshape(-1, 2)
