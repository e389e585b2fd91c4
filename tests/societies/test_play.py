"""The viewer's loops, driven headless by posted pygame events: ``socius play`` steps the
world with the keyboard in one seat, ``socius replay`` scrubs recorded episodes, and
``socius record`` writes them as video."""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"

import json  # noqa: E402

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402

from socius.envs.render import Renderer, role_colour  # noqa: E402
from socius.societies.cli import main  # noqa: E402
from socius.societies.experiments import experiment  # noqa: E402
from socius.societies.viewer.cast import built_in_policy  # noqa: E402
from socius.societies.viewer.play import MOVE_KEYS, PlaySession, play_frame, run_viewer, seat_of  # noqa: E402,E501
from socius.societies.viewer.record import record  # noqa: E402
from socius.societies.viewer.replay import ReplaySession, load_episodes, replay  # noqa: E402
from socius.societies.viewer.seating import cast_for  # noqa: E402
from socius.viz.viewer import Screen  # noqa: E402

KEY_CODES = {"up": pygame.K_UP, "down": pygame.K_DOWN, "left": pygame.K_LEFT,
             "right": pygame.K_RIGHT, ".": pygame.K_PERIOD}


def post(key: int) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key))


def colour_at(frame, renderer, row, col):
    x, y = renderer.cell_centre(int(row), int(col))
    return tuple(int(v) for v in frame[y, x])


def test_posted_arrow_keys_move_the_seat_and_the_frames_follow():
    cast = cast_for("maze_v0", "scripted", ["layout=open", "size=7"])
    session = PlaySession(cast, seat=0, seed=3)
    screen = Screen(mode="rgb_array")
    screen.open()
    renderer = Renderer(session.world, mode="rgb_array")
    moves, positions = [], []

    def frame_of(current):
        # After each composed frame, press an arrow the seat's action mask allows.
        frame, overlay = play_frame(current, renderer)
        positions.append((int(current.states[-1].row[0, 0]), int(current.states[-1].col[0, 0])))
        if len(moves) < 4:
            allowed = current.observation["action_mask"][0, 0]
            name = next(n for n in ("right", "down", "left", "up") if allowed[MOVE_KEYS[n]])
            moves.append(name)
            post(KEY_CODES[name])
        else:
            post(pygame.K_q)
        return frame, overlay

    frames = run_viewer(session, screen, frame_of, max_frames=20)
    assert session.quit and len(frames) == 6 and len(session.states) == 5
    steps = {"right": (0, 1), "down": (1, 0), "left": (0, -1), "up": (-1, 0)}
    for before, after, name in zip(positions, positions[1:], moves):
        assert np.subtract(after, before).tolist() == list(steps[name])
    for earlier, later in zip(frames, frames[1:5]):
        assert not np.array_equal(earlier, later), "a move must change the frame"
    colour = role_colour(int(session.world.agent_role[0]))
    assert colour_at(frames[4], renderer, *positions[4]) == colour
    assert colour_at(frames[4], renderer, *positions[0]) != colour


def test_spectating_runs_at_its_speed_and_pause_step_speed_reset_work():
    session = PlaySession(cast_for("goal_cycle_v0", "scripted"), seat=None, speed=4)
    session.tick(1.0)
    assert len(session.states) == 5  # four steps in one second at 4 steps/s
    session.handle_key("space")
    session.tick(1.0)
    assert session.paused and len(session.states) == 5
    session.handle_key("n")
    assert len(session.states) == 6
    session.handle_key("+")
    session.handle_key("space")
    session.tick(0.5)
    assert session.speed == 8 and len(session.states) == 10
    session.handle_key("r")
    assert len(session.states) == 1 and session.messages.shape[0] == 0


