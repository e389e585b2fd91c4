"""Where worlds meet policies: step a vector env with a policy and report what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from socius.agents.scripted import Privileged
from socius.envs.state import WorldState
from socius.envs.vector import VectorEnv


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


def rollout(venv: VectorEnv, policy, num_steps: int, generator: np.random.Generator,
            on_step: Callable[[WorldState, np.ndarray], None] | None = None,
            seed: int | None = None) -> RolloutSummary:
    """Play ``num_steps`` batched steps; ``on_step(state, action)`` sees each new state."""
    observation = venv.reset(seed=seed)
    policy_state = policy.initial_state(venv.num_envs)
    done = np.ones(venv.num_envs, dtype=bool)
    episode_return = np.zeros(venv.num_envs)
    episode_success = np.zeros(venv.num_envs, dtype=bool)
    returns, successes = [], []
    for _ in range(num_steps):
        action, policy_state = policy.act(observation, policy_state, done, generator,
                                          Privileged(venv.world, venv.state))
        observation, reward, terminated, truncated, info = venv.step(torch.as_tensor(action))
        episode_return += reward.sum(dim=1).numpy()
        episode_success |= (info["goal_achieved"] > 0).any(dim=1).numpy()
        done = (terminated | truncated).numpy()
        returns.extend(episode_return[done].tolist())
        successes.extend(episode_success[done].tolist())
        episode_return[done] = 0
        episode_success[done] = False
        if on_step is not None:
            on_step(venv.state, action)
    return RolloutSummary(
        episodes=len(returns),
        mean_return=float(np.mean(returns)) if returns else float("nan"),
        success_rate=float(np.mean(successes)) if successes else float("nan"),
        agent_steps=num_steps * venv.num_envs * venv.num_agents,
    )
