"""How socius layers get their weights, and the leading-dims helper every module uses.

Layers are built on the meta device, since torch's default init would draw from the
global RNG; :func:`_finish` draws them on CPU from an explicit generator, then moves
them, so a seed fixes them on any device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def initialise(module: nn.Module, generator: torch.Generator) -> None:
    """Redraw every parameter of ``module`` from ``generator`` with torch's default scheme."""
    for layer in module.modules():
        if isinstance(layer, nn.Embedding):
            nn.init.normal_(layer.weight, 0.0, 1.0, generator=generator)
        elif isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(max(1, layer.weight[0].numel()))
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        elif isinstance(layer, nn.LayerNorm):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.GRUCell, nn.GRU)):
            bound = 1.0 / math.sqrt(layer.hidden_size)
            for parameter in layer.parameters():
                nn.init.uniform_(parameter, -bound, bound, generator=generator)


def _finish(module: nn.Module, device: str | torch.device,
            generator: torch.Generator | None) -> None:
    # Layers are built on the meta device, since torch's default init would draw from the
    # global RNG; they are drawn here on CPU, then moved, so a seed fixes them on any device.
    module.to_empty(device="cpu")
    initialise(module, generator if generator is not None else torch.Generator().manual_seed(0))
    module.to(device=device, dtype=torch.float32)


def _flatten(x: Tensor, trailing: int) -> tuple[Tensor, torch.Size]:
    # reshape(-1, ...) is ambiguous when a trailing dim is 0, so give the batch size.
    lead = x.shape[:x.dim() - trailing]
    return x.reshape(math.prod(lead), *x.shape[x.dim() - trailing:]), lead
