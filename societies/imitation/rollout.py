"""Goal Cycle from the learner's seat, on the engine's stream (``engine.stream``).

Every world plays one whole lockstep episode (no auto-reset: a round's sequences all
start with fresh memory). Two seats act in order:

- :class:`Experts` plays every agent with the scripted ``CycleExpert`` (which knows the
  hidden cycle) and records what the expert would do in agent_0's seat and what agent_0
  sees of the others: their next moves (the auxiliary head's targets), their presence
  and their distance;
- :class:`FirstSeat` then takes agent_0's place: the recurrent learner, the expert
  itself, or a random walker. It records agent_0's observation (with the previous
  reward), its move, log-probability, value and reward.

A batch may mix worlds with and without experts (``expert_dropout``): each kind is an
arena of the stream, their rows concatenated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from socius.agents.experts import scripted_expert
from socius.agents.imitation import SocialLearner
from socius.agents.scripted import Privileged, RandomPolicy
from socius.societies.engine.stream import Arena, Record, Stream, Turn
from socius.societies.engine.stream import play as play_stream
from socius.societies.imitation.subgoals import CellLearner

SEATS = ("learner", "expert", "random", "still")
"""Who can take agent_0's place."""
ABSENT = 1 << 20
"""The distance recorded to an expert a world does not have (farther than any grid)."""


class Experts:
    """Every agent played by the scripted expert of ``world`` (agent_0's move is its
    advice); the experts' own draws (the v1 expert steps aside at random when stuck) come
    from ``np.random.default_rng([seed, arena])``."""

    def __init__(self, world, seed: int = 0):
        self.expert, self.seed = scripted_expert(world), seed

    def begin(self, state, rows, turn: Turn, generator) -> list:
        """Each arena's expert state and draws (fresh: whole lockstep episodes only)."""
        return [(self.expert.initial_state(arena.batch),
                 np.random.default_rng([self.seed, index]))
                for index, arena in enumerate(turn.arenas)]

    def act(self, state: list, turn: Turn, generator) -> tuple[list, dict]:
        """Write the experts' moves; record agent_0's advice and what it sees of the others."""
        state, advice, peers = list(state), [], []
        for index, arena in enumerate(turn.arenas):
            expert_state, draws = state[index]
            action, expert_state = self.expert.act(arena.observation, expert_state, None, draws,
                                                   Privileged(arena.world, arena.state))
            state[index] = (expert_state, draws)
            turn.actions[index][:] = action
            advice.append(action[:, 0, 0])
            peers.append(_peers(arena, action))
        # Worlds without experts (expert_dropout) pad the distances with ABSENT.
        experts = max(p["expert_distance"].shape[1] for p in peers)
        for p in peers:
            missing = experts - p["expert_distance"].shape[1]
            p["expert_distance"] = np.pad(p["expert_distance"], ((0, 0), (0, missing)),
                                          constant_values=ABSENT)
        return state, {"expert_moves": torch.as_tensor(np.concatenate(advice)),
                       **{key: torch.as_tensor(np.concatenate([p[key] for p in peers]))
                          for key in peers[0]}}

    def observe(self, state, turn, outcome) -> tuple[list, dict]:
        """Nothing to record after the step."""
        return state, {}

    def close(self, state, turn) -> tuple[list, dict]:
        """Nothing to hand over."""
        return state, {}


@dataclass(frozen=True)
class FirstSeatState:
    """agent_0's policy state: the learner's memory, its last reward, the walker's draws."""

    memory: torch.Tensor | None
    previous_reward: torch.Tensor
    sampler: np.random.Generator


