"""Who plays in the viewer and in videos: a world and a policy for every agent, from an
environment name or a run directory, and episodes drawn frame by frame.

A *target* is an environment name (``maze_v0``) or a run directory. Environments are
played by their scripted experts (``policy="scripted"``), by random walkers
(``"random"``) or by a run's trained agents (``policy=RUN_DIR``); a run directory brings
its own world and agents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from socius.agents.scripted import CycleExpert, RandomPolicy, SeatedPolicy
from socius.envs import ENVIRONMENTS, make_vector
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import Trajectory, collect

PLAYABLE_EXPERIMENTS = ("language", "imitation", "gcrl")
"""Experiments whose checkpoints hold agents the viewer can seat."""


@dataclass(frozen=True)
class Cast:
    """A world to build and the policy that acts for all of its agents."""

    env_name: str
    """The environment, e.g. ``goal_cycle_v0``."""
    settings: dict[str, Any]
    """World settings passed to ``make_vector``."""
    world: Any = field(compare=False)
    """The static world those settings build (agent names, roles, walls)."""
    policy: Any = field(compare=False)
    """Acts for every agent (``initial_state`` / ``act``)."""
    label: str
    """Who plays, for titles: ``scripted``, ``random`` or the run directory."""


def parse_settings(items: list[str]) -> dict[str, Any]:
    """World settings from ``key=value`` strings (values read as YAML scalars or lists)."""
    import yaml

    settings = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"setting {item!r} must look like key=value")
        key, text = item.split("=", 1)
        value = yaml.safe_load(text)
        settings[key] = tuple(map(tuple, value)) if isinstance(value, list) and value and \
            isinstance(value[0], list) else value
    return settings


def cast_for(target: str | Path, policy: str = "scripted",
             settings: dict[str, Any] | None = None) -> Cast:
    """The world and policies of ``target`` (an environment name or a run directory)."""
    settings = dict(settings or {})
    if str(target) in ENVIRONMENTS:
        name = str(target)
        if policy in ("scripted", "random"):
            venv = make_vector(name, 1, seed=0, **settings)
            return Cast(name, settings, venv.world, built_in_policy(venv, policy), policy)
        run = run_cast(policy)
        if run.env_name != name:
            raise ValueError(f"policy: run {policy} plays {run.env_name}, not {name}")
        if settings:
            raise ValueError("settings: a run's agents play in the run's own world; "
                             "drop --set when --policy is a run directory")
        return run
    if not Path(target).is_dir():
        raise ValueError(f"target: {target!r} is neither an environment "
                         f"({', '.join(ENVIRONMENTS)}) nor a run directory")
    if settings:
        raise ValueError("settings: a run directory brings its own world; drop --set")
    if policy != "scripted":
        raise ValueError("policy: a run directory brings its own agents; drop --policy")
    return run_cast(target)


def built_in_policy(venv: VectorEnv, policy: str):
    """The task's scripted expert (``scripted``) or a uniform random walker (``random``)."""
    from socius.societies.viewer.demo import expert_for

    if policy == "scripted":
        return expert_for(venv)
    if policy == "random":
        config = venv.world.config
        return RandomPolicy(config.vocab_size, config.message_length)
    raise ValueError(f"policy must be 'scripted', 'random' or a run directory; got {policy!r}")


