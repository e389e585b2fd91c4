"""Populations: independent members, seeded balanced schedules, replacement, cross-play."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from socius.societies.engine.population import (
    Population,
    PopulationConfig,
    cross_population_pairs,
    pairing_schedule,
)


def make_member(role, generator):
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(2, 3, generator=generator))
    return layer


def test_members_are_independent_unless_shared():
    population = Population(PopulationConfig(size=3), make_member,
                            torch.Generator().manual_seed(0))
    first, second = population.member("speaker", 0), population.member("speaker", 1)
    assert first is not second and not torch.equal(first.weight, second.weight)
    shared = Population(PopulationConfig(size=3, shared=True), make_member,
                        torch.Generator().manual_seed(0))
    assert shared.member("listener", 0) is shared.member("listener", 2)
    assert sum(p.numel() for p in shared.parameters()) * 3 == sum(
        p.numel() for p in population.parameters())


def test_replacement_gives_a_fresh_member_and_counts_generations():
    population = Population(PopulationConfig(size=2), make_member,
                            torch.Generator().manual_seed(0))
    old = population.member("listener", 1).weight.clone()
    population.replace("listener", 1, torch.Generator().manual_seed(5))
    assert not torch.equal(population.member("listener", 1).weight, old)
    assert population.generation.tolist() == [[0, 0], [0, 1]]
    with pytest.raises(ValueError, match="unknown role 'critic'"):
        population.replace("critic", 0, torch.Generator())
    with pytest.raises(ValueError, match=r"member index must be in \[0, 2\)"):
        population.member("speaker", 2)
    with pytest.raises(ValueError, match="config field 'size'"):
        PopulationConfig(size=0)


def test_schedule_is_seeded_balanced_and_mixes_partners():
    one = pairing_schedule(np.random.default_rng(3), size=4, roles=2, groups=64)
    again = pairing_schedule(np.random.default_rng(3), size=4, roles=2, groups=64)
    assert one.shape == (64, 2) and (one == again).all()
    for column in one.T:
        assert np.bincount(column, minlength=4).tolist() == [16, 16, 16, 16]
    pairs = {tuple(row) for row in one}
    assert len(pairs) == 16  # every speaker meets every listener
    assert pairing_schedule(np.random.default_rng(3), 4, 2, 0).shape == (0, 2)


def test_cross_population_pairs_cover_every_combination():
    pairs = cross_population_pairs(2, 3)
    assert pairs.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
