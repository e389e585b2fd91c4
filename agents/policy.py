"""The policy interface every socius agent follows, and learned networks behind it.

A policy keeps no hidden state of its own: its memory travels in the explicit
``state`` it returns, and ``done[B]`` tells it which environments have just
been reset (so their memory starts again)::

    state = policy.initial_state(batch)
    action, state = policy.act(observation, state, done, generator, privileged=None)

Scripted policies (``socius.agents.scripted``) may read ``privileged``, the
hidden world state; learned ones must not.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from socius.agents.modules import AgentNetwork


class Policy(Protocol):
    """Anything that can act in a socius vector env."""

    def initial_state(self, batch: int) -> Any:
        """Memory for ``batch`` environments at the start of their episodes."""

    def act(self, observation: dict, state: Any, done: np.ndarray,
            generator: np.random.Generator, privileged: Any = None) -> tuple[np.ndarray, Any]:
        """Actions int ``[B, N, 1 + L]`` for observation ``[B, N, ...]``, and the new state."""


class NetworkPolicy:
    """An :class:`AgentNetwork` as a policy: moves and tokens greedy or sampled."""

    def __init__(self, network: AgentNetwork, num_agents: int, greedy: bool = True):
        self.network = network
        self.num_agents = num_agents
        self.greedy = greedy

    def initial_state(self, batch: int) -> torch.Tensor:
        """Zero memory ``[B, N, hidden]``."""
        return self.network.initial_state((batch, self.num_agents))

    @torch.no_grad()
    def act(self, observation, state, done, generator, privileged=None):
        """One step of the network; memory of environments in ``done`` starts again."""
        reset = torch.as_tensor(np.asarray(done, dtype=bool))[:, None].expand(
            -1, self.num_agents)
        observation = {k: torch.as_tensor(v) for k, v in observation.items()}
        outputs, state = self.network(observation, state, reset)
        logits = [outputs["move_logits"][..., None, :], outputs["token_logits"]]
        choices = []
        for group in logits:
            if group.shape[-2] == 0:
                choices.append(torch.zeros(group.shape[:-1], dtype=torch.int64))
            elif self.greedy:
                choices.append(group.argmax(dim=-1))
            else:
                probabilities = torch.softmax(group, dim=-1).numpy()
                cumulative = probabilities.cumsum(axis=-1)
                draw = generator.random(cumulative.shape[:-1] + (1,))
                choices.append(torch.as_tensor((draw > cumulative).sum(axis=-1)))
        action = torch.cat(choices, dim=-1)
        return action.numpy().astype(np.int64), state