class FirstSeat:
    """agent_0's seat: ``seat`` is the learner (sampled, or greedy), the expert (keeps the
    experts' move), a random walker drawing from ``np.random.default_rng(walker_seed)``,
    or an agent that stands still."""

    def __init__(self, seat: str, learner: SocialLearner | None = None, greedy: bool = False,
                 walker_seed: int = 0):
        if seat not in SEATS:
            raise ValueError(f"seat must be one of {SEATS}; got {seat!r}")
        self.seat, self.learner, self.greedy = seat, learner, greedy
        self.walker_seed, self.walker = walker_seed, RandomPolicy(0, 0)

    def begin(self, state, rows, turn: Turn, generator) -> FirstSeatState:
        """Fresh memory and no reward yet."""
        batch = len(turn.alive)
        memory = self.learner.initial_state((batch,)) if self.learner is not None else None
        return FirstSeatState(memory, torch.zeros(batch), np.random.default_rng(self.walker_seed))

    def act(self, state: FirstSeatState, turn: Turn,
            generator: torch.Generator) -> tuple[FirstSeatState, dict]:
        """Choose agent_0's move (the expert seat keeps the move the experts wrote)."""
        observation = turn.tensors(0)
        observation["previous_reward"] = state.previous_reward
        batch = len(turn.alive)
        entries = {"observation": observation}
        memory = state.memory
        if self.seat == "learner":
            outputs, memory = self.learner(observation, memory)
            distribution = torch.distributions.Categorical(logits=outputs["move_logits"])
            move = (outputs["move_logits"].argmax(-1) if self.greedy
                    else torch.multinomial(distribution.probs, 1, generator=generator)[:, 0])
            entries.update(moves=move, log_probs=distribution.log_prob(move),
                           values=outputs["value"], peer_logits=outputs["peer_logits"])
        elif self.seat == "still":
            move = torch.zeros(batch, dtype=torch.int64)
        else:
            move = turn.entries["expert_moves"] if self.seat == "expert" else torch.as_tensor(
                self.walker.act({"action_mask": observation["action_mask"]}, {}, None,
                                       state.sampler)[0][:, 0])
            entries.update(moves=move, log_probs=torch.zeros(batch), values=torch.zeros(batch))
        turn.write(0, slice(0, 1), move.numpy()[:, None])
        return FirstSeatState(memory, state.previous_reward, state.sampler), entries

    def observe(self, state: FirstSeatState, turn, outcome) -> tuple[FirstSeatState, dict]:
        """agent_0's reward (the learner reads it next step with ``reward_input``)."""
        reward = outcome.reward(0)
        return FirstSeatState(state.memory, reward, state.sampler), {"rewards": reward}

    def close(self, state, turn) -> tuple[FirstSeatState, dict]:
        """Nothing to hand over: every episode ended with the call."""
        return state, {}


def play_episodes(arenas: list[tuple], seat: str, episode_seed: int,
                  learner: SocialLearner | None = None, generator: torch.Generator | None = None,
                  greedy: bool = False, config=None, skill=None) -> Record:
    """One episode in every world of ``arenas`` (``(world, count)`` pairs, from
    ``make_arenas``) with ``seat`` in agent_0's place and scripted experts in the others';
    arena ``i`` plays episode 0 of seed ``episode_seed + i``. A learner whose
    ``config.agent`` is hierarchical or walker sits in the subgoal seat (``subgoals``),
    walking with ``skill``."""
    if seat == "learner" and (learner is None or (generator is None and not greedy)):
        raise ValueError("seat=learner needs a learner, and a generator unless greedy")
    if seat == "learner" and config is not None and config.agent != "flat":
        first = CellLearner(config, learner, skill, greedy)
    else:
        first = FirstSeat(seat, learner, greedy, walker_seed=episode_seed)
    opened = [Arena.open(world, episode_seed + index, count)
              for index, (world, count) in enumerate(arenas)]
    stream = Stream(opened, np.full((sum(count for _, count in arenas), 1), -1))
    record, _ = play_stream(stream, (Experts(arenas[0][0], episode_seed), first),
                            arenas[0][0].config.max_cycles, generator, auto_reset=False)
    return record


def _peers(arena: Arena, action: np.ndarray) -> dict[str, np.ndarray]:
    """What agent_0 sees of the others: their next moves, presence and distances."""
    others = arena.observation["others"][:, 0]  # [B, M, 6+L]
    present = others[..., 0] > 0
    index = np.where(present, others[..., 3], 0)
    moves = np.take_along_axis(action[:, :, 0], index, axis=1)
    state = arena.state
    distance = np.maximum(np.abs(state.row[:, 1:] - state.row[:, :1]),
                          np.abs(state.col[:, 1:] - state.col[:, :1]))
    return {"peer_moves": np.where(present, moves, 0).astype(np.int64),
            "peer_present": present, "expert_distance": distance.astype(np.int64)}
