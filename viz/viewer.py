"""The viewer's screen: a world frame with a side panel (the followed agent's egocentric
view, status and keys) and a strip of the messages spoken over time.

Drawing only: the interactive loops that step worlds (``socius play``) or walk through
recorded episodes (``socius replay``) live in ``socius.societies`` and hand this module
what to show as an :class:`Overlay`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from socius.envs.render import BACKGROUND, TEXT_COLOUR, object_colour, role_colour

PANEL_WIDTH = 240
STRIP_CELL = 18
"""Pixels per step and per agent row in the message strip."""
SILENCE_COLOUR = (40, 40, 46)
CURSOR_COLOUR = (250, 250, 250)


@dataclass(frozen=True)
class Overlay:
    """What the screen shows beside the world frame."""

    status: str
    """One line: paused or running, speed, step, the seat the keyboard controls."""
    agent_names: tuple[str, ...]
    """Agent names in index order (rows of the strip)."""
    roles: tuple[int, ...]
    """Role index of each agent (colours)."""
    messages: np.ndarray
    """int ``[T, N, L]``: tokens spoken at each step so far (-1 for silence)."""
    cursor: int
    """Step the world frame shows (0 = the start)."""
    follow: int | None = None
    """Agent whose egocentric view the panel shows (None: no view)."""
    view: np.ndarray | None = None
    """uint8 ``[S, S, 3]``: that agent's view, already drawn."""
    lines: tuple[str, ...] = ()
    """Further panel lines (the keys, the followed agent's goal, a note)."""


class Screen:
    """A pygame window, or an off-screen canvas for tests and video, that lays out frames."""

    def __init__(self, mode: str = "human", strip_steps: int = 40):
        if mode not in ("human", "rgb_array"):
            raise ValueError(f"mode must be 'human' or 'rgb_array'; got {mode!r}")
        if strip_steps < 1:
            raise ValueError(f"strip_steps must be >= 1; got {strip_steps!r}")
        self.mode, self.strip_steps = mode, strip_steps
        self._pygame = self._window = self._canvas = None
        self._fonts: dict[int, object] = {}

    def open(self):
        """Start pygame (and the window in 'human' mode); returns the pygame module."""
        if self._pygame is not None:
            return self._pygame
        if self.mode == "rgb_array":
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        import pygame

        # The display starts before any off-screen renderer can pick the dummy driver.
        pygame.display.init()
        pygame.font.init()
        self._pygame = pygame
        return pygame

    def compose(self, frame: np.ndarray, overlay: Overlay) -> np.ndarray:
        """Lay out one screen; shows it in 'human' mode and returns it as uint8 [H, W, 3]."""
        pygame = self.open()
        frame = np.asarray(frame)
        agents = len(overlay.agent_names)
        strip_height = 22 + STRIP_CELL * max(agents, 1) + 8
        width = frame.shape[1] + PANEL_WIDTH
        height = max(frame.shape[0], 420) + strip_height
        if self._canvas is None or self._canvas.get_size() != (width, height):
            self._canvas = pygame.Surface((width, height))
            if self.mode == "human":
                self._window = pygame.display.set_mode((width, height))
                pygame.display.set_caption("socius viewer")
        canvas = self._canvas
        canvas.fill(BACKGROUND)
        canvas.blit(pygame.surfarray.make_surface(frame.transpose(1, 0, 2)), (0, 0))
        self._draw_panel(frame.shape[1] + 8, overlay)
        self._draw_strip(height - strip_height, width, overlay)
        if self.mode == "human":
            self._window.blit(canvas, (0, 0))
            pygame.display.flip()
        return np.ascontiguousarray(pygame.surfarray.array3d(canvas).transpose(1, 0, 2))

    def close(self) -> None:
        """Close the window and forget the canvas."""
        if self._pygame is not None:
            self._pygame.display.quit()
        self._pygame = self._window = self._canvas = None
        self._fonts = {}

    def _font(self, size: int):
        if size not in self._fonts:
            self._fonts[size] = self._pygame.font.Font(None, size)
        return self._fonts[size]

    def _write(self, text: str, x: int, y: int, size: int = 18, colour=TEXT_COLOUR) -> int:
        surface = self._font(size).render(text, True, colour)
        self._canvas.blit(surface, (x, y))
        return y + surface.get_height() + 2

    def _draw_panel(self, left: int, overlay: Overlay) -> None:
        y = self._write(overlay.status, left, 6, 18)
        if overlay.follow is not None and overlay.view is not None:
            name = overlay.agent_names[overlay.follow]
            y = self._write(f"view of {name}", left, y + 6, 18,
                            role_colour(overlay.roles[overlay.follow]))
            view = np.asarray(overlay.view)
            scale = min(1.0, (PANEL_WIDTH - 16) / max(view.shape[:2]))
            surface = self._pygame.surfarray.make_surface(view.transpose(1, 0, 2))
            if scale < 1.0:
                size = (int(view.shape[1] * scale), int(view.shape[0] * scale))
                surface = self._pygame.transform.smoothscale(surface, size)
            self._canvas.blit(surface, (left, y))
            y += surface.get_height() + 6
        for line in overlay.lines:
            y = self._write(line, left, y, 16)

    def _draw_strip(self, top: int, width: int, overlay: Overlay) -> None:
        pygame = self._pygame
        messages = np.asarray(overlay.messages)
        steps = messages.shape[0] if messages.ndim == 3 else 0
        first = max(0, min(overlay.cursor - self.strip_steps // 2, steps - self.strip_steps))
        if messages.ndim == 3 and messages.shape[-1] == 0:
            self._write("messages: this world has no channel (message_length=0)", 6, top + 2, 16)
            return
        self._write(f"messages, steps {first + 1}-{min(steps, first + self.strip_steps)}"
                    f" of {steps}", 6, top + 2, 16)
        left = 90
        cell = min(STRIP_CELL * 2, max(8, (width - left - 8) // self.strip_steps))
        for agent, name in enumerate(overlay.agent_names):
            y = top + 22 + agent * STRIP_CELL
            self._write(name[:11], 6, y + 2, 15, role_colour(overlay.roles[agent]))
            for column, step in enumerate(range(first, min(steps, first + self.strip_steps))):
                tokens = messages[step, agent]
                rect = pygame.Rect(left + column * cell, y, cell - 2, STRIP_CELL - 2)
                spoken = tokens[tokens >= 0]
                colour = object_colour(int(spoken[0])) if spoken.size else SILENCE_COLOUR
                pygame.draw.rect(self._canvas, colour, rect)
                if spoken.size and cell >= 14:
                    label = self._font(14).render(" ".join(map(str, spoken.tolist()))[:3],
                                                  True, (0, 0, 0))
                    self._canvas.blit(label, label.get_rect(center=rect.center))
        if first <= overlay.cursor - 1 < first + self.strip_steps:
            x = left + (overlay.cursor - 1 - first) * cell
            height = 22 + STRIP_CELL * max(1, len(overlay.agent_names))
            pygame.draw.rect(self._canvas, CURSOR_COLOUR,
                             pygame.Rect(x - 1, top + 20, cell, height - 20), 1)
