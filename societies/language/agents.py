"""The language population's networks and how each environment reaches its own member.

Speakers read only their goal; listeners read the room and their inbox; with
``critic=central`` a critic per listener seat reads the room and the target.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from socius.agents.modules import AgentNetwork, ObservationSpec
from socius.agents.navigator import Navigator
from socius.envs import spaces
from socius.societies.engine.population import Population, PopulationConfig
from socius.societies.engine.stream import Turn
from socius.societies.language.config import LanguageConfig

SPEAKER, LISTENER, CRITIC = 0, 1, 2
ROLES = ("speaker", "listener")  # the roles that play; a central critic rides with a listener
MEMBER_ROLES = ROLES + ("critic",)


def make_population(config: LanguageConfig, world, generator: torch.Generator) -> Population:
    """Speakers read only their goal; listeners read the room and their inbox."""
    spec = ObservationSpec.from_spaces(spaces.observation_space(world),
                                       spaces.action_space(world))

    def member(role: str, member_generator: torch.Generator) -> nn.Module:
        if role == "critic":
            # Centralised training: the critic knows the target, so it can value a step
            # towards the right object before the listener has learned the code. Its move
            # head holds Q(state, move).
            return AgentNetwork(spec, config.hidden, view=True, goal=True, inbox=False,
                                others=False, position=False, memory=False,
                                view_channels=config.view_channels, view_kernel=1,
                                view_condition="goal", generator=member_generator)
        listener = role == "listener"
        network = AgentNetwork(spec, config.hidden, view=listener, goal=not listener,
                               inbox=listener, others=False, position=False, memory=False,
                               view_channels=config.view_channels, view_kernel=1,
                               view_condition="inbox" if listener else None,
                               cell_head=listener and config.agent != "flat",
                               generator=member_generator)
        if not listener and network.heads.tokens is not None:
            # A speaker whose first messages already differ by target gives the listener
            # something to latch on to; near-uniform tokens would be pure noise.
            with torch.no_grad():
                network.heads.tokens.weight.normal_(
                    0, config.token_scale / config.hidden ** 0.5, generator=member_generator)
        return network

    roles = MEMBER_ROLES if config.critic == "central" else ROLES
    population = Population(PopulationConfig(size=config.population, roles=roles), member,
                            generator)
    if config.agent == "hierarchical":
        # The low level is one skill every listener walks with, kept out of the members'
        # stacked weights and saved with the population's state.
        population.add_module("skill", Navigator(config.skill, generator))
    return population


def critic_inputs(listener: dict[str, torch.Tensor],
                  speaker: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The central critic's input: the listener's view of the room and the group's target."""
    return {"view": listener["view"], "goal": speaker["goal"], "goal_mask": speaker["goal_mask"],
            "action_mask": listener["action_mask"]}


ROLE_INPUTS = {SPEAKER: ("goal", "goal_mask", "action_mask"),
               LISTENER: ("view", "inbox", "action_mask")}
"""The observation keys each role reads."""


def role_inputs(observation: dict, role: int) -> dict[str, torch.Tensor]:
    """One role's observation ``[B, ...]`` as tensors (the agent axis taken out)."""
    return {key: torch.as_tensor(np.ascontiguousarray(observation[key][:, role]))
            for key in ROLE_INPUTS[role]}


def expected_value(move_logits: torch.Tensor, q_values: torch.Tensor) -> torch.Tensor:
    """``V = sum_a pi(a) Q(a)`` under the listener's policy (masked moves have pi = 0)."""
    probabilities = move_logits.softmax(-1)
    return (probabilities * q_values.masked_fill(probabilities == 0, 0)).sum(-1)


def turn_inputs(turn: Turn, role: int, rows: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """What ``role`` reads of the worlds (``rows`` of them) as tensors ``[B, ...]``."""
    return turn.tensors(role, ROLE_INPUTS[role], rows)