def test_with_a_seat_the_world_waits_for_its_moves_unless_realtime():
    cast = cast_for("goal_cycle_v0", "scripted")
    waiting = PlaySession(cast, seat=1)
    waiting.tick(5.0)
    assert len(waiting.states) == 1
    realtime = PlaySession(cast, seat=1, realtime=True, speed=2)
    realtime.tick(1.0)
    assert len(realtime.states) == 3
    assert realtime.states[-1].last_move[0, 1] == 0, "an idle seat stays"


def test_digit_keys_put_tokens_in_the_seats_next_message():
    cast = cast_for("referential_v0", "scripted", ["vocab_size=8"])
    speaker = seat_of(cast, "speaker_0")
    session = PlaySession(cast, seat=speaker)
    session.handle_key("3")
    session.handle_key("9")  # outside the vocabulary: refused with a note, not clipped
    assert "outside the vocabulary 0..7" in session.note
    session.handle_key("n")
    assert session.messages[-1, speaker, 0] == 3
    session.handle_key("backspace")
    session.handle_key("n")
    assert session.messages[-1, speaker, 0] == 0


def test_seats_are_named_or_numbered_and_unknown_ones_are_errors():
    cast = cast_for("referential_v0", "scripted")
    assert seat_of(cast, None) == 1  # the speaker stands outside the room; the listener is in
    assert seat_of(cast, "listener_0") == 1 and seat_of(cast, "0") == 0
    assert seat_of(cast, "none") is None
    with pytest.raises(ValueError, match="unknown agent 'ghost'"):
        seat_of(cast, "ghost")


def test_bad_targets_and_settings_are_errors_that_name_them(tmp_path):
    with pytest.raises(ValueError, match="neither an environment"):
        cast_for(tmp_path / "missing")
    with pytest.raises(ValueError, match="policy must be 'scripted', 'random'"):
        built_in_policy(None, "clever")
    with pytest.raises(ValueError, match="is not 'scripted', 'random' or a run directory"):
        cast_for("maze_v0", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="must look like key=value"):
        cast_for("maze_v0", "scripted", ["size"])
    with pytest.raises(ValueError, match=r"unknown config key 'sise' for MazeConfig.*'size'"):
        cast_for("maze_v0", "scripted", ["sise=9"])
    with pytest.raises(ValueError, match="out must end in .gif or .mp4"):
        record("maze_v0", tmp_path / "video.avi")
    assert not (tmp_path / "video.avi").exists()
    with pytest.raises(ValueError, match="no dataset at"):
        load_episodes(tmp_path / "missing.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a dataset")
    with pytest.raises(ValueError, match="not a readable socius dataset"):
        load_episodes(tmp_path / "broken.npz")


def test_a_language_runs_agents_play_in_their_own_world(tmp_path):
    language = experiment("language")
    settings = ["rounds=2", "eval_every=2", "num_envs=16", "eval_envs=16", "population=2",
                "world.room_size=3", "world.view_radius=2", "world.num_objects=2",
                "world.contrast=none"]
    language.run(language.config_from({}, settings), tmp_path / "language", progress=False)
    cast = cast_for(tmp_path / "language")
    assert cast.env_name == "referential_v0" and cast.world.config.room_size == 3
    session = PlaySession(cast, seat=None)
    session.tick(1.0)
    assert len(session.states) == 5
    with pytest.raises(ValueError, match="drop --set"):
        cast_for(tmp_path / "language", overrides=["room_size=4"])


@pytest.fixture
def recorded(tmp_path):
    """Two scripted goal_cycle episodes as a GIF and a dataset."""
    report = record("goal_cycle_v0", tmp_path / "episodes.gif", episodes=2, seed=1,
                    overrides=["num_agents=2", "max_cycles=12"], dataset=tmp_path / "episodes.npz")
    return tmp_path, report


def test_record_writes_every_step_of_every_episode(recorded):
    import imageio.v3 as iio

    folder, report = recorded
    frames = iio.imread(folder / "episodes.gif")
    assert report["episodes"] == 2 and report["frames"] == 2 * (12 + 1 + 3)
    # The GIF writer folds the held ending frames into one longer frame.
    assert len(frames) >= 2 * (12 + 1)
    assert not np.array_equal(frames[0], frames[5])


