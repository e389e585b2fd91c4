"""A social learner: a recurrent actor-critic that also predicts what the agents in view
do next (the auxiliary head of Ndousse et al. 2021, here on moves instead of pixels).

The peer head reads the learner's memory features together with where one ``others``
slot's agent stands (presence and offset; not its previous move, which alone predicts
most next moves and would let the head ignore the memory) and gives logits over that
agent's next move, for every slot ``[..., M, 5]``. Its loss shapes the shared memory; the
policy never reads the head's output, so switching the loss off (weight 0) leaves the
same network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from socius.agents.modules import AgentNetwork, ObservationSpec, _finish


class PeerMoveHead(nn.Module):
    """Features ``[..., H]`` and others ``[..., M, 6+L]`` -> next-move logits ``[..., M, A]``."""

    def __init__(self, spec: ObservationSpec, hidden: int = 128,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.radius = max(1, spec.view_radius)
            self.out = nn.Sequential(nn.Linear(hidden + 3, hidden), nn.ReLU(),
                                     nn.Linear(hidden, spec.num_moves))
        _finish(self, device, generator)

    def forward(self, features: Tensor, others: Tensor) -> Tensor:
        """Logits of each slot's next move (meaningless where the slot is empty)."""
        others = others.long()
        slots = others.shape[-2]
        parts = [features.unsqueeze(-2).expand(*features.shape[:-1], slots, features.shape[-1]),
                 others[..., :1].float(), others[..., 1:3].float() / self.radius]
        return self.out(torch.cat(parts, dim=-1))


class SocialLearner(nn.Module):
    """An :class:`AgentNetwork` with GRU memory plus a :class:`PeerMoveHead`.

    With ``reward_input`` the memory also reads the reward of the previous step (as
    "scored" and "penalised" flags, observation key ``previous_reward``), as meta-RL
    agents do: without it a learner cannot tell, within an episode, whether the tile it
    entered was the right one. With ``cell_head`` it also scores every view cell as a
    subgoal (``cell_logits``), by the cell's contents and its memory (a hierarchical
    learner's choice).
    """

    def __init__(self, spec: ObservationSpec, hidden: int = 128, memory: bool = True,
                 view_channels: int = 16, view_kernel: int = 1, reward_input: bool = False,
                 cell_head: bool = False, device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None):
        super().__init__()
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        # The cycle order is hidden (goal masked) and nobody talks: goal and inbox are off.
        # Per-cell layers (kernel 1) then a dense layer over the small window: as
        # expressive here as convolutions and several times cheaper on a CPU.
        self.network = AgentNetwork(spec, hidden=hidden, goal=False, inbox=False,
                                    memory=memory, view_channels=view_channels,
                                    view_kernel=view_kernel, cell_head=cell_head,
                                    cell_memory=cell_head and memory, device=device,
                                    generator=generator)
        self.peer = PeerMoveHead(spec, hidden, device=device, generator=generator)
        self.reward = None
        if reward_input:
            with torch.device("meta"):  # materialised by _finish
                self.reward = nn.Linear(2, hidden)
            _finish(self.reward, device, generator)

    def _extra(self, observation: dict[str, Tensor]) -> Tensor | None:
        """The previous reward's features ``[..., H]`` (None without ``reward_input``)."""
        if self.reward is None:
            return None
        reward = observation["previous_reward"].float()
        return self.reward(torch.stack([reward > 0, reward < 0], dim=-1).float())

    def initial_state(self, batch_shape: tuple[int, ...]) -> Tensor:
        """Zero memory ``[*batch_shape, H]``."""
        return self.network.initial_state(batch_shape)

    def forward(self, observation: dict[str, Tensor], state: Tensor | None = None,
                reset: Tensor | None = None) -> tuple[dict[str, Tensor], Tensor]:
        """One step; the outputs of :class:`AgentNetwork` plus ``peer_logits``."""
        outputs, state = self.network(observation, state, reset, self._extra(observation))
        outputs["peer_logits"] = self.peer(outputs["features"], observation["others"])
        return outputs, state

    def forward_sequence(self, observation: dict[str, Tensor], state: Tensor,
                         reset: Tensor | None = None) -> tuple[dict[str, Tensor], Tensor]:
        """A rollout ``[T, ...]``; the outputs of :class:`AgentNetwork` plus ``peer_logits``."""
        outputs, state = self.network.forward_sequence(observation, state, reset,
                                                       self._extra(observation))
        outputs["peer_logits"] = self.peer(outputs["features"], observation["others"])
        return outputs, state
