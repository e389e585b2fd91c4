"""The language experiment's two seats on the engine's stream (``engine.stream``).

The **speaker** seat decides once per episode, at its first step: one message, drawn by
Gumbel-max with noise the update can reuse, repeated every step. Its state is the
running episodes' decisions and the discounted return each has earned so far; a decision
whose episode has ended is handed to the trainer whole (``record.decisions``), so the
speaker learns from its own return. The **listener** seat moves every step and records
its value (or the central critic's), bootstrapped after the last step.

Training streams reset every world the step its episode ends; evaluation plays exactly
one episode per world (``auto_reset=False``). Both write one :class:`Record`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from socius.envs.referential_v0 import OUTCOMES
from socius.envs.state import WorldState
from socius.societies.engine.population import Population
from socius.societies.engine.stream import (
    Arena,
    Record,
    Stream,
    Turn,
    concat_rows,
    put_rows,
    take_rows,
)
from socius.societies.engine.stream import play as play_stream
from socius.societies.language.agents import (
    CRITIC,
    LISTENER,
    MEMBER_ROLES,
    SPEAKER,
    critic_inputs,
    expected_value,
    turn_inputs,
)
from socius.societies.language.config import LanguageConfig
from socius.societies.language.subgoals import CellListener


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


@dataclass(frozen=True)
class SpeakerState:
    """The speaker seat's state: the running episodes' decisions, and those whose
    episodes ended during the current call."""

    decision: Decision
    finished: tuple[Decision, ...] = ()


def start(config: LanguageConfig, world, batch: int, episode: int,
          members: np.ndarray) -> Stream:
    """Fresh worlds ``batch`` at episode number ``episode``, played by ``members [B, 2]``."""
    return Stream([Arena.open(world, config.seed, batch, episode)], np.asarray(members))


def decide(config: LanguageConfig, population: Population, speaker_in: dict[str, torch.Tensor],
           members: np.ndarray, generator: torch.Generator, greedy: bool) -> Decision:
    """Each speaker's (``members [B]``) one message for its episode, by Gumbel-max with
    noise the update can reuse (greedy: the most likely tokens)."""
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


class Speaker:
    """The speakers' seat: one decision per episode; ``intervene(tokens [B, L]) ->
    tokens`` replaces what they say before the world delivers it."""

    def __init__(self, config: LanguageConfig, population: Population, greedy: bool = False,
                 intervene=None):
        self.config, self.population = config, population
        self.greedy, self.intervene = greedy, intervene

    def begin(self, state: SpeakerState | None, rows: np.ndarray, turn: Turn,
              generator: torch.Generator) -> SpeakerState:
        """Decide the messages of the episodes starting in ``rows``."""
        fresh = decide(self.config, self.population, turn_inputs(turn, SPEAKER, rows),
                       turn.members[rows, SPEAKER], generator, self.greedy)
        if state is None:
            return SpeakerState(fresh)
        return dataclasses.replace(state, decision=put_rows(state.decision, rows, fresh))

    def act(self, state: SpeakerState, turn: Turn, generator) -> tuple[SpeakerState, dict]:
        """Say each episode's message (again)."""
        decision = state.decision
        sent = decision.tokens if self.intervene is None else torch.as_tensor(
            self.intervene(decision.tokens.numpy()))
        turn.write(SPEAKER, slice(1, None), sent.numpy())
        return state, {"speaker": decision.inputs, "tokens": decision.tokens,
                       "noise": decision.noise, "token_logp": decision.token_logp}

    def observe(self, state: SpeakerState, turn: Turn, outcome) -> tuple[SpeakerState, dict]:
        """Add the step's shared reward to each decision's return; hand over the ended."""
        decision = state.decision
        reward = outcome.reward(LISTENER) * turn.alive
        decision = dataclasses.replace(decision, returns=decision.returns
                                       + decision.discount * reward,
                                       discount=decision.discount * self.config.gamma)
        ended = outcome.ends.nonzero().squeeze(-1)
        finished = state.finished + ((take_rows(decision, ended),) if len(ended) else ())
        return SpeakerState(decision, finished), {}

    def close(self, state: SpeakerState, turn: Turn) -> tuple[SpeakerState, dict]:
        """The decisions whose episodes ended (None if none); the running ones carry on."""
        turn.entries["speaker"] = state.decision.inputs  # the bootstrap's critic reads it
        done = concat_rows(list(state.finished)) if state.finished else None
        return SpeakerState(state.decision), {"decisions": done}


