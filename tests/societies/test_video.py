"""Rendered frames written to GIF and PNG files read back unchanged, and atomically."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import imageio.v3 as iio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from socius.envs import referential_v0  # noqa: E402
from socius.societies.viewer.video import save_gif, save_png  # noqa: E402


def make_env():
    env = referential_v0.parallel_env(render_mode="rgb_array")
    env.reset(seed=0)
    return env


def stay_actions(env, token=0):
    return {a: np.array([0] + [token] * env.world.config.message_length) for a in env.agents}


def test_save_gif_and_png_are_readable_and_atomic(tmp_path):
    env = make_env()
    frames = [env.render()]
    for token in range(3):
        env.step(stay_actions(env, token=token))
        frames.append(env.render())
    gif_path, png_path = tmp_path / "episode.gif", tmp_path / "frame.png"
    save_gif(frames, gif_path, fps=4)
    save_png(frames[0], png_path)
    stack = iio.imread(gif_path, index=None)
    assert stack.shape[0] == len(frames) and stack.shape[1:3] == frames[0].shape[:2]
    assert np.array_equal(iio.imread(png_path)[..., :3], frames[0])
    assert sorted(os.listdir(tmp_path)) == ["episode.gif", "frame.png"]
    with pytest.raises(ValueError):
        save_gif([], tmp_path / "empty.gif")
    assert sorted(os.listdir(tmp_path)) == ["episode.gif", "frame.png"]
