"""Memory in the t-maze, top to bottom: recurrent behaviour cloning against its control.

    socius run memory --seed 0

1. A BFS expert (which reads the hidden goal) walks the ``t_maze``; its cue is
   visible only on the first step.
2. Two copies of the same network are cloned from those episodes: one with GRU
   memory, one without (the control).
3. Both act greedily from observations alone on fresh episodes. Only the one
   that remembers the cue can beat a coin flip at the end of the bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from socius.agents.modules import AgentNetwork, ObservationSpec
from socius.agents.policy import NetworkPolicy
from socius.agents.scripted import GoalSeeker
from socius.envs import make_vector
from socius.societies.engine.rollout import collect


@dataclass(frozen=True)
class MemoryRunConfig:
    """One t-maze memory experiment."""

    length: int = 6
    """Length of the t-maze stem."""
    episodes: int = 256
    """Expert episodes to clone."""
    steps: int = 800
    """Gradient steps of behaviour cloning."""
    eval_episodes: int = 200
    """Fresh episodes per evaluation."""
    hidden: int = 128
    """Network width."""
    learning_rate: float = 1e-2
    """Adam step size of the cloning."""
    seed: int = 0
    """Seed of data, weights and evaluation."""


def expert_episodes(config: MemoryRunConfig):
    """Expert episodes in the t-maze."""
    venv = make_vector("maze_v0", 32, seed=config.seed, layout="t_maze", size=config.length)
    steps = config.episodes * (config.length + 4) // 32 + 1
    return collect(venv, GoalSeeker(), np.random.default_rng(config.seed), steps,
                   num_episodes=config.episodes), venv


def stack_episodes(episodes) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Pad episodes to ``[T, E, 1, ...]`` observations, moves ``[T, E, 1]`` and a valid mask."""
    longest = max(e.length for e in episodes)
    observation = {}
    for key in episodes[0].observations:
        padded = [np.concatenate([e.observations[key][:-1],
                                  np.repeat(e.observations[key][-2:-1], longest - e.length, 0)])
                  for e in episodes]
        observation[key] = torch.as_tensor(np.stack(padded, axis=1))
    moves = np.stack([np.pad(e.actions[:, :, 0], ((0, longest - e.length), (0, 0)))
                      for e in episodes], axis=1)
    valid = np.stack([np.arange(longest) < e.length for e in episodes], axis=1)[..., None]
    return observation, torch.as_tensor(moves), torch.as_tensor(valid)


def clone(config: MemoryRunConfig, episodes, venv, memory: bool) -> AgentNetwork:
    """Behaviour-clone the expert's moves into a network with or without memory."""
    spec = ObservationSpec.from_spaces(venv.single_observation_space, venv.single_action_space)
    generator = torch.Generator().manual_seed(config.seed)
    network = AgentNetwork(spec, hidden=config.hidden, inbox=False, others=False, goal=False,
                           memory=memory, generator=generator)
    observation, moves, valid = stack_episodes(episodes)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    for _ in range(config.steps):
        state = network.initial_state(moves.shape[1:])
        outputs, _ = network.forward_sequence(observation, state)
        loss = nn.functional.cross_entropy(outputs["move_logits"][valid], moves[valid])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return network


def success_rate(network: AgentNetwork, config: MemoryRunConfig) -> float:
    """Greedy success on fresh t-maze episodes (the first episode of each environment)."""
    venv = make_vector("maze_v0", config.eval_episodes, seed=10_000 + config.seed,
                       layout="t_maze", size=config.length, auto_reset=False)
    policy = NetworkPolicy(network, venv.num_agents, greedy=True)
    generator = np.random.default_rng(config.seed)
    observation = venv.reset()
    state = policy.initial_state(config.eval_episodes)
    done = np.ones(config.eval_episodes, dtype=bool)
    success = torch.zeros(config.eval_episodes, dtype=torch.bool)
    for _ in range(venv.world.config.max_cycles):
        action, state = policy.act(observation, state, done, generator)
        observation, reward, terminated, truncated, _ = venv.step(torch.as_tensor(action))
        success |= reward[:, 0] > 0
        done = np.zeros(config.eval_episodes, dtype=bool)
        if (terminated | truncated).all():
            break
    return float(success.float().mean())


def run(config: MemoryRunConfig) -> dict[str, float]:
    """Success of the recurrent clone and of its memoryless control."""
    episodes, venv = expert_episodes(config)
    return {"memory": success_rate(clone(config, episodes, venv, memory=True), config),
            "no_memory": success_rate(clone(config, episodes, venv, memory=False), config)}
