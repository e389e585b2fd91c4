"""Who plays in the viewer and in videos: a world and one policy acting for all of its
agents (scripted experts, random walkers, or a run's trained agents), and episodes of it.

Experiments build a :class:`Cast` for their own runs (``Experiment.load_policy``);
:mod:`socius.societies.viewer.seating` picks one for a command-line target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from socius.agents.experts import scripted_expert
from socius.agents.scripted import RandomPolicy, SeatedPolicy
from socius.envs.vector import VectorEnv
from socius.envs.world import World
from socius.societies.engine.rollout import Trajectory, record_episodes


@dataclass(frozen=True)
class Cast:
    """A world and the policy that acts for all of its agents."""

    env_name: str
    """The environment, e.g. ``goal_cycle_v0``."""
    world: World = field(compare=False)
    """The static world (its config, agent names, roles, walls)."""
    policy: Any = field(compare=False)
    """Acts for every agent (``initial_state`` / ``act``)."""
    label: str
    """Who plays, for titles: ``scripted``, ``random`` or the run directory."""

    def vector(self, seed: int, auto_reset: bool = True) -> VectorEnv:
        """One environment of the cast's world."""
        return VectorEnv(self.world, 1, seed=seed, auto_reset=auto_reset)


def built_in_policy(world: World, policy: str):
    """The task's scripted expert (``scripted``) or a uniform random walker (``random``)."""
    if policy == "scripted":
        return scripted_expert(world)
    if policy == "random":
        return RandomPolicy(world.config.vocab_size, world.config.message_length)
    raise ValueError(f"policy must be 'scripted', 'random' or a run directory; got {policy!r}")


def per_agent(policies: list) -> Any:
    """One policy acting for all agents, agent i played by ``policies[i]``."""
    combined = policies[-1]
    for seat in range(len(policies) - 2, -1, -1):
        combined = SeatedPolicy(policies[seat], combined, seat=seat)
    return combined


def play_episodes(cast: Cast, episodes: int, seed: int) -> tuple[VectorEnv, list[Trajectory]]:
    """``episodes`` episodes of ``cast`` in one environment, with their states recorded."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1; got {episodes!r}")
    venv = cast.vector(seed)
    trajectories = record_episodes(venv, cast.policy, np.random.default_rng(seed),
                                   num_steps=episodes * venv.world.config.max_cycles,
                                   num_episodes=episodes, record_states=True)
    return venv, trajectories