def run_cast(run_dir: str | Path) -> Cast:
    """The world and trained agents of a language, imitation or gcrl run's checkpoint."""
    from socius.agents.policy import NetworkPolicy
    from socius.societies.runs.directory import RunDirectory

    if not Path(run_dir).is_dir():
        raise ValueError(f"policy: {run_dir!r} is not 'scripted', 'random' or a run directory")
    experiment = RunDirectory(run_dir).experiment()
    if experiment == "language":
        from socius.societies.language.experiment import load_population

        config, population = load_population(run_dir)
        settings = config.world_settings("all")
        world = make_vector("referential_v0", 1, seed=0, **settings).world
        networks = [population.member(world.role_names[role], 0) for role in world.agent_role]
        policies = [NetworkPolicy(network, world.num_agents) for network in networks]
        return Cast("referential_v0", settings, world, per_agent(policies), str(run_dir))
    if experiment == "imitation":
        from socius.societies.imitation.experiment import load_learner

        config, learner = load_learner(run_dir)
        if config.reward_input:
            raise ValueError(f"{run_dir}: runs with reward_input=true read the previous reward, "
                             "which the viewer does not feed; pick another run")
        settings = config.world_settings(config.experts)
        world = make_vector("goal_cycle_v0", 1, seed=0, **settings).world
        policy = SeatedPolicy(NetworkPolicy(learner, world.num_agents), CycleExpert(0), seat=0)
        return Cast("goal_cycle_v0", settings, world, policy, str(run_dir))
    if experiment == "gcrl":
        from socius.agents.gcrl import SubgoalPolicy
        from socius.societies.navigation.gcrl import load_agent, maze_settings

        config, agent = load_agent(run_dir)
        settings = maze_settings(config, max_cycles=4 * config.size * config.size)
        world = make_vector("maze_v0", 1, seed=0, **settings).world
        return Cast("maze_v0", settings, world, SubgoalPolicy(agent, world.info["walls"][0]),
                    str(run_dir))
    raise ValueError(f"{run_dir} is a {experiment} run; the viewer seats agents of "
                     f"{', '.join(PLAYABLE_EXPERIMENTS)} runs (replay a collect run's "
                     "dataset.npz with 'socius replay')")


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
    venv = make_vector(cast.env_name, 1, seed=seed, **cast.settings)
    trajectories = collect(venv, cast.policy, np.random.default_rng(seed),
                           num_steps=episodes * venv.world.config.max_cycles,
                           num_episodes=episodes, record_states=True)
    return venv, trajectories


def episode_frames(world, trajectories: list[Trajectory], cell_size: int = 32,
                   linger: int = 3) -> list[np.ndarray]:
    """Every state of every episode drawn, each ending held for ``linger`` more frames."""
    from socius.viz.render import Renderer

    renderer = Renderer(world, mode="rgb_array", cell_size=cell_size)
    frames = []
    for trajectory in trajectories:
        if trajectory.states is None:
            raise ValueError("episode_frames needs episodes recorded with their states")
        spoken = [None, *trajectory.actions]
        frames.extend(renderer.draw(state, 0, said)
                      for state, said in zip(trajectory.states, spoken))
        frames.extend([frames[-1]] * linger)
    renderer.close()
    return frames


def record(target: str | Path, out: str | Path, episodes: int = 2, seed: int = 0,
           policy: str = "scripted", settings: dict[str, Any] | None = None,
           fps: float = 6, cell_size: int = 32, dataset: str | Path | None = None) -> dict:
    """Play ``episodes`` of ``target`` headless and write them as a GIF or MP4 at ``out``
    (and, when ``dataset`` is given, as a dataset for ``socius replay``)."""
    from socius.viz.gif import save_video

    run_data = Path(target) / "dataset.npz"
    if str(target) not in ENVIRONMENTS and run_data.is_file() and \
            _experiment(target) not in PLAYABLE_EXPERIMENTS:
        # A collection run has no seatable agents, but its data replays.
        from socius.societies.viewer.replay import load_episodes

        world, trajectories = load_episodes(run_data, limit=episodes)
        label = str(run_data)
    else:
        cast = cast_for(target, policy, settings)
        venv, trajectories = play_episodes(cast, episodes, seed)
        world, label = venv.world, cast.label
    if not str(out).lower().endswith((".gif", ".mp4")):
        raise ValueError(f"out must end in .gif or .mp4; got {str(out)!r}")
    frames = episode_frames(world, trajectories, cell_size)
    save_video(frames, out, fps=fps)
    if dataset is not None:
        from socius.societies.engine.datasets import save_dataset

        save_dataset(dataset, trajectories, {"played_by": label}, world=world)
    return {"video": str(out), "frames": len(frames), "episodes": len(trajectories),
            "env": world.name, "played_by": label,
            "mean_return": float(np.mean([t.rewards.sum() for t in trajectories]))}


def _experiment(run_dir: str | Path) -> str:
    from socius.societies.runs.directory import RunDirectory

    return RunDirectory(run_dir).experiment()
