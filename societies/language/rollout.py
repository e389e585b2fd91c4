"""The language experiment's steps through the pure core.

Training streams: every world resets itself the step its episode ends (the core's
auto-reset), so no world waits for the others; a round is ``steps`` steps of every world
and an episode may run across rounds. What a world carries from one round to the next is
explicit (:class:`Carry`): its state, the members playing it and the speaker's decision.
Evaluation plays exactly one episode per world (``auto_reset=False``; finished worlds
wait, masked by ``alive``). Both write one record, :class:`Round`, ``[T, B, ...]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from socius.envs import core
from socius.envs.state import WorldState
from socius.societies.engine.population import Population
from socius.societies.language.agents import (
    CRITIC,
    LISTENER,
    MEMBER_ROLES,
    SPEAKER,
    critic_inputs,
    expected_value,
    role_inputs,
)
from socius.societies.language.config import LanguageConfig


@dataclass
class Decision:
    """Speaker decisions ``[D, ...]``: one per episode, taken at its first step."""

    inputs: dict[str, torch.Tensor]  # the speaker's observation
    members: np.ndarray  # [D] the speaker member that decided
    tokens: torch.Tensor  # [D, L]
    noise: torch.Tensor  # [D, L, V] Gumbel noise that drew them
    token_logp: torch.Tensor  # [D]
    value: torch.Tensor  # [D] the speaker's value of its goal
    returns: torch.Tensor  # [D] discounted return of the episode from its first step
    discount: torch.Tensor  # [D] gamma ** (steps so far)


@dataclass
class Carry:
    """What a stream of worlds holds between rounds (the policy state made explicit)."""

    state: WorldState
    observation: dict[str, np.ndarray]
    members: np.ndarray  # [B, 2] who plays each world's current episode
    decision: Decision | None  # the running episodes' speaker decisions (None: fresh)


@dataclass
class Round:
    """One round's steps, every array ``[T, B, ...]``."""

    speaker: dict[str, torch.Tensor]
    listener: dict[str, torch.Tensor]
    members: np.ndarray  # [T, B, 2] who played each step
    tokens: torch.Tensor  # [T, B, L] the episode's speaker tokens
    noise: torch.Tensor  # [T, B, L, V]
    token_logp: torch.Tensor  # [T, B]
    moves: torch.Tensor  # [T, B] listener moves
    move_logp: torch.Tensor  # [T, B]
    values: torch.Tensor  # [T, B] the listener's value (or the central critic's)
    rewards: torch.Tensor  # [T, B]
    alive: torch.Tensor  # [T, B] the episode was running before this step
    ends: torch.Tensor  # [T, B] the episode ended after this step
    bootstrap: torch.Tensor  # [B] value after the last step (running episodes)
    decisions: Decision | None  # speaker decisions whose episodes ended in this round
    success: float  # share of the episodes that ended in this round with the reward
    episodes: int  # episodes that ended in this round


def start(config: LanguageConfig, world, batch: int, episode: int,
          members: np.ndarray) -> Carry:
    """Fresh worlds ``batch`` at episode number ``episode``, played by ``members [B, 2]``."""
    state, observation = core.reset(world, config.seed, batch, episode=episode)
    return Carry(state, observation, np.asarray(members), None)


def decide(config: LanguageConfig, population: Population, observation: dict,
           members: np.ndarray, generator: torch.Generator, greedy: bool) -> Decision:
    """Each speaker's (``members [B]``) one message for its episode, by Gumbel-max with
    noise the update can reuse (greedy: the most likely tokens)."""
    speaker_in = role_inputs(observation, SPEAKER)
    batch, length = len(members), config.world.message_length
    said = population.run(MEMBER_ROLES[SPEAKER], speaker_in, members)
    uniform = torch.rand(said["token_logits"].shape, generator=generator)
    noise = -torch.log(-torch.log(uniform.clamp(1e-10, 1 - 1e-7)))
    token_logits = said["token_logits"].log_softmax(-1)
    tokens = ((token_logits + (0 if greedy else noise)).argmax(-1) if length else
              torch.zeros(batch, 0, dtype=torch.long))
    token_logp = token_logits.gather(-1, tokens[..., None]).squeeze(-1).sum(-1)
    return Decision(speaker_in, np.asarray(members), tokens, noise, token_logp,
                    said["value"], torch.zeros(batch), torch.ones(batch))


