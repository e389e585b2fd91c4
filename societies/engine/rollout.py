"""Per-episode records for datasets, the viewer and replay, played on the engine's stream.

:func:`record_episodes` seats one policy of the scripted-policy API in every agent
(:class:`PolicySeat`), plays the worlds with auto-reset through ``engine.stream`` and cuts
the stream's ``[T, B]`` record into episodes. Every consumer of episodes (demo, datasets,
metrics, viewer) reads the same :class:`Trajectory`: one environment's episode, arrays
leading with ``[T + 1]`` (observations, goals, alive) or ``[T]`` (everything that happens
in a step), then ``[N]`` agents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from socius.agents.scripted import Privileged
from socius.envs import core
from socius.envs.state import WorldState, take
from socius.envs.vector import VectorEnv
from socius.societies.engine.stream import Arena, Stream, play


@dataclass(frozen=True)
class Trajectory:
    """One environment's episode as the world saw it."""

    observations: dict[str, np.ndarray]
    """Each key ``[T + 1, N, ...]``; the last row is the observation the episode ended on."""
    actions: np.ndarray
    """int64 ``[T, N, 1 + L]``: move, then tokens, as the policy chose them."""
    rewards: np.ndarray
    """float32 ``[T, N]``."""
    terminations: np.ndarray
    """bool ``[T, N]``: the episode ended by the task's rule after this step."""
    truncations: np.ndarray
    """bool ``[T, N]``: the episode hit ``max_cycles`` after this step."""
    messages: np.ndarray
    """int32 ``[T, N, L]``: tokens as delivered (after channel noise), -1 for silence."""
    alive: np.ndarray
    """bool ``[T + 1, N]``: agents not yet finished (a finished agent waits)."""
    goals: np.ndarray
    """int32 ``[T + 1, N, G]``: every agent's true goal, unmasked."""
    achieved_goals: np.ndarray
    """int32 ``[T, N, Ga]``."""
    desired_goals: np.ndarray
    """int32 ``[T, N, Ga]``."""
    goal_achieved: np.ndarray
    """float32 ``[T, N]``."""
    env_name: str
    """The environment, e.g. ``maze_v0``."""
    seed: int
    """Seed of the environment's random stream."""
    env_index: int
    """Index of the environment within its seed."""
    episode: int
    """Episode number within (seed, env_index): with these three the episode replays."""
    policy_ids: tuple[str, ...] = ()
    """Which policy controlled each agent."""
    states: tuple[WorldState, ...] | None = field(default=None, compare=False)
    """Optional world states ``T + 1`` (single-environment) for drawing the episode."""

    @property
    def length(self) -> int:
        """Steps T."""
        return int(self.rewards.shape[0])


@dataclass(frozen=True)
class RolloutSummary:
    """Totals over the episodes that ended during a rollout."""

    episodes: int
    """Episodes that ended (terminated or truncated)."""
    mean_return: float
    """Mean over ended episodes of the summed reward of all agents."""
    success_rate: float
    """Fraction of ended episodes in which some agent achieved its goal."""
    agent_steps: int
    """Environment steps times agents."""


OnStep = Callable[[WorldState, np.ndarray, list], None]
"""``on_step(state, action, seen)``: see :class:`PolicySeat`."""


class PolicySeat:
    """Every agent of the worlds played by a policy of the scripted-policy API
    (``initial_state``, ``act(observation, state, done, generator, privileged)``), recording
    what a :class:`Trajectory` holds. Its state is the policy's, with the ``done`` flags
    of the step before. ``on_step(state, action, seen)`` is called after every step with
    the new world state, the actions and every observation the policy has seen so far
    (the next one included): a learner can train while the data is gathered."""

    def __init__(self, policy, generator: np.random.Generator, record_states: bool = False,
                 on_step: OnStep | None = None):
        self.policy, self.generator = policy, generator
        self.record_states, self.on_step = record_states, on_step
        self.seen: list[dict[str, np.ndarray]] = []

    def begin(self, state, rows, turn, generator):
        """The policy's fresh state (once); a new episode shows as ``done`` in its row."""
        if state is None:
            self.seen = [turn.arenas[0].observation]
            return self.policy.initial_state(len(turn.alive)), np.ones(len(turn.alive), bool)
        return state

    def act(self, state, turn, generator):
        """Every agent's action from the policy, with the privileged world state."""
        (arena,) = turn.arenas
        policy_state, done = state
        action, policy_state = self.policy.act(arena.observation, policy_state, done,
                                               self.generator, Privileged(arena.world,
                                                                          arena.state))
        action = np.asarray(action, dtype=np.int64)
        turn.actions[0][:] = action
        return (policy_state, done), {
            "observation": arena.observation, "action": action, "alive": ~arena.state.finished,
            "goal": arena.state.goal, "seed": arena.state.seed, "env_index": arena.state.env_index,
            "episode": arena.state.episode,
            "state": arena.state if self.record_states else None}

    def observe(self, state, turn, outcome):
        """What the step did, and each ended episode's last observation (before its reset)."""
        (result,) = outcome.results
        policy_state, _ = state
        if self.on_step is not None:
            self.seen.append(result.observation)
            with torch.enable_grad():  # the stream plays without; a learner here trains
                self.on_step(turn.arenas[0].state, turn.actions[0], self.seen)
        if result.final_index.size:  # auto-reset kept the ended episodes' last observation
            final = (result.final_index, result.final_observation,
                     result.final_state if self.record_states else None)
        else:  # worlds that wait: the observation after the step is the episode's last
            rows = outcome.ends.nonzero().squeeze(-1).numpy()
            final = (rows, {key: value[rows] for key, value in result.observation.items()},
                     take(turn.arenas[0].state, rows) if self.record_states else None)
        return (policy_state, (result.terminated | result.truncated)), {
            "reward": result.reward, "terminated": result.terminated,
            "truncated": result.truncated, "message": result.message,
            "achieved": result.achieved_goal, "desired": result.desired_goal,
            "goal_achieved": result.goal_achieved, "finished": result.finished,
            "info": result.info,
            # Kept whole per step (as a list): how many ended varies from step to step.
            "final": final}

    def close(self, state, turn):
        """Nothing to hand over."""
        return state, {}


