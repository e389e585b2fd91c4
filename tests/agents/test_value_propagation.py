"""Max-propagation of learned step factors: exact shortest paths where the factors are
one per step, the same values read either way, and a gradient that matches a full graph
of every sweep."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from socius.agents.tabular import free_cells, state_distances
from socius.agents.value_propagation import FAR, propagate, source_maps
from socius.envs import layouts


def full_graph(log_step, cells, towards):
    """The recurrence swept as often as the grid has cells, every sweep in autograd."""
    source = source_maps(cells, *log_step.shape[1:])
    values = source
    for _ in range(log_step.shape[1] * log_step.shape[2]):
        shifted = nn.functional.pad(values + log_step if towards else values, (1, 1, 1, 1),
                                    value=FAR)
        best = torch.maximum(torch.maximum(shifted[:, :-2, 1:-1], shifted[:, 2:, 1:-1]),
                             torch.maximum(shifted[:, 1:-1, :-2], shifted[:, 1:-1, 2:]))
        values = torch.maximum(source, best if towards else best + log_step)
    return values


def test_one_factor_per_step_gives_the_maze_distances_both_ways():
    walls = layouts.maze(11, np.random.default_rng(3))
    cells, _ = free_cells(walls)
    distance = state_distances(walls)
    log_gamma = float(np.log(0.9))
    log_step = torch.full((3, 11, 11), log_gamma).masked_fill(torch.as_tensor(walls), -1e3)
    starts = torch.as_tensor(cells[[0, 7, 20]])
    from_start = propagate(log_step, starts).numpy()
    towards = propagate(log_step, starts, towards=True).numpy()
    for row, start in enumerate([0, 7, 20]):
        expected = distance[start] * log_gamma
        assert np.allclose(from_start[row][cells[:, 0], cells[:, 1]], expected, atol=1e-4)
        assert np.allclose(towards[row][cells[:, 0], cells[:, 1]], expected, atol=1e-4)
        assert (from_start[row][walls] < -100).all()  # a wall is never reached


def test_the_gradient_matches_the_full_graph_in_both_directions():
    generator = torch.Generator().manual_seed(0)
    cells = torch.tensor([[0, 0], [3, 4], [5, 6]])
    weights = torch.randn(3, 6, 7, generator=generator)
    for towards in (False, True):
        log_step = (-0.05 - 2 * torch.rand(3, 6, 7, generator=generator)).requires_grad_()
        fast = propagate(log_step, cells, towards)
        (fast * weights).sum().backward()
        fast_grad, log_step.grad = log_step.grad.clone(), None
        slow = full_graph(log_step, cells, towards)
        (slow * weights).sum().backward()
        assert torch.allclose(fast, slow)
        assert torch.allclose(fast_grad, log_step.grad, atol=1e-5)
        assert fast_grad.abs().sum() > 0
