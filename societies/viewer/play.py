"""``socius play``: step a world with a human at the keyboard in one agent's seat.

This is a rollout with a human policy, so it lives here and not in ``viz`` (which only
draws). The other agents follow a :class:`~socius.societies.viewer.cast.Cast`: scripted
experts, random walkers or a run's trained agents.

Keys: arrows or WASD move (``.`` waits); digits choose the tokens of the next message
(Backspace clears them); Space pauses, N steps once while paused, + and - change the
speed, R resets, Tab changes the seat the keyboard controls, F the agent whose view is
shown, Esc or Q quits. With a seat taken, the world waits for each of its moves unless
``realtime`` is set, in which case it runs at the chosen speed and the seat repeats
``stay`` until a key is pressed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from socius.agents.scripted import Privileged, SeatedPolicy, as_numpy
from socius.envs.render import Renderer
from socius.societies.viewer.cast import Cast
from socius.societies.viewer.video import save_png
from socius.viz.viewer import Overlay, Screen

MOVE_KEYS = {"up": 1, "w": 1, "down": 2, "s": 2, "left": 3, "a": 3, "right": 4, "d": 4,
             ".": 0}
"""Key name -> move (0 stay, 1 up, 2 down, 3 left, 4 right)."""
SPEEDS = (1, 2, 4, 8, 16, 32)
"""Steps per second the world can run at."""


class KeyboardPolicy:
    """The seat's next action as the keys set it: one move and up to L tokens."""

    def __init__(self, message_length: int):
        self.message_length = message_length
        self.move = 0
        self.tokens: list[int] = []

    def initial_state(self, batch: int) -> None:
        """No memory: the human remembers."""
        return None

    def act(self, observation, state, done, generator, privileged=None):
        """The pending action for every agent (the seat's column is the one used)."""
        batch, agents = observation["position"].shape[:2]
        action = np.zeros((batch, agents, 1 + self.message_length), dtype=np.int64)
        action[..., 0] = self.move
        tokens = self.tokens[:self.message_length]
        action[..., 1:1 + len(tokens)] = tokens
        return action, state


