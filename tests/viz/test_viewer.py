"""The viewer's screen and the figures: egocentric views, the message strip, heatmaps and
video files."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from socius.envs import goal_cycle_v0, referential_v0  # noqa: E402
from socius.envs.render import Renderer, role_colour  # noqa: E402
from socius.societies.runs.figures import save_figure  # noqa: E402
from socius.societies.viewer.video import save_video  # noqa: E402
from socius.viz.plots import matrix_heatmap  # noqa: E402
from socius.viz.viewer import PANEL_WIDTH, Overlay, Screen  # noqa: E402


def test_the_egocentric_view_puts_the_agent_at_its_centre_in_its_role_colour():
    env = goal_cycle_v0.parallel_env(num_agents=2, view_radius=2)
    observation, _ = env.reset(seed=0)
    renderer = Renderer(env.world, cell_size=20)
    view = observation["agent_0"]["view"]
    picture = renderer.draw_view(view)
    assert picture.shape == (5 * 20, 5 * 20, 3)
    assert tuple(picture[50, 50]) == role_colour(int(env.world.agent_role[0]))
    with pytest.raises(ValueError, match=r"view must be uint8 \[5, S, S\]"):
        renderer.draw_view(view[:3])


def overlay_for(world, messages, cursor, follow=None, view=None):
    return Overlay(status="test", agent_names=tuple(world.agent_names),
                   roles=tuple(int(r) for r in world.agent_role), messages=messages,
                   cursor=cursor, follow=follow, view=view, lines=("a line",))


def test_the_strip_shows_each_spoken_token_in_its_colour_and_moves_with_the_cursor():
    env = referential_v0.parallel_env()
    env.reset(seed=0)
    world = env.world
    frame = np.zeros((300, 200, 3), np.uint8)
    silent = np.full((6, world.num_agents, world.config.message_length), -1)
    spoken = silent.copy()
    spoken[2, 0] = [3, 1]
    screen = Screen(mode="rgb_array", strip_steps=10)
    quiet = screen.compose(frame, overlay_for(world, silent, 3))
    talking = screen.compose(frame, overlay_for(world, spoken, 3))
    later = screen.compose(frame, overlay_for(world, spoken, 5))
    screen.close()
    assert quiet.shape[1] == 200 + PANEL_WIDTH and quiet.shape[0] > 300
    assert np.array_equal(quiet[:300, :200], frame), "the world frame sits at the top left"
    strip = slice(300, None)
    assert not np.array_equal(quiet[strip], talking[strip])
    assert not np.array_equal(talking[strip], later[strip])


def test_the_panel_shows_the_followed_agents_view():
    env = goal_cycle_v0.parallel_env(num_agents=2)
    observation, _ = env.reset(seed=0)
    renderer = Renderer(env.world, cell_size=20)
    frame = np.zeros((200, 200, 3), np.uint8)
    messages = np.zeros((0, 2, 0), np.int64)
    screen = Screen(mode="rgb_array")
    without = screen.compose(frame, overlay_for(env.world, messages, 0))
    view = renderer.draw_view(observation["agent_1"]["view"])
    with_view = screen.compose(frame, overlay_for(env.world, messages, 0, 1, view))
    screen.close()
    panel = (slice(0, 300), slice(208, None))
    assert not np.array_equal(without[panel], with_view[panel])


def test_matrix_heatmap_writes_a_png_and_refuses_other_shapes(tmp_path):
    matrix = np.array([[0.9, 0.1], [np.nan, 0.5]])
    save_figure(matrix_heatmap(matrix, "cross-play", "listener", "speaker"), tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 5_000
    with pytest.raises(ValueError, match="matrix must be 2-D"):
        matrix_heatmap(np.zeros(3), "t", "x", "y")


def test_video_suffix_decides_the_format(tmp_path):
    frames = [np.full((31, 45, 3), value, np.uint8) for value in (0, 120, 240)]
    save_video(frames, tmp_path / "v.gif", fps=5)
    assert (tmp_path / "v.gif").stat().st_size > 0
    with pytest.raises(ValueError, match=r"out must end in \.gif or \.mp4"):
        save_video(frames, tmp_path / "v.avi")


def test_mp4_holds_every_frame_with_even_sides(tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="the socius[video] extra is not installed "
                                                 "(pip install 'socius[video]')")
    import imageio.v3 as iio

    frames = [np.full((31, 45, 3), value, np.uint8) for value in (0, 120, 240)]
    save_video(frames, tmp_path / "v.mp4", fps=5)
    video = iio.imread(tmp_path / "v.mp4")
    assert video.shape == (3, 32, 46, 3)
    assert abs(int(video[1].mean()) - 120) < 8