def test_replayed_states_give_back_the_recorded_observations(recorded):
    folder, _ = recorded
    world, episodes = load_episodes(folder / "episodes.npz")
    assert len(episodes) == 2
    for episode in episodes:
        assert len(episode.states) == episode.length + 1
        rows = np.array([s.row[0] for s in episode.states])
        assert np.array_equal(rows, episode.observations["position"][..., 0])


def test_a_dataset_from_another_world_is_refused_by_name(recorded):
    from socius.societies.engine.datasets import load_dataset, save_dataset
    from socius.societies.viewer.replay import world_from_metadata

    folder, _ = recorded
    dataset = load_dataset(folder / "episodes.npz")
    episode = dataset.episodes[0]
    changed = episode.actions.copy()
    changed[:, :, 0] = (changed[:, :, 0] % 4) + 1  # other moves than were recorded
    import dataclasses

    save_dataset(folder / "changed.npz", [dataclasses.replace(episode, actions=changed)],
                 world=world_from_metadata(dataset.metadata))
    with pytest.raises(ValueError, match="observations/(view|position)"):
        load_episodes(folder / "changed.npz")


def test_replay_scrubs_back_and_forth_and_follows_the_chosen_agent(recorded):
    folder, _ = recorded
    world, episodes = load_episodes(folder / "episodes.npz")
    session = ReplaySession(world, episodes)
    session.handle_key("right")
    session.handle_key("right")
    session.handle_key("left")
    assert session.step == 1
    session.handle_key("end")
    assert session.step == episodes[0].length
    session.handle_key("right")
    assert session.step == episodes[0].length, "the cursor stays inside the episode"
    session.handle_key("page down")
    assert session.index == 1 and session.step == 0
    session.handle_key("1")
    assert session.follow == 1
    session.handle_key("space")
    session.tick(1.0)
    assert session.step == 4


def test_the_replay_window_is_driven_by_posted_keys(recorded):
    folder, _ = recorded
    pygame.display.init()
    for key in (pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_f):
        post(key)
    session = replay(folder / "episodes.npz", mode="rgb_array", max_frames=2)
    assert session.step == 2 and session.follow == 1
    assert len(session.frames) == 2
    first = session.frames[0]
    assert first.shape[0] > 400 and first.std() > 10


def test_cli_record_and_plot_overlay(tmp_path, capsys):
    from socius.societies.collection.train import CollectConfig
    from socius.societies.runs.directory import RunDirectory

    assert main(["record", "maze_v0", "--out", str(tmp_path / "maze.gif"), "--episodes", "1",
                 "--set", "layout=open", "size=6"]) == 0
    assert json.loads(capsys.readouterr().out)["env"] == "maze_v0"
    assert (tmp_path / "maze.gif").stat().st_size > 0
    for name, slope in (("fast-seed0", 0.02), ("fast-seed1", 0.03), ("slow-seed0", 0.01)):
        run = RunDirectory.create(tmp_path / name, CollectConfig(), experiment="collect")
        for step in range(1, 6):
            run.append({"steps": 100 * step, "coverage": slope * step, "tv_in_view": 0.0,
                        "disagreement": 1.0 / step})
    runs = [str(tmp_path / n) for n in ("fast-seed0", "fast-seed1", "slow-seed0")]
    assert main(["plot", *runs, "--out", str(tmp_path / "overlay.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conditions"] == {"fast": 2, "slow": 1}
    assert (tmp_path / "overlay.png").stat().st_size > 10_000
    RunDirectory.create(tmp_path / "other", CollectConfig(), experiment="imitation")
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", runs[0], str(tmp_path / "other"), "--out", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2
    assert "runs of one experiment overlay" in capsys.readouterr().err