class PlaySession:
    """One world in play: its state, who acts, and the viewer's controls."""

    def __init__(self, cast: Cast, seat: int | None = 0, seed: int = 0,
                 realtime: bool = False, speed: int = 4):
        self.cast = cast
        self.venv = cast.vector(seed, auto_reset=False)
        self.world = self.venv.world
        if seat is not None and not 0 <= seat < self.world.num_agents:
            raise ValueError(f"agent: seat {seat} is not one of 0..{self.world.num_agents - 1}")
        if speed not in SPEEDS:
            raise ValueError(f"speed must be one of {SPEEDS}; got {speed!r}")
        self.keyboard = KeyboardPolicy(self.world.config.message_length)
        self.seed, self.realtime, self.speed = seed, realtime, speed
        self.seat = seat
        self.follow = int(np.flatnonzero(self.world.embodied)[0]) if seat is None else seat
        self.paused = False
        self.quit = False
        self.note = ""
        self.frames: list[np.ndarray] = []
        """Composed screens of an off-screen run (tests); empty with a window."""
        self._generator = np.random.default_rng(seed)
        self._clock = 0.0
        self.reset(new_episode=False)

    @property
    def policy(self):
        """The cast's policy, with the keyboard in the seat (if one is taken)."""
        if self.seat is None:
            return self.cast.policy
        return SeatedPolicy(self.keyboard, self.cast.policy, seat=self.seat)

    def reset(self, new_episode: bool = True) -> None:
        """Start the next episode (or the first one)."""
        observation = self.venv.reset(seed=None if new_episode else self.seed)
        self.observation = as_numpy(observation)
        self.policy_state = {"seat": None, "others": self.cast.policy.initial_state(1)}
        self.done = np.ones(1, dtype=bool)
        self.ended = False
        self.states = [self.venv.state]
        self.messages = np.zeros((0, self.world.num_agents, self.world.config.message_length),
                                 dtype=np.int64)
        self.returns = np.zeros(self.world.num_agents)

    def step(self) -> None:
        """Advance the world by one step (after an ended episode, start the next one)."""
        if self.ended:
            self.reset()
            return

        state = self.venv.state
        if self.seat is None:
            action, others = self.cast.policy.act(self.observation, self.policy_state["others"],
                                                  self.done, self._generator,
                                                  Privileged(self.world, state))
            self.policy_state = {"seat": None, "others": others}
        else:
            action, self.policy_state = self.policy.act(
                self.observation, self.policy_state, self.done, self._generator,
                Privileged(self.world, state))
        action = np.asarray(action, dtype=np.int64)
        observation, reward, terminated, truncated, info = self.venv.step(torch.as_tensor(action))
        self.observation = as_numpy(observation)
        self.done = (terminated | truncated).numpy()
        self.ended = bool(self.done[0])
        self.returns += reward.numpy()[0]
        self.states.append(self.venv.state)
        self.messages = np.concatenate([self.messages, info["message"].numpy()])
        self.keyboard.move = 0

    def handle_key(self, name: str) -> None:
        """React to one key, named as ``pygame.key.name`` names it."""
        if name in ("escape", "q"):
            self.quit = True
        elif name in MOVE_KEYS and self.seat is not None:
            self.keyboard.move = MOVE_KEYS[name]
            if not self.realtime:
                self.step()
        elif name == "space":
            self.paused = not self.paused
        elif name == "n":
            self.step()
        elif name in ("+", "=", "[+]"):
            self.speed = SPEEDS[min(SPEEDS.index(self.speed) + 1, len(SPEEDS) - 1)]
        elif name in ("-", "[-]"):
            self.speed = SPEEDS[max(SPEEDS.index(self.speed) - 1, 0)]
        elif name == "r":
            self.reset()
        elif name == "tab":
            agents = self.world.num_agents
            self.seat = 0 if self.seat is None else (self.seat + 1) % agents
            self.follow = self.seat
        elif name == "f":
            self.follow = (self.follow + 1) % self.world.num_agents
        elif name == "backspace":
            self.keyboard.tokens = []
        elif name.strip("[]").isdigit() and len(name.strip("[]")) == 1:
            self._type_token(int(name.strip("[]")))

    def tick(self, seconds: float) -> None:
        """Let ``seconds`` of wall time pass: the world runs on its own unless it waits."""
        runs_alone = self.seat is None or self.realtime
        if self.paused or not runs_alone:
            self._clock = 0.0
            return
        self._clock += seconds
        while self._clock >= 1.0 / self.speed and not self.quit:
            self._clock -= 1.0 / self.speed
            self.step()

    def overlay_lines(self) -> tuple[str, ...]:
        """The panel's lines: the followed agent's goal, the message being typed, the keys."""
        config = self.world.config
        goal = " ".join(str(int(g)) for g in self.states[-1].goal[0, self.follow])
        lines = [f"goal of agent {self.follow}: {goal}",
                 f"return so far: {self.returns[self.follow]:.2f}"]
        if self.seat is not None and config.message_length:
            typed = " ".join(map(str, self.keyboard.tokens)) or "(silence)"
            lines.append(f"next message: {typed}")
        if self.ended:
            lines.append("episode over: a move or N: next one")
        if self.note:
            lines.append(self.note)
        lines += ["", "arrows/WASD move  . wait", "digits: tokens  Bksp: clear",
                  "Space pause  N step  +/- speed", "R reset  Tab seat  F follow  Q quit"]
        return tuple(lines)

    def status(self) -> str:
        """One line: who the keyboard controls, pause state, speed and step."""
        seat = "spectating" if self.seat is None else f"you: {self.world.agent_names[self.seat]}"
        state = "PAUSED" if self.paused else ("waits for you" if self.seat is not None
                                              and not self.realtime else f"{self.speed}/s")
        return f"{seat} | {state} | step {len(self.states) - 1}"

    def _type_token(self, token: int) -> None:
        config = self.world.config
        if self.seat is None or config.message_length == 0:
            self.note = "this world has no messages" if config.message_length == 0 else \
                "take a seat (Tab) to speak"
        elif token >= config.vocab_size:
            self.note = f"token {token} is outside the vocabulary 0..{config.vocab_size - 1}"
        else:
            self.keyboard.tokens = (self.keyboard.tokens + [token])[-config.message_length:]
            self.note = ""


def seat_of(cast: Cast, agent: str | None) -> int | None:
    """The index of the agent named (or numbered) ``agent``; ``none`` watches. No name
    watches a run's trained agents, and takes the first agent standing in other worlds."""
    world = cast.world
    names = list(world.agent_names)
    if agent is None:
        trained = cast.label not in ("scripted", "random")
        return None if trained else int(np.flatnonzero(world.embodied)[0])
    if agent == "none":
        return None
    if agent in names:
        return names.index(agent)
    if agent.isdigit() and int(agent) < len(names):
        return int(agent)
    raise ValueError(f"agent: unknown agent {agent!r}; expected one of {names}, an index "
                     f"0..{len(names) - 1} or none")


