"""Small torch modules for socius agents: encoders per observation key, memory, heads.

Every module is sized from a task's gymnasium spaces (``ObservationSpec``), accepts any
leading dims ``[...]`` (e.g. ``[B, N]`` or ``[T, B, N]``), and works for empty inputs
(mute channel L = 0, no others M = 0, no inbox S = 0, no goal G = 0): an encoder whose
input is empty has no parameters and returns zeros ``[..., hidden]``.

Weights are drawn from an explicit CPU ``torch.Generator`` (never the global RNG), then
moved to ``device``, so one seed gives the same weights on every device.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import gymnasium
import numpy as np
import torch
from torch import Tensor, nn

from socius.agents.layers import _finish, _flatten
from socius.agents.memory import Memory
from socius.agents.view_encoder import ViewEncoder

# Which observation keys each encoder of AgentNetwork reads, in argument order.
ENCODER_INPUTS = {"view": ("view",), "goal": ("goal", "goal_mask"), "inbox": ("inbox",),
                  "others": ("others",), "position": ("position",)}


@dataclass(frozen=True)
class ObservationSpec:
    """Sizes of a task's observation and action spaces, read once from its gymnasium spaces."""

    view_side: int  # S = 2r + 1
    view_categories: tuple[int, ...]  # category count of each of the 5 view channels
    max_others: int  # M
    message_length: int  # L
    vocab_size: int  # V (0 when the channel is mute)
    inbox_size: int  # S_inbox, senders heard per step
    goal_size: int  # G
    goal_categories: int  # goal entries are integers in [0, goal_categories)
    grid_shape: tuple[int, int]  # (height, width) of the grid
    num_roles: int
    num_moves: int

    @property
    def view_radius(self) -> int:
        """r, the largest row or column offset an agent sees."""
        return (self.view_side - 1) // 2

    @classmethod
    def from_spaces(cls, observation_space: gymnasium.spaces.Dict,
                    action_space: gymnasium.Space) -> ObservationSpec:
        """Read the sizes from ``venv.single_observation_space`` and ``single_action_space``."""
        view_high = observation_space["view"].high[:, 0, 0].astype(int)
        inbox_size, length = observation_space["inbox"].shape
        goal_high = observation_space["goal"].high
        position_high = observation_space["position"].high.astype(int)
        # A joint Discrete action (a mute world's Discrete(5)) is moves x V^L tokens.
        # Token bounds are V wherever tokens show (the inbox is empty for a lone agent).
        tokens = np.concatenate([observation_space["inbox"].high.ravel(),
                                 observation_space["others"].high[..., 6:].ravel()])
        vocab = int(tokens.max()) if tokens.size else 0
        nvec = (action_space.nvec.astype(int) if hasattr(action_space, "nvec")
                else np.array([action_space.n // max(vocab, 1) ** length] + [vocab] * length))
        return cls(
            view_side=int(observation_space["view"].shape[-1]),
            view_categories=tuple(int(h) + 1 for h in view_high),
            max_others=int(observation_space["others"].shape[0]),
            message_length=int(length),
            vocab_size=int(nvec[1]) if len(nvec) > 1 else 0,
            inbox_size=int(inbox_size),
            goal_size=int(goal_high.shape[0]),
            goal_categories=int(goal_high.max()) + 1 if goal_high.size else 1,
            grid_shape=(int(position_high[0]) + 1, int(position_high[1]) + 1),
            num_roles=int(view_high[4]),  # the agent channel holds role + 1
            num_moves=int(nvec[0]),
        )


def pad_silence(probabilities: Tensor) -> Tensor:
    """Token probabilities ``[..., L, V]`` -> relaxed inbox ``[..., L, V+1]`` (0 = silence)."""
    return nn.functional.pad(probabilities, (1, 0))


class GoalEncoder(nn.Module):
    """Goal ``[..., G]`` in [0, goal_categories) with mask ``[..., G]`` -> ``[..., hidden]``."""

    def __init__(self, spec: ObservationSpec, hidden: int = 128, embed: int = 16,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.hidden = hidden
            if spec.goal_size:
                self.values = nn.Embedding(spec.goal_categories, embed)
                self.positions = nn.Embedding(spec.goal_size, embed)
                self.out = nn.Sequential(nn.Linear(spec.goal_size * embed, hidden), nn.ReLU())
        _finish(self, device, generator)

    def forward(self, goal: Tensor, goal_mask: Tensor) -> Tensor:
        """``goal``, ``goal_mask`` ``[..., G]`` -> ``[..., hidden]``; masked entries are ignored."""
        values, lead = _flatten(goal.long(), 1)
        if values.shape[-1] == 0:
            return torch.zeros(*lead, self.hidden, device=goal.device)
        mask = goal_mask.reshape(values.shape).unsqueeze(-1).float()
        entries = (self.values(values) + self.positions.weight) * mask  # [B', G, E]
        return self.out(entries.flatten(1)).reshape(*lead, -1)


class InboxEncoder(nn.Module):
    """Inbox tokens+1 ``[..., S, L]`` (or relaxed ``[..., S, L, V+1]``) -> ``[..., hidden]``."""

    def __init__(self, spec: ObservationSpec, hidden: int = 128, embed: int = 16,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.hidden, self.shape = hidden, (spec.inbox_size, spec.message_length, embed)
            if spec.inbox_size * spec.message_length:
                self.tokens = nn.Embedding(spec.vocab_size + 1, embed)  # row 0 is silence
                self.positions = nn.Embedding(spec.inbox_size * spec.message_length, embed)
                self.message = nn.Sequential(nn.Linear(spec.message_length * embed, hidden),
                                             nn.ReLU())
                self.out = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        _finish(self, device, generator)

    def forward(self, inbox: Tensor) -> Tensor:
        """Integer ``[..., S, L]`` or float one-hot/probabilities ``[..., S, L, V+1]``."""
        relaxed = inbox.is_floating_point()
        flat, lead = _flatten(inbox, 3 if relaxed else 2)
        if flat.shape[1] * flat.shape[2] == 0:
            return torch.zeros(*lead, self.hidden, device=inbox.device)
        # A relaxed message mixes embedding rows, so Gumbel-Softmax gradients reach the sender.
        tokens = flat.float() @ self.tokens.weight if relaxed else self.tokens(flat.long())
        tokens = tokens + self.positions.weight.reshape(self.shape)  # [B', S, L, E]
        messages = self.message(tokens.flatten(2))  # [B', S, hidden]
        return self.out(messages.mean(1)).reshape(*lead, -1)


class OthersEncoder(nn.Module):
    """Others ``[..., M, 6+L]`` -> permutation-invariant features ``[..., hidden]``."""

    def __init__(self, spec: ObservationSpec, hidden: int = 128, embed: int = 16,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.hidden, self.radius = hidden, max(1, spec.view_radius)
            self.length = spec.message_length
            if spec.max_others:
                self.roles = nn.Embedding(spec.num_roles, embed)
                self.moves = nn.Embedding(spec.num_moves + 1, embed)
                if self.length:
                    self.tokens = nn.Embedding(spec.vocab_size + 1, embed)
                    self.token_positions = nn.Embedding(self.length, embed)
                width = 3 + 2 * embed + self.length * embed
                self.slot = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(),
                                          nn.Linear(hidden, hidden), nn.ReLU())
                self.out = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU())
        _finish(self, device, generator)

    def forward(self, others: Tensor) -> Tensor:
        """``others`` ``[..., M, 6+L]`` -> ``[..., hidden]``."""
        slots, lead = _flatten(others.long(), 2)
        if slots.shape[1] == 0:
            return torch.zeros(*lead, self.hidden, device=others.device)
        present = slots[..., :1].float()
        # The agent index (column 3) is left out: identities are arbitrary labels that
        # would not transfer between episodes or populations.
        parts = [present, slots[..., 1:3].float() / self.radius,
                 self.roles(slots[..., 4]), self.moves(slots[..., 5])]
        if self.length:
            said = self.tokens(slots[..., 6:]) + self.token_positions.weight  # [B', M, L, E]
            parts.append(said.flatten(2))
        # ReLU features are >= 0, so zeroed absent slots never win the max.
        features = self.slot(torch.cat(parts, dim=-1)) * present  # [B', M, hidden]
        pooled = torch.cat([features.sum(1), features.amax(1)], dim=-1)
        return self.out(pooled).reshape(*lead, -1)


class PositionEncoder(nn.Module):
    """Absolute cell int ``[..., 2]`` (-1 off the grid) -> ``[..., hidden]``."""

    def __init__(self, spec: ObservationSpec, hidden: int = 128, embed: int = 16,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.rows = nn.Embedding(spec.grid_shape[0] + 1, embed)  # row 0 is "off the grid"
            self.cols = nn.Embedding(spec.grid_shape[1] + 1, embed)
            self.out = nn.Sequential(nn.Linear(2 * embed, hidden), nn.ReLU())
        _finish(self, device, generator)

    def forward(self, position: Tensor) -> Tensor:
        """``position`` ``[..., 2]`` -> ``[..., hidden]``."""
        cell = position.long() + 1
        return self.out(torch.cat([self.rows(cell[..., 0]), self.cols(cell[..., 1])], dim=-1))


class Heads(nn.Module):
    """Features ``[..., hidden]`` -> move and token logits, value and reach probability."""

    def __init__(self, spec: ObservationSpec, hidden: int = 128,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None):
        super().__init__()
        with torch.device("meta"):  # materialised by _finish
            self.token_shape = (spec.message_length, spec.vocab_size)
            self.move = nn.Linear(hidden, spec.num_moves)
            self.tokens = nn.Linear(hidden, math.prod(self.token_shape)) if all(
                self.token_shape) else None
            self.value = nn.Linear(hidden, 1)
            self.reach = nn.Linear(hidden, 1)
        _finish(self, device, generator)
        with torch.no_grad():  # small policy outputs start the policy near uniform
            self.move.weight.mul_(0.01)
            if self.tokens is not None:
                self.tokens.weight.mul_(0.01)

    def forward(self, features: Tensor, action_mask: Tensor) -> dict[str, Tensor]:
        """Keys: move_logits ``[..., 5]`` (-1e9 where masked), token_logits ``[..., L, V]``,
        value, reach (sigmoid, in [0, 1]) and reach_logit ``[...]``."""
        lead = features.shape[:-1]
        move = self.move(features).masked_fill(action_mask == 0, -1e9)
        tokens = (self.tokens(features).reshape(*lead, *self.token_shape)
                  if self.tokens is not None else features.new_zeros(*lead, *self.token_shape))
        reach_logit = self.reach(features).squeeze(-1)
        return {"move_logits": move, "token_logits": tokens,
                "value": self.value(features).squeeze(-1),
                "reach": torch.sigmoid(reach_logit), "reach_logit": reach_logit}


class AgentNetwork(nn.Module):
    """Encoders (switchable per key) -> fusion -> optional GRU memory -> heads."""

    def __init__(self, spec: ObservationSpec, hidden: int = 128, embed: int = 16,
                 view: bool = True, goal: bool = True, inbox: bool = True, others: bool = True,
                 position: bool = True, memory: bool = True, view_channels: int = 32,
                 view_kernel: int = 3, view_condition: str | None = None,
                 cell_head: bool = False, cell_memory: bool = False,
                 device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None):
        super().__init__()
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        options = {"device": device, "generator": generator}
        # view_condition ("inbox" or "goal"): that encoder's features also join every view
        # cell (early fusion), so a listener can find the object a message names, or a
        # critic the object its goal names.
        if view_condition is not None and not (view and {"inbox": inbox, "goal": goal}.get(
                view_condition, False)):
            raise ValueError(f"view_condition must name an encoder in use ('inbox' or 'goal') "
                             f"together with view; got {view_condition!r}")
        self.view_condition = view_condition
        view_kind = functools.partial(ViewEncoder, channels=view_channels, kernel=view_kernel,
                                      condition=hidden if view_condition else 0)
        kinds = {"view": (view, view_kind), "goal": (goal, GoalEncoder),
                 "inbox": (inbox, InboxEncoder), "others": (others, OthersEncoder),
                 "position": (position, PositionEncoder)}
        self.encoders = nn.ModuleDict({name: kind(spec, hidden, embed, **options)
                                       for name, (used, kind) in kinds.items() if used})
        if not self.encoders:
            raise ValueError("AgentNetwork needs at least one encoder")
        with torch.device("meta"):
            self.fusion = nn.Sequential(nn.Linear(len(self.encoders) * hidden, hidden), nn.ReLU())
        _finish(self.fusion, device, generator)
        self.hidden = hidden
        self.memory = Memory(hidden, hidden, **options) if memory else None
        self.heads = Heads(spec, hidden, **options)
        # cell_head: a logit for every view cell (a hierarchical agent's subgoal choice),
        # read off the per-cell view features, which already hold the condition.
        self.cell_head = None
        if cell_head:
            if not view:
                raise ValueError("cell_head needs the view encoder (view=True)")
            with torch.device("meta"):
                self.cell_head = nn.Linear(view_channels, 1)
            _finish(self.cell_head, device, generator)
            with torch.no_grad():  # a near-uniform first choice, as the move head
                self.cell_head.weight.mul_(0.01)
        # cell_memory: the memory also scores each cell, by its contents (a query matched
        # against the cell's features) and by its place in the view (one logit per cell),
        # so a choice can follow what was seen before, out of view now.
        self.cell_query = self.cell_place = None
        if cell_memory:
            if self.cell_head is None or self.memory is None:
                raise ValueError("cell_memory needs cell_head=True and memory=True")
            with torch.device("meta"):
                self.cell_query = nn.Linear(hidden, view_channels)
                self.cell_place = nn.Linear(hidden, (2 * spec.view_radius + 1) ** 2)
            _finish(self.cell_query, device, generator)
            _finish(self.cell_place, device, generator)
            with torch.no_grad():
                self.cell_query.weight.mul_(0.01)
                self.cell_place.weight.mul_(0.01)

    def initial_state(self, batch_shape: tuple[int, ...]) -> Tensor:
        """Zero memory ``[*batch_shape, hidden]`` (``[*batch_shape, 0]`` without memory)."""
        width = self.hidden if self.memory is not None else 0
        return torch.zeros(*batch_shape, width, device=self.heads.move.weight.device)

    def encode(self, observation: dict[str, Tensor]) -> Tensor:
        """Observation dict ``[..., ...]`` -> fused features ``[..., hidden]`` (no memory)."""
        return self._encode(observation)[0]

    def _encode(self, observation: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """Fused features and, with the cell head, the per-cell view features
        ``[..., S * S, C]``."""
        features = {name: encoder(*(observation[key] for key in ENCODER_INPUTS[name]))
                    for name, encoder in self.encoders.items() if name != "view"}
        cells = None
        if "view" in self.encoders:
            condition = features[self.view_condition] if self.view_condition else None
            features["view"], cells = self.encoders["view"].pooled_and_cells(
                observation["view"], condition)
        fused = self.fusion(torch.cat([features[name] for name in self.encoders], dim=-1))
        return fused, cells if self.cell_head is not None else None

    def _cell_logits(self, cells: Tensor, features: Tensor) -> Tensor:
        """A logit for every view cell ``[..., S * S]`` (``features`` after the memory)."""
        logits = self.cell_head(cells).squeeze(-1)
        if self.cell_query is not None:
            query = self.cell_query(features).unsqueeze(-2)
            logits = logits + (cells * query).sum(-1) + self.cell_place(features)
        return logits

    def forward(self, observation: dict[str, Tensor], state: Tensor | None = None,
                reset: Tensor | None = None,
                extra: Tensor | None = None) -> tuple[dict[str, Tensor], Tensor]:
        """One step: observation ``[..., ...]``, state ``[..., H]``, reset bool ``[...]``;
        ``extra`` ``[..., hidden]`` is added to the fused encoding before the memory."""
        features, cells = self._encode(observation)
        if extra is not None:
            features = features + extra
        if state is None:
            state = self.initial_state(features.shape[:-1])
        if self.memory is not None:
            features, state = self.memory(features, state, reset)
        outputs = self.heads(features, observation["action_mask"])
        outputs["features"] = features
        if cells is not None:
            outputs["cell_logits"] = self._cell_logits(cells, features)
        return outputs, state

    def forward_sequence(self, observation: dict[str, Tensor], state: Tensor,
                         reset: Tensor | None = None,
                         extra: Tensor | None = None) -> tuple[dict[str, Tensor], Tensor]:
        """A rollout: observation ``[T, ..., ...]``, reset bool ``[T, ...]``; encoders run once
        (``extra`` ``[T, ..., hidden]`` as in ``forward``)."""
        features, cells = self._encode(observation)  # [T, ..., hidden]
        if extra is not None:
            features = features + extra
        if self.memory is not None:
            features, state = self.memory.unroll(features, state, reset)
        outputs = self.heads(features, observation["action_mask"])
        outputs["features"] = features
        if cells is not None:
            outputs["cell_logits"] = self._cell_logits(cells, features)
        return outputs, state
