"""The GRU memory of socius agents: explicit state, per-environment resets, and a fused
unroll over sequences."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from socius.agents.layers import _finish


class Memory(nn.Module):
    """GRU memory with explicit state ``[..., hidden]`` and per-environment resets.

    One step runs the GRU on a sequence of length 1; :meth:`unroll` runs each stretch of
    a sequence between resets as one call of torch's GRU (its own loop over time, not a
    Python one per step).
    """

    def __init__(self, input_size: int, hidden: int = 128, device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.hidden = hidden
            # Normalised inputs: without this the small differences a cue makes in the
            # features fade inside the GRU and the t-maze cue is never learned.
            self.norm = nn.LayerNorm(input_size)
            self.rnn = nn.GRU(input_size, hidden)
        _finish(self, device, generator)
        self._register_load_state_dict_pre_hook(_rename_gru_cell)

    def initial_state(self, batch_shape: tuple[int, ...]) -> Tensor:
        """Zero state ``[*batch_shape, hidden]``."""
        return torch.zeros(*batch_shape, self.hidden, device=self.rnn.weight_hh_l0.device)

    def forward(self, x: Tensor, state: Tensor,
                reset: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x`` ``[..., I]``, ``state`` ``[..., H]``, reset bool ``[...]`` -> (output, state)."""
        outputs, state = self.unroll(x[None], state, None if reset is None else reset[None])
        return outputs[0], state

    def unroll(self, xs: Tensor, state: Tensor,
               resets: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``xs`` ``[T, ..., I]``, resets bool ``[T, ...]`` -> (outputs ``[T, ..., H]``, state)."""
        steps, lead = xs.shape[0], xs.shape[1:-1]
        batch = math.prod(lead)
        inputs = self.norm(xs).reshape(steps, batch, xs.shape[-1])
        state = state.reshape(1, batch, self.hidden)
        flags = None if resets is None else resets.bool().reshape(steps, batch)
        # Stretches between the steps at which some environment resets run as one call.
        cuts = [0] if flags is None else [0, *(torch.nonzero(flags[1:].any(1)).flatten()
                                               + 1).tolist()]
        outputs = []
        for start, end in zip(cuts, [*cuts[1:], steps]):
            if flags is not None:
                # where, not multiply: a NaN in a stale state must not survive a reset
                state = torch.where(flags[start][None, :, None], torch.zeros_like(state), state)
            output, state = self.rnn(inputs[start:end], state)
            outputs.append(output)
        return (torch.cat(outputs).reshape(steps, *lead, self.hidden),
                state.reshape(*lead, self.hidden))


def _rename_gru_cell(state_dict: dict, prefix: str, *args) -> None:
    """Checkpoints from before the fused GRU hold ``cell.weight_ih`` etc.; same tensors."""
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        old = f"{prefix}cell.{name}"
        if old in state_dict:
            state_dict[f"{prefix}rnn.{name}_l0"] = state_dict.pop(old)