def current_view(session: Any) -> np.ndarray:
    """The followed agent's ``view`` observation, uint8 ``[5, S, S]``."""
    return np.asarray(session.observation["view"][0, session.follow])


def run_viewer(session: Any, screen, frame_of, max_frames: int | None = None,
               fps: int = 30) -> list[np.ndarray]:
    """Drive ``session`` from pygame's event queue until it quits (or ``max_frames``):
    each frame handles the queued keys, lets time pass and composes the screen. Returns the
    composed frames when the screen is off-screen (for tests), else an empty list."""
    pygame = screen.open()
    clock = pygame.time.Clock()
    frames, count = [], 0
    try:
        while not session.quit and (max_frames is None or count < max_frames):
            for event in pygame.event.get():
                if event.type == pygame.QUIT:
                    session.quit = True
                elif event.type == pygame.KEYDOWN:
                    session.handle_key(pygame.key.name(event.key))
            # Off-screen, time is simulated so that tests see the same steps on any machine.
            session.tick(clock.tick(fps) / 1000.0 if screen.mode == "human" else 1.0 / fps)
            composed = screen.compose(*frame_of(session))
            if screen.mode == "rgb_array":
                frames.append(composed)
            count += 1
    finally:
        screen.close()
    return frames


def play_frame(session: PlaySession, renderer, view_cell: int = 24):
    """The world frame and the overlay of a play session."""

    world = session.world
    subgoals = seated_subgoals(session.policy_state)
    frame = renderer.draw(session.states[-1], 0, subgoals=None if subgoals is None
                          else subgoals[0])
    overlay = Overlay(status=session.status(), agent_names=tuple(world.agent_names),
                      roles=tuple(int(r) for r in world.agent_role),
                      messages=session.messages, cursor=len(session.states) - 1,
                      follow=session.follow,
                      view=renderer.draw_view(current_view(session), view_cell),
                      lines=session.overlay_lines())
    return frame, overlay


def play(cast: Cast, seat: int | None = 0, seed: int = 0, realtime: bool = False,
         speed: int = 4, mode: str = "human", max_frames: int | None = None,
         cell_size: int = 32) -> PlaySession:
    """Open the viewer on ``cast`` with the keyboard in ``seat`` and run until it quits."""

    session = PlaySession(cast, seat=seat, seed=seed, realtime=realtime, speed=speed)
    screen = Screen(mode=mode)
    screen.open()
    renderer = Renderer(session.world, mode="rgb_array", cell_size=cell_size)
    session.frames = run_viewer(session, screen, lambda s: play_frame(s, renderer),
                                max_frames=max_frames)
    renderer.close()
    return session


def screenshot(cast: Cast, path, steps: int, seat: int | None = None, seed: int = 0,
               follow: int | None = None, cell_size: int = 32) -> np.ndarray:
    """Play ``steps`` steps headless and save the viewer's screen as a PNG at ``path``."""

    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps!r}")
    session = PlaySession(cast, seat=seat, seed=seed)
    if follow is not None:
        session.follow = follow
    for _ in range(steps):
        if session.ended:
            break
        session.step()
    screen = Screen(mode="rgb_array", strip_steps=max(steps, 1))
    renderer = Renderer(session.world, mode="rgb_array", cell_size=cell_size)
    picture = screen.compose(*play_frame(session, renderer))
    screen.close()
    save_png(picture, path)
    return picture


def seated_subgoals(policy_state) -> np.ndarray | None:
    """Every agent's current subgoal ``[B, N, 2]`` (-1: none) from a seated policy's state,
    wherever a hierarchical seat keeps it (``subgoal``); None if no seat has one."""
    if not isinstance(policy_state, dict):
        return None
    if policy_state.get("subgoal") is not None:
        return np.asarray(policy_state["subgoal"])
    found = [seated_subgoals(value) for value in policy_state.values()]
    found = [value for value in found if value is not None]
    if not found:
        return None
    # Several hierarchical seats: each has its agents' subgoals, -1 elsewhere.
    return np.max(np.stack(found), axis=0)