def play(config: LanguageConfig, world, population: Population, carry: Carry, steps: int,
         generator: torch.Generator, draw_members=None, auto_reset: bool = True,
         greedy: bool = False, intervene=None) -> tuple[Round, Carry]:
    """``steps`` steps of every world in ``carry`` (no gradients); returns the record and
    what the worlds carry into the next round.

    ``draw_members(count) -> [count, 2]`` seats the episodes that start during the round
    (auto-reset only). ``intervene(tokens [B, L]) -> tokens`` replaces what the speakers
    say before the world delivers it (the intervention tests).
    """
    batch = carry.members.shape[0]
    state, observation, members = carry.state, carry.observation, carry.members.copy()
    steps_record: list[dict] = []
    alive = torch.ones(batch, dtype=torch.bool)
    finished_decisions: list[Decision] = []
    successes = episodes = 0
    with torch.no_grad():
        # A copy: the returns accumulate on it, not on the carry the caller passed in.
        decision = dataclasses.replace(carry.decision) if carry.decision is not None else (
            decide(config, population, observation, members[:, SPEAKER], generator, greedy))
        for _ in range(steps):
            listener_in = role_inputs(observation, LISTENER)
            heard, value = listen(config, population, listener_in, decision, members, greedy)
            distribution = torch.distributions.Categorical(logits=heard["move_logits"])
            moves = (heard["move_logits"].argmax(-1) if greedy else
                     torch.multinomial(distribution.probs, 1, generator=generator).squeeze(-1))
            sent = decision.tokens if intervene is None else torch.as_tensor(
                intervene(decision.tokens.numpy()))
            actions = np.zeros((batch, 2, 1 + config.world.message_length), dtype=np.int64)
            actions[:, LISTENER, 0] = moves.numpy()
            actions[:, SPEAKER, 1:] = sent.numpy()
            state, result = core.step(world, state, actions, auto_reset=auto_reset)
            reward = torch.as_tensor(result.reward[:, LISTENER]) * alive
            ends = torch.as_tensor(result.terminated | result.truncated) & alive
            steps_record.append({
                "speaker": decision.inputs, "listener": listener_in,
                "members": members.copy(), "tokens": decision.tokens, "noise": decision.noise,
                "token_logp": decision.token_logp, "moves": moves,
                "move_logp": distribution.log_prob(moves), "values": value,
                "rewards": reward, "alive": alive, "ends": ends})
            decision.returns = decision.returns + decision.discount * reward
            decision.discount = decision.discount * config.gamma
            ended = ends.nonzero().squeeze(-1)
            episodes += len(ended)
            successes += int((reward[ended] > 0).sum())
            observation = result.observation
            if not auto_reset:
                alive = alive & ~ends
                continue
            if len(ended):
                finished_decisions.append(_take(decision, ended))
                fresh = draw_members(len(ended)) if draw_members is not None else members[
                    ended.numpy()]
                members[ended.numpy()] = fresh
                started = decide(config, population, _rows(observation, ended.numpy()),
                                 fresh[:, SPEAKER], generator, greedy)
                decision = _put(decision, ended, started)
        _, bootstrap = listen(config, population, role_inputs(observation, LISTENER),
                              decision, members, greedy)
    record = _stack(steps_record)
    done = _concat(finished_decisions) if finished_decisions else None
    return (Round(**record, bootstrap=bootstrap, decisions=done,
                  success=successes / max(episodes, 1), episodes=episodes),
            Carry(state, observation, members, decision))


def listen(config: LanguageConfig, population: Population, listener_in: dict,
           decision: Decision, members: np.ndarray,
           greedy: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The listeners' outputs and the value their advantages are measured against: their
    own value head, or with ``critic=central`` the critic's expectation under their policy."""
    heard = population.run(MEMBER_ROLES[LISTENER], listener_in, members[:, LISTENER])
    if config.critic != "central" or greedy:
        return heard, heard["value"]
    q_values = population.run(MEMBER_ROLES[CRITIC], critic_inputs(listener_in, decision.inputs),
                              members[:, LISTENER])["move_logits"]
    return heard, expected_value(heard["move_logits"], q_values)


def _rows(observation: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[rows] for key, value in observation.items()}


def _field_wise(function, *decisions: Decision) -> Decision:
    """A Decision whose every field (each tensor of ``inputs`` too) is ``function`` of
    that field of ``decisions``."""
    def apply(*values):
        if isinstance(values[0], dict):
            return {key: apply(*(value[key] for value in values)) for key in values[0]}
        return function(*values)

    return Decision(*(apply(*(getattr(decision, field.name) for decision in decisions))
                      for field in dataclasses.fields(Decision)))


def _take(decision: Decision, rows: torch.Tensor) -> Decision:
    """The decisions of ``rows``."""
    return _field_wise(lambda value: value[rows.numpy() if isinstance(value, np.ndarray)
                                           else rows], decision)


def _put(decision: Decision, rows: torch.Tensor, fresh: Decision) -> Decision:
    """``decision`` with ``rows`` replaced by ``fresh`` (new arrays: the old stay recorded)."""
    def put(old, new):
        if isinstance(old, np.ndarray):
            old = old.copy()
            old[rows.numpy()] = new
            return old
        return old.index_copy(0, rows, new)

    return _field_wise(put, decision, fresh)


def _concat(parts: list[Decision]) -> Decision:
    """Decisions of several steps as one batch."""
    return _field_wise(lambda *values: np.concatenate(values) if isinstance(
        values[0], np.ndarray) else torch.cat(values), *parts)


def _stack(steps: list[dict]) -> dict:
    """Per-step records as ``[T, B, ...]``."""
    stacked = {}
    for key in steps[0]:
        if key in ("speaker", "listener"):
            stacked[key] = {k: torch.stack([s[key][k] for s in steps]) for k in steps[0][key]}
        elif key == "members":
            stacked[key] = np.stack([s[key] for s in steps])
        else:
            stacked[key] = torch.stack([s[key] for s in steps])
    return stacked
