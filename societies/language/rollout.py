"""The language experiment's episodes: every environment plays one whole episode per
round through the pure core, recorded ``[T, B, ...]`` for the update and the metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from socius.envs import core
from socius.societies.engine.population import Population
from socius.societies.language.agents import (
    CRITIC,
    LISTENER,
    SPEAKER,
    critic_inputs,
    expected_value,
    role_inputs,
    run_members,
)
from socius.societies.language.config import LanguageConfig


@dataclass
class Round:
    """One round's episodes, every array ``[T, B, ...]`` (T = max_cycles)."""

    speaker: dict[str, torch.Tensor]
    listener: dict[str, torch.Tensor]
    tokens: torch.Tensor  # [T, B, L] speaker tokens
    noise: torch.Tensor  # [T, B, L, V] Gumbel noise that drew them
    token_logp: torch.Tensor  # [T, B]
    moves: torch.Tensor  # [T, B] listener moves
    move_logp: torch.Tensor  # [T, B]
    values: torch.Tensor  # [T, B, 2] per role
    rewards: torch.Tensor  # [T, B]
    alive: torch.Tensor  # [T, B] the episode was still running before this step
    members: np.ndarray  # [B, 2] who played in each environment
    success: float


def play_round(config: LanguageConfig, world, population: Population, round_index: int,
               members: np.ndarray, generator: torch.Generator, intervene=None,
               greedy: bool = False) -> Round:
    """Play one episode per environment (no gradients), sampling actions or, if ``greedy``,
    taking the most likely ones.

    ``intervene(tokens [B, L]) -> tokens`` replaces the speaker's tokens before the world
    delivers them (for the intervention test).
    """
    batch = len(members)
    state, observation = core.reset(world, config.seed, batch, episode=round_index)
    length = config.world.message_length
    record: dict[str, list] = {k: [] for k in ("speaker", "listener", "tokens", "noise",
                                               "token_logp", "moves", "move_logp", "values",
                                               "rewards", "alive")}
    alive = torch.ones(batch, dtype=torch.bool)
    success = torch.zeros(batch)
    with torch.no_grad():
        # The speaker's goal never changes within an episode, so it decides once: one
        # message, drawn by Gumbel-max with noise the update can reuse, repeated every step.
        speaker_in = role_inputs(observation, SPEAKER)
        said = run_members(population, SPEAKER, speaker_in, members[:, SPEAKER], 0)
        uniform = torch.rand(said["token_logits"].shape, generator=generator)
        noise = -torch.log(-torch.log(uniform.clamp(1e-10, 1 - 1e-7)))
        token_logits = said["token_logits"].log_softmax(-1)
        tokens = ((token_logits + (0 if greedy else noise)).argmax(-1) if length else
                  torch.zeros(batch, 0, dtype=torch.long))
        token_logp = token_logits.gather(-1, tokens[..., None]).squeeze(-1).sum(-1)
        for _ in range(config.world.max_cycles):
            listener_in = role_inputs(observation, LISTENER)
            heard = run_members(population, LISTENER, listener_in, members[:, LISTENER], 0)
            values = torch.stack([said["value"], heard["value"]], -1)
            if config.critic == "central" and not greedy:
                q_values = run_members(population, CRITIC, critic_inputs(listener_in, speaker_in),
                                       members[:, LISTENER], 0)["move_logits"]
                central = expected_value(heard["move_logits"], q_values)
                values = torch.stack([central, central], -1)
            move_dist = torch.distributions.Categorical(logits=heard["move_logits"])
            moves = (heard["move_logits"].argmax(-1) if greedy else
                     torch.multinomial(move_dist.probs, 1, generator=generator).squeeze(-1))
            sent = tokens if intervene is None else torch.as_tensor(intervene(tokens.numpy()))
            actions = np.zeros((batch, 2, 1 + length), dtype=np.int64)
            actions[:, LISTENER, 0] = moves.numpy()
            actions[:, SPEAKER, 1:] = sent.numpy()
            state, result = core.step(world, state, actions, auto_reset=False)
            reward = torch.as_tensor(result.reward[:, LISTENER]) * alive
            for key, value in (("speaker", speaker_in), ("listener", listener_in),
                               ("tokens", tokens), ("noise", noise), ("token_logp", token_logp),
                               ("moves", moves), ("move_logp", move_dist.log_prob(moves)),
                               ("values", values),
                               ("rewards", reward), ("alive", alive)):
                record[key].append(value)
            success = torch.maximum(success, reward)
            alive = alive & ~torch.as_tensor(result.terminated | result.truncated)
            observation = result.observation
    stacked = {k: (torch.stack(v) if k not in ("speaker", "listener") else
                   {key: torch.stack([step[key] for step in v]) for key in v[0]})
               for k, v in record.items()}
    return Round(**stacked, members=members, success=float(success.mean()))

