"""Populations: independent members, seeded balanced schedules, replacement, cross-play."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from socius.societies.engine.population import (
    MemberAdam,
    Population,
    PopulationConfig,
    cross_population_pairs,
    pairing_schedule,
)


class Member(nn.Module):
    """A member network as the population calls it: a dict in, (outputs, state) out."""

    def __init__(self, generator):
        super().__init__()
        self.layer = nn.Linear(3, 2)
        with torch.no_grad():
            self.layer.weight.copy_(torch.randn(2, 3, generator=generator))

    def forward(self, observation):
        out = self.layer(observation["x"])
        return {"move_logits": out, "value": out.sum(-1)}, None


def make_member(role, generator):
    return Member(generator)


def make(size=3, shared=False, seed=0):
    return Population(PopulationConfig(size=size, shared=shared), make_member,
                      torch.Generator().manual_seed(seed))


def test_members_are_stacked_independent_unless_shared():
    population = make()
    weights, _ = population.stacked_state("speaker")
    assert weights["layer.weight"].shape == (3, 2, 3)
    first, second = population.member("speaker", 0), population.member("speaker", 1)
    assert not torch.equal(first.layer.weight, second.layer.weight)
    # Building the members one by one from the same seed gives the same weights.
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(first.layer.weight, Member(generator).layer.weight)
    shared = make(shared=True)
    assert torch.equal(shared.member("listener", 0).layer.weight,
                       shared.member("listener", 2).layer.weight)
    assert sum(p.numel() for p in shared.parameters()) * 3 == sum(
        p.numel() for p in population.parameters())


def test_one_batched_run_gives_each_sample_its_own_members_outputs():
    population = make()
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(1))
    members = np.array([2, 0, 1, 2, 2, 0, 1, 1, 0, 2])
    outputs = population.run("speaker", {"x": x}, members)
    for row, index in enumerate(members):
        expected, _ = population.member("speaker", int(index))({"x": x[row:row + 1]})
        assert torch.allclose(outputs["move_logits"][row], expected["move_logits"][0])
    outputs["value"].sum().backward()
    grad = population.stacked_state("speaker")[0]["layer.weight"].grad
    assert bool((grad.flatten(1).abs().sum(1) > 0).all())  # every member got a gradient


def test_each_member_is_clipped_on_its_own():
    population = make(size=2)
    weights, _ = population.stacked_state("speaker")
    weights["layer.weight"].grad = torch.stack([torch.full((2, 3), 10.0),
                                                torch.full((2, 3), 0.01)])
    weights["layer.bias"].grad = torch.zeros(2, 2)
    norms = population.clip_gradients(1.0)
    assert norms[0, 0] == pytest.approx(10.0 * 6 ** 0.5)
    assert float(weights["layer.weight"].grad[0].norm()) == pytest.approx(1.0, rel=1e-5)
    assert torch.allclose(weights["layer.weight"].grad[1], torch.full((2, 3), 0.01))


def test_replacement_gives_a_fresh_slice_and_restarts_its_adam_state():
    population = make(size=2)
    optimizer = MemberAdam(population.parameters(), members=2, lr=0.1)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    for _ in range(3):
        optimizer.zero_grad()
        population.run("listener", {"x": x}, np.array([0, 1, 0, 1]))["value"].sum().backward()
        optimizer.step()
    old = population.member("listener", 1).layer.weight.clone()
    kept = population.member("listener", 0).layer.weight.clone()
    population.replace("listener", 1, torch.Generator().manual_seed(5))
    optimizer.reset_member(1)
    assert not torch.equal(population.member("listener", 1).layer.weight, old)
    assert torch.equal(population.member("listener", 0).layer.weight, kept)
    assert population.generation.tolist() == [[0, 0], [0, 1]]
    state = optimizer.state[population.stacked_state("listener")[0]["layer.weight"]]
    assert state["step"].tolist() == [3, 0]
    assert float(state["exp_avg"][1].abs().sum()) == 0
    # A fresh member's first Adam step has the bias-corrected size: lr per coordinate.
    before = population.stacked_state("listener")[0]["layer.weight"].detach().clone()
    optimizer.zero_grad()
    population.run("listener", {"x": x}, np.array([1, 1, 1, 1]))["value"].sum().backward()
    optimizer.step()
    moved = population.stacked_state("listener")[0]["layer.weight"].detach() - before
    assert torch.allclose(moved[1].abs(), torch.full((2, 3), 0.1), atol=1e-4)
    with pytest.raises(ValueError, match="unknown role 'critic'"):
        population.replace("critic", 0, torch.Generator())
    with pytest.raises(ValueError, match=r"member index must be in \[0, 2\)"):
        population.member("speaker", 2)
    with pytest.raises(ValueError, match="config field 'size'"):
        PopulationConfig(size=0)


def test_a_checkpoint_of_unstacked_members_loads_into_the_stack():
    population = make(size=2)
    old = {f"members.{role}.{index}.{name}": value
           for role in ("speaker", "listener") for index in range(2)
           for name, value in population.member(role, index).state_dict().items()}
    old["generation"] = torch.zeros(2, 2, dtype=torch.long)
    fresh = make(size=2, seed=9)
    fresh.load_state_dict(old)
    assert torch.equal(fresh.member("listener", 1).layer.weight,
                       population.member("listener", 1).layer.weight)


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


def test_the_vmapped_and_sliced_runs_agree(monkeypatch):
    from socius.societies.engine import population as module

    population = make(size=8)
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(3))
    members = np.random.default_rng(0).integers(0, 8, 40)
    members[:8] = np.arange(8)  # every member present: the vmap path
    mapped = population.run("listener", {"x": x}, members)
    monkeypatch.setattr(module, "VMAP_FROM", 10**9)
    sliced = population.run("listener", {"x": x}, members)
    torch.testing.assert_close(mapped["move_logits"], sliced["move_logits"])
    mapped["value"].sum().backward()
    assert population.stacked_state("listener")[0]["layer.weight"].grad is not None
