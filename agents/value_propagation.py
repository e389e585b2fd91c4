"""Max-propagation of values over a grid (MVProp, Nardelli et al. 2019, "Value Propagation
Networks"): a small convolutional net reads the map memory and gives every cell a learned
*step factor* in (0, 1); a reach value is then the best product of step factors along any
path, found by iterating a max over the four neighbours as far as the grid needs.

This is the navigator's ``propagation`` body (``socius.agents.navigator``). A plain stack
of 3 x 3 layers carries a value one cell per layer, so a 12-layer net sees about 12 cells
of corridor; the propagation carries it as far as it iterates, with the same few weights,
and so generalises to mazes and path lengths it was not trained on (the paper's claim,
which EXPERIMENTS.md section 7 measures here).

Everything is in log space: ``log V`` is a sum of log step factors, a shortest path with
learned costs, and its gradient follows the best path only.
"""

from __future__ import annotations

import torch
from torch import nn

FAR = -1.0e4
"""``log V`` of a cell no path reaches yet (``exp`` of it is 0, and it stays finite, so no
gradient meets an infinity)."""


def neighbour_max(values: torch.Tensor) -> torch.Tensor:
    """The largest of each cell and its four neighbours in ``values [B, H, W]`` (nothing
    beyond the grid's edge). Shifted in-place maxima: a 1-D max pool is 20 times slower on
    a CPU at these sizes."""
    out = values.clone()
    torch.maximum(out[:, 1:], values[:, :-1], out=out[:, 1:])
    torch.maximum(out[:, :-1], values[:, 1:], out=out[:, :-1])
    torch.maximum(out[:, :, 1:], values[:, :, :-1], out=out[:, :, 1:])
    torch.maximum(out[:, :, :-1], values[:, :, 1:], out=out[:, :, :-1])
    return out


def source_maps(cells: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``log V`` before propagating: 0 at each row's cell ``[B, 2]``, ``FAR`` elsewhere."""
    start = torch.full((len(cells), height, width), FAR)
    start[torch.arange(len(cells)), cells[:, 0], cells[:, 1]] = 0.0
    return start


def propagate(log_step: torch.Tensor, cells: torch.Tensor, towards: bool = False) -> torch.Tensor:
    """``log V [B, H, W]``: the best sum of ``log_step [B, H, W]`` over the cells a path
    enters (every step factor is below 1, so the best path is a shortest one).

    ``towards=False``: from each row's cell ``[B, 2]`` to every cell (the cell itself 0).
    ``towards=True``: from every cell to each row's cell, the start excluded: the same
    quantity read the other way, so one pass values every move towards a target.

    The sweeps run to the fixed point without a graph. The gradient is exact and cheap: a
    path sum's derivative is 1 at every step factor on its best path, so it is summed
    back along the tree of best predecessors (a full graph through a 21 x 21 maze's 200
    sweeps costs ten times as much, and a truncated one biases the far cells)."""
    return _PathSums.apply(log_step, cells, towards)


class _PathSums(torch.autograd.Function):
    """``propagate`` with its gradient summed along the best-path tree."""

    @staticmethod
    def forward(ctx, log_step, cells, towards):
        batch, height, width = log_step.shape
        source = source_maps(cells, height, width)
        values = source
        for _ in range(height * width):
            swept = _sweep(source, values, log_step, towards)
            if torch.equal(swept, values):
                break
            values = swept
        if not log_step.requires_grad:  # acting: no tree to keep
            return values
        # Each reached cell's best neighbour: its parent in the tree of best paths.
        scored = values + log_step if towards else values
        shifted = torch.stack([_shift(scored, dr, dc) for dr, dc in NEIGHBOURS], 1)
        parent_side = shifted.argmax(1)
        rows = (torch.arange(height)[None, :, None] + NEIGHBOUR_ROWS[parent_side]).clamp(
            0, height - 1)
        cols = (torch.arange(width)[None, None, :] + NEIGHBOUR_COLS[parent_side]).clamp(
            0, width - 1)
        parent = (rows * width + cols).reshape(batch, -1)
        child = (values > FAR / 2) & (source < 0)  # reached, and not a path's start
        ctx.save_for_backward(values, parent, child.reshape(batch, -1))
        ctx.towards = towards
        return values

    @staticmethod
    def backward(ctx, grad_values):
        values, parent, child = ctx.saved_tensors
        batch, height, width = values.shape
        flat = values.reshape(batch, -1)
        cells = height * width
        carried = torch.where(child, grad_values.reshape(batch, -1), 0.0)
        own = carried.clone()
        # Children before parents: a child's value is below its parent's, as every step
        # factor is below 1 (in float32 only while a step's log is above the value's
        # rounding: |log step| > 1e-6 at |log V| < 10, a factor below 0.999999, which a
        # sigmoid reaches only beyond a logit of 14). Each cell passes on what its subtree
        # carries; cells that are no child pass theirs to a spare slot at the end.
        order = flat.argsort(1)
        offset = torch.arange(batch)[:, None] * cells
        source = (offset + order).T.contiguous()
        target = torch.where(child.gather(1, order), offset + parent.gather(1, order),
                             batch * cells).T.contiguous()
        carried = torch.cat([carried.reshape(-1), carried.new_zeros(1)])
        for index in range(cells):
            carried.index_add_(0, target[index], carried[source[index]])
        carried = carried[:-1].reshape(batch, cells)
        # From a cell: a step factor is on the path to its cell and to the cell's whole
        # subtree. Towards a cell: on the paths of the subtree below it, the cell itself
        # excluded, and the target's own factor counts (every path ends by entering it).
        reached = flat > FAR / 2
        grad = torch.where(reached, carried - own, 0.0) if ctx.towards else \
            torch.where(child, carried, 0.0)
        return grad.reshape(batch, height, width), None, None


NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))
NEIGHBOUR_ROWS = torch.tensor([dr for dr, _ in NEIGHBOURS])
NEIGHBOUR_COLS = torch.tensor([dc for _, dc in NEIGHBOURS])


def _shift(values, dr, dc):
    """``values`` read at each cell's neighbour ``(dr, dc)`` (off the grid: ``FAR``)."""
    padded = nn.functional.pad(values, (1, 1, 1, 1), value=FAR)
    height, width = values.shape[1:]
    return padded[:, 1 + dr: 1 + dr + height, 1 + dc: 1 + dc + width]


def _sweep(source, values, log_step, towards):
    """One application of the max recurrence (Bellman's operator), either direction."""
    if towards:  # enter a neighbour, then go on from it
        return torch.maximum(source, neighbour_max(values + log_step))
    return torch.maximum(source, neighbour_max(values) + log_step)


class StepFactors(nn.Module):
    """``log`` step factors ``[B, H, W]`` from map planes: ``log gamma`` plus the log of a
    learned passability in (0, 1) (a few 3 x 3 layers: what a cell is likely to be, from the
    cells around it)."""

    def __init__(self, inputs: int, channels: int, layers: int, gamma: float):
        super().__init__()
        body: list[nn.Module] = [nn.Conv2d(inputs, channels, 3, padding=1), nn.ReLU()]
        for _ in range(layers - 1):
            body += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        body.append(nn.Conv2d(channels, 1, 1))
        self.body = nn.Sequential(*body)
        self.log_gamma = float(torch.log(torch.tensor(gamma)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log step factor of entering each cell."""
        return self.log_gamma + nn.functional.logsigmoid(self.body(x)[:, 0])
