"""Dynamics ensembles: disagreement, prediction error, view codes, the replay, and the
noisy-TV effect (disagreement fades on a stochastic transition, prediction error does not)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from socius.agents.dynamics import (
    DynamicsConfig,
    DynamicsModel,
    Ensemble,
    TransitionBuffer,
    ViewCoder,
    disagreement,
    prediction_error,
)
from socius.envs import make_vector


@pytest.fixture(scope="module")
def world():
    return make_vector("maze_v0", 1, seed=0, layout="four_rooms", size=9, start=(1, 1),
                       noisy_tv=True, message_length=0).world


def test_disagreement_is_zero_when_members_agree_and_grows_with_spread():
    base = torch.randn(1, 6, 10, generator=torch.Generator().manual_seed(0))
    agreeing = base.repeat(4, 1, 1)
    assert torch.allclose(disagreement(agreeing), torch.zeros(6))
    noise = torch.randn(4, 6, 10, generator=torch.Generator().manual_seed(1))
    spreads = [disagreement(base + scale * noise) for scale in (0.1, 0.5, 2.0)]
    assert (spreads[0] < spreads[1]).all() and (spreads[1] < spreads[2]).all()
    # Population variance over members, averaged over output dimensions.
    two = torch.tensor([[[0.0, 2.0]], [[2.0, 2.0]]])  # K=2, B=1, O=2
    assert torch.allclose(disagreement(two), torch.tensor([0.5]))


def test_prediction_error_is_the_mean_squared_error():
    prediction = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])
    target = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    assert torch.allclose(prediction_error(prediction, target), torch.tensor([0.25]))


def test_view_codes_are_one_hot_per_cell_and_channel(world):
    coder = ViewCoder(world)
    view = np.zeros((2, 5, 5, 5), np.uint8)
    view[1, 0] = 1  # walls everywhere
    view[1, 1, 2, 3] = 3  # an object of colour 2
    codes = coder.encode(torch.as_tensor(view))
    assert codes.shape == (2, coder.output_size)
    assert torch.allclose(codes.sum(dim=1), torch.full((2,), 5.0 * 25))
    assert not torch.equal(codes[0], codes[1])
    assert set(codes.unique().tolist()) == {0.0, 1.0}


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="'members'"):
        DynamicsConfig(members=0)
    with pytest.raises(ValueError, match="'learning_rate'"):
        DynamicsConfig(learning_rate=2.0)


def test_buffer_grows_and_samples_recent_transitions():
    buffer = TransitionBuffer(side=3, capacity=2)
    for start in range(0, 50, 10):
        buffer.add(np.arange(start, start + 10), np.zeros(10, np.int64),
                   np.zeros((10, 5, 3, 3), np.uint8))
    assert len(buffer) == 50 and (buffer.cells[:50] == np.arange(50)).all()
    cells, _, _ = buffer.sample(np.random.default_rng(0), 200, recent=10)
    assert (cells[:100] >= 40).all() and (cells[100:] < 40).any()


def test_same_generator_gives_the_same_ensemble():
    first = Ensemble(20, 7, 3, 16, torch.Generator().manual_seed(3))
    second = Ensemble(20, 7, 3, 16, torch.Generator().manual_seed(3))
    cell, move = torch.arange(4), torch.tensor([0, 1, 2, 3])
    assert torch.equal(first(cell, move), second(cell, move))
    assert first(cell, move).shape == (3, 4, 7)


def test_disagreement_fades_on_a_noisy_transition_while_the_error_stays(world,
                                                                        one_torch_thread):
    # Two inputs: one deterministic view, one whose object cell is redrawn at random (a TV).
    model = DynamicsModel(DynamicsConfig(members=5, hidden=64, learning_rate=3e-3), world,
                          torch.Generator().manual_seed(0))
    generator = np.random.default_rng(0)
    unseen = model.rewards(np.array([30, 31]), np.array([0, 0]))["disagreement"]
    count = 400
    views = np.zeros((count, 5, 5, 5), np.uint8)
    views[:, 0, 0, :] = 1
    noisy = np.arange(count) % 2 == 1
    views[noisy, 1, 2, 2] = generator.integers(1, 5, noisy.sum())
    cells = np.where(noisy, 11, 10)
    model.buffer.add(cells, np.zeros(count, np.int64), views)
    model.update(generator, 400)
    after = model.rewards(np.array([10, 11, 30, 31]), np.zeros(4, np.int64))
    clean = model.rewards(np.array([10]), np.zeros(1, np.int64), views[:1])["error"]
    noisy_error = model.rewards(np.array([11] * 50), np.zeros(50, np.int64),
                                views[noisy][:50])["error"]
    # Disagreement: trained inputs (clean and noisy alike) far below untrained ones.
    assert after["disagreement"][:2].max() < 0.1 * unseen.min(), (after, unseen)
    assert after["disagreement"][2:].min() > 5 * after["disagreement"][:2].max(), after
    # Prediction error: the noisy input keeps an irreducible error; the clean one has none.
    assert noisy_error.mean() > 20 * clean.mean(), (noisy_error.mean(), clean)