class Listener:
    """The listeners' seat: a move every step, and the value its advantages use."""

    def __init__(self, config: LanguageConfig, population: Population, greedy: bool = False):
        self.config, self.population, self.greedy = config, population, greedy

    def begin(self, state, rows, turn, generator):
        """Listeners keep no state."""
        return None

    def act(self, state, turn: Turn, generator: torch.Generator) -> tuple[None, dict]:
        """Sample (greedy: take) each listener's move."""
        listener_in = turn_inputs(turn, LISTENER)
        heard, value = listen(self.config, self.population, listener_in, turn.entries["speaker"],
                              turn.members[:, LISTENER], self.greedy)
        distribution = torch.distributions.Categorical(logits=heard["move_logits"])
        moves = (heard["move_logits"].argmax(-1) if self.greedy else
                 torch.multinomial(distribution.probs, 1, generator=generator).squeeze(-1))
        turn.write(LISTENER, slice(0, 1), moves.numpy()[:, None])
        return None, {"listener": listener_in, "moves": moves,
                      "move_logp": distribution.log_prob(moves), "values": value}

    def observe(self, state, turn: Turn, outcome) -> tuple[None, dict]:
        """The shared reward and how the episode ended, where it was running."""
        return None, {"rewards": outcome.reward(LISTENER) * turn.alive,
                      **{key: outcome.info(key, LISTENER) * turn.alive for key in OUTCOMES}}

    def close(self, state, turn: Turn) -> tuple[None, dict]:
        """The value after the last step (it bootstraps the episodes still running; None
        when every world has ended, as in evaluation)."""
        if not turn.alive.any():
            return None, {"bootstrap": None}
        _, bootstrap = listen(self.config, self.population, turn_inputs(turn, LISTENER),
                              turn.entries["speaker"], turn.members[:, LISTENER], self.greedy)
        return None, {"bootstrap": bootstrap}


def play(config: LanguageConfig, population: Population, stream: Stream, steps: int,
         generator: torch.Generator, draw_members=None, auto_reset: bool = True,
         greedy: bool = False, intervene=None) -> tuple[Record, Stream]:
    """``steps`` steps of every world in ``stream`` with the population's speakers and
    listeners seated (no gradients); ``draw_members(count) -> [count, 2]`` seats the
    episodes that start during the call (auto-reset only)."""
    # The hierarchical seat builds on this module's helpers, so it is imported here.

    listener = (Listener if config.agent == "flat" else CellListener)(config, population, greedy)
    seats = (Speaker(config, population, greedy, intervene), listener)
    return play_stream(stream, seats, steps, generator, auto_reset, draw_members)


def success_rate(record: Record) -> float:
    """Share of the episodes that ended during the record with the reward."""
    ended = record.ends
    return float(((record.rewards > 0) & ended).sum()) / max(int(ended.sum()), 1)


def outcome_rates(record: Record) -> dict[str, float]:
    """Share of the episodes that ended during the record in each outcome (success, wrong
    object, timeout: they add up to 1); a hierarchical listener's also counts ``stray``,
    the episodes that ended in an object its walk was not aimed at (part of wrong object)."""
    ended = max(int(record.ends.sum()), 1)
    keys = OUTCOMES + (("stray",) if "stray" in record.steps else ())
    return {key: float((record.steps[key] * record.ends).sum()) / ended for key in keys}


def listen(config: LanguageConfig, population: Population, listener_in: dict,
           speaker_in: dict, members: np.ndarray,
           greedy: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The listeners' outputs and the value their advantages are measured against: their
    own value head, or with ``critic=central`` the critic's expectation under their policy
    (the critic reads the speaker's goal, ``speaker_in``)."""
    heard = population.run(MEMBER_ROLES[LISTENER], listener_in, members)
    if config.critic != "central" or greedy:
        return heard, heard["value"]
    q_values = population.run(MEMBER_ROLES[CRITIC], critic_inputs(listener_in, speaker_in),
                              members)["move_logits"]
    return heard, expected_value(heard["move_logits"], q_values)


@dataclass
class Carry:
    """What training checkpoints held before the engine's stream (read back by
    :func:`stream_from_carry` so old runs resume)."""

    state: WorldState
    observation: dict[str, np.ndarray]
    members: np.ndarray
    decision: Decision | None


def stream_from_carry(config: LanguageConfig, world, carry) -> Stream:
    """A checkpoint's stream: as saved, or converted from an old :class:`Carry`."""
    if isinstance(carry, Stream):
        return carry
    seats = None if carry.decision is None else [SpeakerState(carry.decision), None]
    return Stream([Arena(world, carry.state, carry.observation)], carry.members, seats)
