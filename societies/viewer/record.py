"""``socius record``: play episodes headless and write them as a GIF or MP4 (and, if
asked, as a dataset that ``socius replay`` reads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from socius.envs import ENVIRONMENTS
from socius.envs.render import Renderer
from socius.societies.engine.datasets import save_dataset
from socius.societies.engine.rollout import Trajectory
from socius.societies.experiments import experiment_of
from socius.societies.viewer.cast import play_episodes
from socius.societies.viewer.replay import load_episodes
from socius.societies.viewer.seating import cast_for
from socius.societies.viewer.video import save_video


def episode_frames(world, trajectories: list[Trajectory], cell_size: int = 32,
                   linger: int = 3) -> list[np.ndarray]:
    """Every state of every episode drawn, each ending held for ``linger`` more frames."""
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
           policy: str = "scripted", overrides: list[str] | tuple[str, ...] = (),
           fps: float = 6, cell_size: int = 32, dataset: str | Path | None = None) -> dict:
    """Play ``episodes`` of ``target`` headless and write them as a GIF or MP4 at ``out``
    (and, when ``dataset`` is given, as a dataset for ``socius replay``)."""
    if not str(out).lower().endswith((".gif", ".mp4")):
        raise ValueError(f"out must end in .gif or .mp4; got {str(out)!r}")
    run_data = Path(target) / "dataset.npz"
    if (str(target) not in ENVIRONMENTS and run_data.is_file()
            and experiment_of(target).load_policy is None):
        # A collection run has no seatable agents, but its data replays.
        world, trajectories = load_episodes(run_data, limit=episodes)
        label = str(run_data)
    else:
        cast = cast_for(target, policy, overrides)
        venv, trajectories = play_episodes(cast, episodes, seed)
        world, label = venv.world, cast.label
    frames = episode_frames(world, trajectories, cell_size)
    save_video(frames, out, fps=fps)
    if dataset is not None:
        save_dataset(dataset, trajectories, {"played_by": label}, world=world)
    return {"video": str(out), "frames": len(frames), "episodes": len(trajectories),
            "env": world.name, "played_by": label,
            "mean_return": float(np.mean([t.rewards.sum() for t in trajectories]))}
