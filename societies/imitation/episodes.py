"""One lockstep episode per environment of Goal Cycle, from the learner's seat.

Every arena (a vector env without auto-reset) plays one whole episode; agent_0's seat is
taken by the learner, the scripted expert or a random walker, every other agent is a
scripted ``CycleExpert``. The record holds what training and evaluation read: the
seat's observations, moves and rewards, what the expert would do in the seat, and the
next moves of the agents the seat sees (the auxiliary head's targets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from socius.agents.imitation import SocialLearner
from socius.agents.scripted import CycleExpert, Privileged, RandomPolicy, as_numpy
from socius.envs.vector import VectorEnv


@dataclass(frozen=True)
class Episodes:
    """One lockstep episode in every environment, from the learner's seat: ``[T, B, ...]``."""

    observation: dict[str, torch.Tensor]
    """The learner's observations."""
    moves: torch.Tensor
    """int64: the seat's moves."""
    log_probs: torch.Tensor
    """The learner's log-probability of its moves (0 for scripted seats)."""
    values: torch.Tensor
    """The learner's value estimates (0 for scripted seats)."""
    rewards: torch.Tensor
    """The seat's rewards."""
    expert_moves: torch.Tensor
    """int64: the move the expert's policy makes in the seat's state."""
    peer_moves: torch.Tensor
    """int64 ``[T, B, M]``: the move each agent in the seat's ``others`` slots makes."""
    peer_present: torch.Tensor
    """bool ``[T, B, M]``: the slot holds an agent."""
    expert_distance: torch.Tensor
    """int64 ``[T, B, E]``: Chebyshev distance from the seat to each expert (E may be 0)."""
    peer_logits: torch.Tensor | None = None
    """The learner's predictions of ``peer_moves`` (evaluation only)."""


def play_episodes(arenas: list[VectorEnv], seat: str, episode_seed: int,
         learner: SocialLearner | None = None, generator: torch.Generator | None = None,
         greedy: bool = False) -> Episodes:
    """One episode in every arena with ``seat`` (learner, expert or random) in agent_0's
    place and scripted experts in the others'; the episode is drawn from ``episode_seed``."""
    if seat not in ("learner", "expert", "random"):
        raise ValueError(f"seat must be learner, expert or random; got {seat!r}")
    if seat == "learner" and (learner is None or (generator is None and not greedy)):
        raise ValueError("seat=learner needs a learner, and a generator unless greedy")
    expert, sampler = CycleExpert(), np.random.default_rng(episode_seed)
    observations = [as_numpy(venv.reset(seed=episode_seed + index))
                    for index, venv in enumerate(arenas)]
    expert_states = [expert.initial_state(venv.num_envs) for venv in arenas]
    batch = sum(venv.num_envs for venv in arenas)
    memory = learner.initial_state((batch,)) if learner is not None else None
    previous_reward = torch.zeros(batch)
    steps: list[dict] = []
    for _ in range(arenas[0].world.config.max_cycles):
        scripted, seat_obs, peers = [], [], []
        for index, venv in enumerate(arenas):
            action, expert_states[index] = expert.act(observations[index], expert_states[index],
                                                      None, None, Privileged(venv.world,
                                                                             venv.state))
            scripted.append(action)
            seat_obs.append({k: v[:, 0] for k, v in observations[index].items()})
            peers.append(_peers(venv, observations[index], action))
        obs = {k: torch.as_tensor(np.concatenate([o[k] for o in seat_obs])) for k in seat_obs[0]}
        obs["previous_reward"] = previous_reward
        expert_move = torch.as_tensor(np.concatenate([a[:, 0, 0] for a in scripted]))
        record = {"observation": obs, "expert_moves": expert_move,
                  **{k: torch.as_tensor(np.concatenate([p[k] for p in peers]))
                     for k in peers[0]}}
        if seat == "learner":
            with torch.no_grad():
                outputs, memory = learner(obs, memory)
            distribution = torch.distributions.Categorical(logits=outputs["move_logits"])
            move = (outputs["move_logits"].argmax(-1) if greedy
                    else torch.multinomial(distribution.probs, 1, generator=generator)[:, 0])
            record.update(moves=move, log_probs=distribution.log_prob(move),
                          values=outputs["value"], peer_logits=outputs["peer_logits"])
        else:
            move = expert_move if seat == "expert" else torch.as_tensor(RandomPolicy(0, 0).act(
                {"action_mask": obs["action_mask"]}, {}, None, sampler)[0][:, 0])
            record.update(moves=move, log_probs=torch.zeros(batch), values=torch.zeros(batch))
        rewards, offset = [], 0
        for index, venv in enumerate(arenas):
            action = scripted[index].copy()
            action[:, 0, 0] = move[offset:offset + venv.num_envs].numpy()
            offset += venv.num_envs
            observation, reward, *_ = venv.step(torch.as_tensor(action))
            observations[index] = as_numpy(observation)
            rewards.append(reward[:, 0])
        record["rewards"] = previous_reward = torch.cat(rewards)
        steps.append(record)
    stacked = {key: torch.stack([s[key] for s in steps]) for key in steps[0]
               if key != "observation"}
    observation = {k: torch.stack([s["observation"][k] for s in steps])
                   for k in steps[0]["observation"]}
    return Episodes(observation=observation, **stacked)


def _peers(venv: VectorEnv, observation: dict[str, np.ndarray],
           action: np.ndarray) -> dict[str, np.ndarray]:
    """What agent_0 sees of the others: their next moves, presence and distances."""
    others = observation["others"][:, 0]  # [B, M, 6+L]
    present = others[..., 0] > 0
    index = np.where(present, others[..., 3], 0)
    moves = np.take_along_axis(action[:, :, 0], index, axis=1)
    state = venv.state
    distance = np.maximum(np.abs(state.row[:, 1:] - state.row[:, :1]),
                          np.abs(state.col[:, 1:] - state.col[:, :1]))
    return {"peer_moves": np.where(present, moves, 0).astype(np.int64),
            "peer_present": present, "expert_distance": distance.astype(np.int64)}
