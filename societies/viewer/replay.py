"""``socius replay``: walk through recorded episodes, forward and back.

Datasets keep observations and actions, not world states. The states come back by
replaying each episode's actions from its start, which (seed, environment index,
episode) fix; the replayed observations must equal the recorded ones, or the file does
not belong to this version of the world and the replay stops with an error.

Keys: Left/Right step back and forth (Home/End jump), Space plays or pauses, + and -
change the speed, PageUp/PageDown change the episode, F or Tab (or a digit) picks the
agent to follow, Esc or Q quits.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from socius.envs import ENVIRONMENTS, core
from socius.envs.render import Renderer
from socius.envs.settings import configure
from socius.envs.world import World
from socius.societies.engine.datasets import load_dataset
from socius.societies.engine.rollout import Trajectory
from socius.societies.viewer.play import SPEEDS, run_viewer
from socius.viz.viewer import Overlay, Screen


def world_from_metadata(metadata: dict[str, Any]) -> World:
    """The world a dataset was recorded in, rebuilt from its saved config."""
    name = metadata.get("env_name")
    if name not in ENVIRONMENTS:
        raise ValueError(f"env_name: the dataset names {name!r}; expected one of "
                         f"{sorted(ENVIRONMENTS)}")
    module = ENVIRONMENTS[name]

    def frozen(value):
        return tuple(frozen(v) for v in value) if isinstance(value, list) else value

    config = {key: frozen(value) for key, value in metadata["config"].items()}
    return module.build_world(configure(module.CONFIG, config))


def replay_states(world: World, episode: Trajectory) -> Trajectory:
    """``episode`` with its world states, rebuilt by replaying its actions from its start."""
    state, observation = core.reset(world, episode.seed, 1,
                                    env_index=np.array([episode.env_index]),
                                    episode=episode.episode)
    states = [state]
    for step in range(episode.length):
        _check_same(observation, episode, step)
        state, result = core.step(world, state, episode.actions[step][None], auto_reset=False)
        observation = result.observation
        states.append(state)
    _check_same(observation, episode, episode.length)
    return dataclasses.replace(episode, states=tuple(states))


def _check_same(observation: dict[str, np.ndarray], episode: Trajectory, step: int) -> None:
    for key in ("view", "position"):
        if key in episode.observations and not np.array_equal(
                observation[key][0], episode.observations[key][step]):
            raise ValueError(f"observations/{key}: replaying episode {episode.episode} "
                             f"(seed {episode.seed}, env {episode.env_index}) gives another "
                             f"observation at step {step}; the file was recorded in another "
                             "version or config of the world")


def load_episodes(path: str | Path, limit: int | None = None) -> tuple[World, list[Trajectory]]:
    """The world and the first ``limit`` episodes (all by default) of a dataset, with states."""

    if not Path(path).is_file():
        raise ValueError(f"file: no dataset at {path} (replay reads .npz files written by "
                         "socius, e.g. 'socius record ENV --out x.gif --dataset x.npz')")
    dataset = load_dataset(path)
    world = world_from_metadata(dataset.metadata)
    episodes = dataset.episodes if limit is None else dataset.episodes[:limit]
    if not episodes:
        raise ValueError(f"{path} holds no episodes")
    return world, [replay_states(world, episode) for episode in episodes]


class ReplaySession:
    """A cursor over recorded episodes: which episode, which step, whom to follow."""

    def __init__(self, world: World, episodes: list[Trajectory], speed: int = 4):
        if not episodes or any(e.states is None for e in episodes):
            raise ValueError("episodes: replay needs at least one episode with its states")
        if speed not in SPEEDS:
            raise ValueError(f"speed must be one of {SPEEDS}; got {speed!r}")
        self.world, self.episodes, self.speed = world, episodes, speed
        self.index = self.step = self.follow = 0
        self.playing, self.quit = False, False
        self.frames: list[np.ndarray] = []
        """Composed screens of an off-screen run (tests); empty with a window."""
        self._clock = 0.0

    @property
    def episode(self) -> Trajectory:
        """The episode on screen."""
        return self.episodes[self.index]

    def seek(self, step: int) -> None:
        """Move the cursor to ``step``, kept within the episode (0..T)."""
        self.step = int(np.clip(step, 0, self.episode.length))

    def handle_key(self, name: str) -> None:
        """React to one key, named as ``pygame.key.name`` names it."""
        agents = self.world.num_agents
        if name in ("escape", "q"):
            self.quit = True
        elif name == "right":
            self.seek(self.step + 1)
        elif name == "left":
            self.seek(self.step - 1)
        elif name == "home":
            self.seek(0)
        elif name == "end":
            self.seek(self.episode.length)
        elif name == "space":
            self.playing = not self.playing
        elif name in ("+", "=", "[+]"):
            self.speed = SPEEDS[min(SPEEDS.index(self.speed) + 1, len(SPEEDS) - 1)]
        elif name in ("-", "[-]"):
            self.speed = SPEEDS[max(SPEEDS.index(self.speed) - 1, 0)]
        elif name in ("page down", "page up"):
            shift = 1 if name == "page down" else -1
            self.index = (self.index + shift) % len(self.episodes)
            self.seek(0)
        elif name in ("f", "tab"):
            self.follow = (self.follow + 1) % agents
        elif name.isdigit() and int(name) < agents:
            self.follow = int(name)

    def tick(self, seconds: float) -> None:
        """While playing, advance at the chosen speed and stop at the episode's end."""
        if not self.playing:
            self._clock = 0.0
            return
        self._clock += seconds
        while self._clock >= 1.0 / self.speed:
            self._clock -= 1.0 / self.speed
            if self.step >= self.episode.length:
                self.playing = False
                break
            self.seek(self.step + 1)

    def status(self) -> str:
        """One line: episode, step and whether it plays."""
        state = f"playing {self.speed}/s" if self.playing else "paused"
        return (f"episode {self.index + 1}/{len(self.episodes)} | step {self.step}/"
                f"{self.episode.length} | {state}")

    def overlay_lines(self) -> tuple[str, ...]:
        """The followed agent's goal and return so far, then the keys."""
        episode = self.episode
        goal = " ".join(str(int(g)) for g in episode.goals[self.step, self.follow])
        earned = float(episode.rewards[:self.step, self.follow].sum())
        who = episode.policy_ids[self.follow] if episode.policy_ids else "?"
        return (f"goal of agent {self.follow}: {goal}", f"return so far: {earned:.2f}",
                f"played by: {who}", "", "Left/Right step  Home/End", "Space play  +/- speed",
                "PgUp/PgDn episode", "F/Tab/digit follow  Q quit")


