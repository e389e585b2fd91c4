"""The view encoder of socius agents: an egocentric view to pooled features, and to
features of every cell (what a listener matches a message against, and where a
hierarchical agent reads its subgoal logits)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from socius.agents.layers import _finish, _flatten

if TYPE_CHECKING:
    from socius.agents.modules import ObservationSpec


class ViewEncoder(nn.Module):
    """Egocentric view uint8 ``[..., 5, S, S]`` -> features ``[..., hidden]``.

    Two convolutions of ``channels`` with ``kernel`` x ``kernel`` filters (``kernel=1``: a
    small MLP on every cell, cheap on a CPU), then a linear layer. With ``condition`` > 0
    a feature vector ``[..., condition]`` (e.g. the heard message) joins every cell
    before the first layer, so cells can be matched against it (early fusion).
    """

    def __init__(self, spec: ObservationSpec, hidden: int = 128, embed: int = 8,
                 channels: int = 32, kernel: int = 3, condition: int = 0,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.embeddings = nn.ModuleList(nn.Embedding(n, embed) for n in spec.view_categories)
            width = embed * len(spec.view_categories) + condition
            self.conv = nn.Sequential(
                nn.Conv2d(width, channels, kernel, padding=kernel // 2), nn.ReLU(),
                nn.Conv2d(channels, channels, kernel, padding=kernel // 2), nn.ReLU(),
                nn.Flatten())
            self.out = nn.Sequential(nn.Linear(channels * spec.view_side ** 2, hidden), nn.ReLU())
        self.kernel, self.embed = kernel, embed
        self.offsets = tuple(itertools.accumulate((0,) + spec.view_categories[:-1]))
        _finish(self, device, generator)

    def forward(self, view: Tensor, condition: Tensor | None = None) -> Tensor:
        """``view`` ``[..., 5, S, S]`` (and ``condition`` ``[..., C]``) -> ``[..., hidden]``."""
        return self.pooled_and_cells(view, condition)[0]

    def pooled_and_cells(self, view: Tensor, condition: Tensor | None = None
                         ) -> tuple[Tensor, Tensor]:
        """:meth:`forward`'s features ``[..., hidden]`` and :meth:`cells`'s ``[..., S * S,
        channels]``, from one pass."""
        cells, lead = self.cells(view, condition)
        # The output layer reads channel-major cells, as a convolution's Flatten does.
        pooled = self.out(cells.transpose(1, 2).flatten(1)).reshape(*lead, -1)
        return pooled, cells.reshape(*lead, *cells.shape[1:])

    def cells(self, view: Tensor, condition: Tensor | None = None) -> tuple[Tensor, tuple]:
        """Features of every view cell ``[B', S * S, channels]`` (raster order) and the
        leading dims ``[...]`` that ``B'`` flattens."""
        if self.kernel == 1:
            return self._per_cell(view, condition)
        cells, lead = _flatten(view.long(), 3)
        parts = [embedding(cells[:, c]) for c, embedding in enumerate(self.embeddings)]
        if condition is not None:
            side = cells.shape[-1]
            flat_condition = condition.reshape(cells.shape[0], 1, 1, -1)
            parts.append(flat_condition.expand(-1, side, side, -1))
        embedded = torch.cat(parts, dim=-1)  # [B', S, S, 5E (+ C)]
        features = self.conv[:-1](embedded.permute(0, 3, 1, 2))  # [B', C, S, S]
        return features.flatten(2).transpose(1, 2), lead

    def _per_cell(self, view: Tensor, condition: Tensor | None) -> tuple[Tensor, tuple]:
        # With 1 x 1 filters the first layer is linear in [embeddings, condition], so it is
        # folded: each category's embedding times its slice of the filters is a row of one
        # small table, a cell sums its 5 rows (embedding_bag) and the condition's share is
        # added once per sample. Same weights and maths as the convolution path, without
        # building the [cells, 5E + C] input or running a convolution's backward.
        first, second = self.conv[0], self.conv[2]
        channels = len(self.embeddings)
        cells, lead = _flatten(view.long(), 3)
        batch, side = cells.shape[0], cells.shape[-1]
        weight = first.weight.flatten(1)  # [channels_out, 5E + C]
        tables = torch.cat([embedding.weight @ weight[:, c * self.embed:(c + 1) * self.embed].T
                            for c, embedding in enumerate(self.embeddings)])
        offsets = torch.tensor(self.offsets, device=cells.device)
        index = (cells.permute(0, 2, 3, 1) + offsets).reshape(-1, channels)
        # A cell's 5 categories as counts over every table row: the lookup and its gradient
        # are then two small matrix products (an embedding's backward sorts its indices).
        counts = tables.new_zeros(index.shape[0], tables.shape[0]).scatter_add(
            1, index, tables.new_ones(()).expand(index.shape))
        hidden = torch.addmm(first.bias, counts, tables).reshape(batch, side * side, -1)
        if condition is not None:
            share = condition.reshape(batch, -1) @ weight[:, channels * self.embed:].T
            hidden = hidden + share[:, None]
        hidden = nn.functional.linear(hidden.relu(), second.weight.flatten(1),
                                      second.bias).relu()
        return hidden, lead