def record_episodes(venv: VectorEnv, policy, generator: np.random.Generator, num_steps: int,
                    policy_ids: tuple[str, ...] = (), record_states: bool = False,
                    seed: int | None = None, num_episodes: int | None = None,
                    on_step: OnStep | None = None,
                    place: tuple[np.ndarray, ...] | None = None) -> list[Trajectory]:
    """Play up to ``num_steps`` batched steps (or until ``num_episodes`` have ended) on the
    engine's stream and return every episode that ended, in the order they ended.

    ``place = (row, col[, goal])`` puts the agents of the first episodes at chosen cells
    (``[B, N]``, goals ``[B, N, G]``): evaluation on fixed start/goal pairs. A vector env
    without auto-reset plays one episode per world (a finished world waits). The vector
    env is left where the worlds stand.
    """
    venv.reset(seed=seed)
    if place is not None:
        venv.place(*place)
    # The core's own observation: the venv's may be flat, or without its mask.
    arena = Arena(venv.world, venv.state, core.observe(venv.world, venv.state))
    stream = Stream([arena], np.full((venv.num_envs, 1), -1))
    seat = PolicySeat(policy, generator, record_states, on_step)
    record, after = play(stream, (seat,), num_steps, None, auto_reset=venv.auto_reset,
                         until=None if num_episodes is None else
                         lambda ended: ended >= num_episodes)
    venv.state = after.arenas[0].state
    episodes = _cut_episodes(venv, record, policy_ids)
    return episodes if num_episodes is None else episodes[:num_episodes]


def _cut_episodes(venv: VectorEnv, record, policy_ids) -> list[Trajectory]:
    """Every episode that ended in ``record`` as a Trajectory, in the order they ended."""
    steps = record.steps
    started = np.zeros(venv.num_envs, dtype=np.int64)
    episodes = []
    for step, (final_index, final_observation, final_states) in enumerate(steps["final"]):
        for position, env in enumerate(final_index.tolist()):
            final = {key: value[position] for key, value in final_observation.items()}
            final_state = (take(final_states, np.array([position]))
                           if final_states is not None else None)
            episodes.append(_episode(venv, steps, started[env], step, env, final, policy_ids,
                                     final_state))
            started[env] = step + 1
    return episodes


def _episode(venv, steps, first, last, env, final_observation, policy_ids,
             final_state) -> Trajectory:
    """Environment ``env``'s episode over steps ``first..last`` of the record."""
    span = slice(first, last + 1)

    def cut(key):
        return steps[key][span, env]

    agents = venv.num_agents
    observations = {key: np.concatenate([steps["observation"][key][span, env],
                                         final_observation[key][None]])
                    for key in final_observation}
    states = None
    if final_state is not None:
        states = tuple(take(state, np.array([env])) for state in steps["state"][span]) + (
            final_state,)
    return Trajectory(
        observations=observations,
        actions=cut("action"),
        rewards=cut("reward"),
        terminations=np.repeat(cut("terminated")[:, None], agents, axis=1),
        truncations=np.repeat(cut("truncated")[:, None], agents, axis=1),
        messages=cut("message"),
        alive=np.concatenate([cut("alive"), ~steps["finished"][last, env][None]]),
        goals=np.concatenate([cut("goal"), steps["goal"][last, env][None]]),
        achieved_goals=cut("achieved"),
        desired_goals=cut("desired"),
        goal_achieved=cut("goal_achieved"),
        env_name=venv.world.name,
        seed=int(steps["seed"][last, env]),
        env_index=int(steps["env_index"][last, env]),
        episode=int(steps["episode"][last, env]),
        policy_ids=tuple(policy_ids),
        states=states,
    )


def summarize(episodes: list[Trajectory], agent_steps: int) -> RolloutSummary:
    """Mean return and success rate of ended episodes."""
    returns = [float(e.rewards.sum()) for e in episodes]
    successes = [bool((e.goal_achieved > 0).any()) for e in episodes]
    return RolloutSummary(
        episodes=len(episodes),
        mean_return=float(np.mean(returns)) if returns else float("nan"),
        success_rate=float(np.mean(successes)) if successes else float("nan"),
        agent_steps=agent_steps,
    )


def rollout(venv: VectorEnv, policy, num_steps: int, generator: np.random.Generator,
            seed: int | None = None) -> RolloutSummary:
    """Play ``num_steps`` batched steps and summarise the episodes that ended."""
    episodes = record_episodes(venv, policy, generator, num_steps, seed=seed)
    return summarize(episodes, num_steps * venv.num_envs * venv.num_agents)
