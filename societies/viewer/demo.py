"""The demo: scripted agents play recorded episodes, then a quick speed measurement."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from socius import configs
from socius.agents.experts import scripted_expert
from socius.envs import ENVIRONMENTS, make_vector
from socius.envs.settings import configure
from socius.societies.viewer.cast import Cast, play_episodes
from socius.societies.viewer.record import episode_frames
from socius.societies.viewer.video import save_gif


@dataclass(frozen=True)
class DemoResult:
    """What the demo recorded and measured."""

    gif: Path
    """The recorded GIF."""
    episodes: int
    """Episodes recorded."""
    mean_return: float
    """Mean summed reward of all agents per episode."""
    agent_steps_per_second: float
    """Vector-API speed with random actions, B = 1024."""


def record_demo(name: str, episodes: int, seed: int, out: Path,
                    cell_size: int = 32) -> tuple[list[np.ndarray], list[float]]:
    """Play ``episodes`` episodes of scripted experts and draw every step."""
    settings = configs.load("demo").get(name, {})
    world = ENVIRONMENTS[name].build_world(configure(ENVIRONMENTS[name].CONFIG, settings))
    cast = Cast(name, world, scripted_expert(world), "scripted")
    venv, trajectories = play_episodes(cast, episodes, seed)
    frames = episode_frames(venv.world, trajectories, cell_size)
    return frames, [float(t.rewards.sum()) for t in trajectories]


def measure_speed(name: str, num_envs: int = 1024, seconds: float = 2.0, seed: int = 0) -> float:
    """Agent-steps per second of the vector API with random actions drawn before timing."""
    venv = make_vector(name, num_envs, seed=seed)
    venv.reset()
    generator = np.random.default_rng(seed)
    actions = [venv.sample_actions(generator) for _ in range(16)]
    venv.step(actions[0])
    steps, elapsed = 0, 0.0
    while elapsed < seconds:
        start = time.perf_counter()
        venv.step(actions[steps % len(actions)])
        elapsed += time.perf_counter() - start
        steps += 1
    return steps * num_envs * venv.num_agents / elapsed


def run_demo(name: str = "referential_v0", out: str | Path = "socius_demo.gif",
             episodes: int = 3, seed: int = 0) -> DemoResult:
    """Record scripted episodes of ``name`` to a GIF and measure the vector API's speed."""
    out = Path(out)
    frames, returns = record_demo(name, episodes, seed, out)
    save_gif(frames, out, fps=4)
    speed = measure_speed(name)
    return DemoResult(gif=out, episodes=episodes, mean_return=float(np.mean(returns)),
                      agent_steps_per_second=speed)