def replay_frame(session: ReplaySession, renderer, view_cell: int = 24):
    """The world frame and the overlay at the replay's cursor."""

    episode, world = session.episode, session.world
    frame = renderer.draw(episode.states[session.step], 0)
    view = np.asarray(episode.observations["view"][session.step, session.follow])
    overlay = Overlay(status=session.status(), agent_names=tuple(world.agent_names),
                      roles=tuple(int(r) for r in world.agent_role),
                      messages=episode.messages, cursor=session.step,
                      follow=session.follow, view=renderer.draw_view(view, view_cell),
                      lines=session.overlay_lines())
    return frame, overlay


def replay(path: str | Path, mode: str = "human", max_frames: int | None = None,
           speed: int = 4, cell_size: int = 32) -> ReplaySession:
    """Open the viewer on the episodes of the dataset at ``path`` until it quits."""

    world, episodes = load_episodes(path)
    session = ReplaySession(world, episodes, speed=speed)
    screen = Screen(mode=mode, strip_steps=max(e.length for e in episodes))
    screen.open()
    renderer = Renderer(world, mode="rgb_array", cell_size=cell_size)
    session.frames = run_viewer(session, screen, lambda s: replay_frame(s, renderer),
                                max_frames=max_frames)
    renderer.close()
    return session
