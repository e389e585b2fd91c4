"""Where worlds meet policies: step a vector env with a policy and record each episode.

Every consumer (demo, datasets, metrics, trainers, viewer) reads the same
:class:`Trajectory`: one environment's episode, arrays leading with ``[T + 1]``
(observations, goals, alive) or ``[T]`` (everything that happens in a step),
then ``[N]`` agents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from socius.agents.scripted import Privileged, as_numpy
from socius.envs.state import WorldState, take
from socius.envs.vector import VectorEnv


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


def record_episodes(venv: VectorEnv, policy, generator: np.random.Generator, num_steps: int,
            policy_ids: tuple[str, ...] = (), record_states: bool = False,
            seed: int | None = None, num_episodes: int | None = None,
            on_step: Callable[[WorldState, np.ndarray], None] | None = None,
            place: tuple[np.ndarray, ...] | None = None) -> list[Trajectory]:
    """Play up to ``num_steps`` batched steps (or until ``num_episodes`` have ended) and
    return every episode that ended, in the order they ended.

    ``place = (row, col[, goal])`` puts the agents of the first episodes at chosen cells
    (``[B, N]``, goals ``[B, N, G]``): evaluation on fixed start/goal pairs.
    """
    observation = as_numpy(venv.reset(seed=seed))
    if place is not None:
        observation = as_numpy(venv.place(*place))
    policy_state = policy.initial_state(venv.num_envs)
    done = np.ones(venv.num_envs, dtype=bool)
    steps: list[dict] = []
    start = np.zeros(venv.num_envs, dtype=np.int64)
    episodes: list[Trajectory] = []
    for _ in range(num_steps):
        state = venv.state
        action, policy_state = policy.act(observation, policy_state, done, generator,
                                          Privileged(venv.world, state))
        action = np.asarray(action, dtype=np.int64)
        next_observation, reward, terminated, truncated, info = venv.step(torch.as_tensor(action))
        next_observation = as_numpy(next_observation)
        steps.append({
            "observation": observation, "action": action, "reward": reward.numpy(),
            "terminated": terminated.numpy(), "truncated": truncated.numpy(),
            "message": info["message"].numpy(), "alive": ~state.finished, "goal": state.goal,
            "achieved": info["achieved_goal"].numpy(), "desired": info["desired_goal"].numpy(),
            "goal_achieved": info["goal_achieved"].numpy(), "finished": info["finished"].numpy(),
            "state": state if record_states else None,
        })
        done = (terminated | truncated).numpy()
        if done.any():
            final = as_numpy(info["final_observation"])
            for row, env in enumerate(info["final_index"].tolist()):
                final_state = take(venv.final_state, np.array([row])) if record_states else None
                episodes.append(_episode(venv, steps[start[env]:], env,
                                         {k: v[row] for k, v in final.items()}, policy_ids,
                                         final_state))
                start[env] = len(steps)
        if on_step is not None:
            on_step(venv.state, action)
        if num_episodes is not None and len(episodes) >= num_episodes:
            return episodes[:num_episodes]
        # Steps that no unfinished episode needs any more can go.
        keep_from = int(start.min())
        if keep_from:
            steps = steps[keep_from:]
            start -= keep_from
        observation = next_observation
    return episodes


def _episode(venv, steps, env, final_observation, policy_ids, final_state) -> Trajectory:
    """Cut environment ``env``'s episode out of the batched steps."""
    def stack(key):
        return np.stack([s[key][env] for s in steps])

    agents = venv.num_agents
    observations = {key: np.concatenate([np.stack([s["observation"][key][env] for s in steps]),
                                         final_observation[key][None]])
                    for key in final_observation}
    states = None
    if final_state is not None:
        states = tuple(take(s["state"], np.array([env])) for s in steps) + (final_state,)
    last = steps[-1]
    return Trajectory(
        observations=observations,
        actions=stack("action"),
        rewards=stack("reward"),
        terminations=np.repeat(stack("terminated")[:, None], agents, axis=1),
        truncations=np.repeat(stack("truncated")[:, None], agents, axis=1),
        messages=stack("message"),
        alive=np.concatenate([stack("alive"), ~last["finished"][env][None]]),
        goals=np.concatenate([stack("goal"), last["goal"][env][None]]),
        achieved_goals=stack("achieved"),
        desired_goals=stack("desired"),
        goal_achieved=stack("goal_achieved"),
        env_name=venv.world.name,
        seed=int(venv.state.seed[env]),
        env_index=int(venv.state.env_index[env]),
        episode=int(venv.state.episode[env]) - 1,
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
