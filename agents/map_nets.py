"""Fully convolutional nets over map planes and the small tensor helpers of the socius
navigator (``socius.agents.navigator``) and its seats."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

CELL_PLANES = 3
"""Planes a marked cell adds: the cell, and its row and column offset to every cell."""


def planes(maps: torch.Tensor, agent: torch.Tensor | None, goal: torch.Tensor | None = None,
           kinds: int = 3):
    """Network input ``[B, kinds (+3) (+3), H, W]``: the map one-hot, then the agent's cell
    and its offset to every cell, then the same for the goal (each where given), from
    ``maps [B, H, W]`` and cells ``[B, 2]``."""
    batch, height, width = maps.shape
    memory = nn.functional.one_hot(maps.long(), kinds).permute(0, 3, 1, 2).float()
    rows = torch.arange(height, dtype=torch.float32)[None, :, None]
    cols = torch.arange(width, dtype=torch.float32)[None, None, :]
    scale = float(max(height, width))

    def marker(cell):
        here = same_cell_maps(cell, height, width)[:, None]
        offset_row = (rows - cell[:, 0, None, None].float()).expand(batch, height, width)
        offset_col = (cols - cell[:, 1, None, None].float()).expand(batch, height, width)
        return [here, torch.stack([offset_row, offset_col], dim=1) / scale]

    parts = [memory, *(marker(agent) if agent is not None else [])]
    if goal is not None:
        parts += marker(goal)
    return torch.cat(parts, dim=1)


class MapNet(nn.Module):
    """Fully convolutional maps ``[B, outputs, H, W]`` from planes. Plain 3 x 3 layers carry
    a value along corridors one cell per layer (dilated ones jump over walls and cannot),
    so most layers are plain; the last dilations reach across a 21 x 21 grid."""

    DILATIONS = (1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 8)

    def __init__(self, inputs: int, outputs: int, channels: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(inputs, channels, 3, padding=1), nn.ReLU()]
        for dilation in self.DILATIONS:
            layers += [nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
                       nn.ReLU()]
        layers.append(nn.Conv2d(channels, outputs, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps for every cell."""
        return self.body(x)


def expectile_cross_entropy(logits: torch.Tensor, target: torch.Tensor, tau: float):
    """The expectile weights ``|tau - 1(u < 0)|`` (IQL) on a cross-entropy towards a target
    probability: its gradient in the logit is ``sigmoid - target``, which never vanishes
    where the sigmoid saturates (a squared error's does, and its values then run away)."""
    weight = torch.where(target > torch.sigmoid(logits), tau, 1 - tau)
    return weight * nn.functional.binary_cross_entropy_with_logits(logits, target,
                                                                   reduction="none")


def draw_from(probabilities: torch.Tensor, generator: np.random.Generator) -> np.ndarray:
    """One index per row of ``probabilities [B, K]`` from ``generator`` (inverse CDF)."""
    probabilities = probabilities.double().numpy()
    picked = (generator.random((len(probabilities), 1)) > probabilities.cumsum(-1)).sum(-1)
    # Rounding may leave a draw past the last possible index: take the likeliest then.
    inside = np.minimum(picked, probabilities.shape[-1] - 1)
    stray = (picked != inside) | (probabilities[np.arange(len(picked)), inside] == 0)
    return np.where(stray, probabilities.argmax(-1), picked)


def at_cells(maps: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """``maps [B, C, H, W]`` read at one cell per row ``[B, 2]``: ``[B, C]``."""
    return maps[torch.arange(len(cells)), :, cells[:, 0], cells[:, 1]]


def same_cell_maps(cells: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """One-hot ``[B, H, W]`` of each row's cell."""
    hot = torch.zeros(len(cells), height, width)
    hot[torch.arange(len(cells)), cells[:, 0], cells[:, 1]] = 1.0
    return hot
