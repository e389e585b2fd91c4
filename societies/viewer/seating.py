"""Which cast a command-line target names: an environment played by its scripted experts
or by random walkers, or a run directory's world and trained agents (read through the
experiment registry, so no experiment is named here)."""

from __future__ import annotations

from pathlib import Path

from socius.envs import ENVIRONMENTS
from socius.envs.settings import configure
from socius.envs.world import World
from socius.societies.experiments import EXPERIMENTS, experiment_of
from socius.societies.viewer.cast import Cast, built_in_policy


def world_of(env_name: str, overrides: list[str] | tuple[str, ...] = ()) -> World:
    """The world of ``env_name`` with ``key=value`` settings (the one override mechanism)."""
    module = ENVIRONMENTS[env_name]
    return module.build_world(configure(module.CONFIG, overrides=overrides))


def cast_for(target: str | Path, policy: str = "scripted",
             overrides: list[str] | tuple[str, ...] = ()) -> Cast:
    """The world and policies of ``target`` (an environment name or a run directory)."""
    if str(target) in ENVIRONMENTS:
        name = str(target)
        if policy in ("scripted", "random"):
            world = world_of(name, overrides)
            return Cast(name, world, built_in_policy(world, policy), policy)
        run = run_cast(policy)
        if run.env_name != name:
            raise ValueError(f"policy: run {policy} plays {run.env_name}, not {name}")
        if overrides:
            raise ValueError("settings: a run's agents play in the run's own world; "
                             "drop --set when --policy is a run directory")
        return run
    if not Path(target).is_dir():
        raise ValueError(f"target: {target!r} is neither an environment "
                         f"({', '.join(ENVIRONMENTS)}) nor a run directory")
    if overrides:
        raise ValueError("settings: a run directory brings its own world; drop --set")
    if policy != "scripted":
        raise ValueError("policy: a run directory brings its own agents; drop --policy")
    return run_cast(target)


def playable() -> list[str]:
    """The experiments whose runs hold agents the viewer can seat."""
    return [name for name, record in EXPERIMENTS.items() if record.load_policy is not None]


def run_cast(run_dir: str | Path) -> Cast:
    """The world and trained agents of a run's last checkpoint."""
    if not Path(run_dir).is_dir():
        raise ValueError(f"policy: {run_dir!r} is not 'scripted', 'random' or a run directory")
    experiment = experiment_of(run_dir)
    if experiment.load_policy is None:
        raise ValueError(f"{run_dir} is a {experiment.name} run; the viewer seats agents of "
                         f"{', '.join(playable())} runs (replay a run's dataset.npz with "
                         "'socius replay')")
    return experiment.load_policy(run_dir)
