"""Pygame frames of a world state: walls, objects, goal tiles, agents, views and speech.

It lives in ``envs`` because the PettingZoo facade's ``render()`` draws with it; pygame is
imported on the first frame only, so importing the worlds starts no display library.
"""

from __future__ import annotations

import colorsys
import math
import os

import numpy as np

from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.envs.state import AGENT, COLOUR, OUTSIDE, SHAPE, TERRAIN, TILE, WALL

BACKGROUND = (18, 18, 22)
FLOOR_COLOUR = (46, 46, 54)
WALL_COLOUR = (120, 120, 132)
OUTSIDE_COLOUR = (24, 24, 28)
GRID_LINE_COLOUR = (60, 60, 70)
TILE_COLOUR = (92, 78, 40)
TEXT_COLOUR = (235, 235, 235)
INK = (0, 0, 0)
BUBBLE_COLOUR = (250, 250, 250)
FINISHED_RING = (80, 230, 80)
VIEW_ALPHA = 40
OBJECT_COLOURS = ((220, 50, 47), (38, 120, 230), (60, 190, 60), (240, 205, 0),
                  (150, 80, 210), (245, 130, 20), (0, 205, 205), (235, 80, 170))
"""Object colour c is drawn in OBJECT_COLOURS[c]; colours beyond these are spread by hue."""
ROLE_COLOURS = ((255, 175, 60), (120, 205, 255), (150, 230, 120), (190, 160, 255),
                (245, 245, 245), (255, 130, 150))
"""Agents of role k are filled with ROLE_COLOURS[k]; roles beyond these are spread by hue."""
SHAPE_NAMES = ("square", "circle", "triangle", "diamond", "cross", "star", "hexagon",
               "inverted_triangle")
"""Glyph of object shape s is SHAPE_NAMES[s % len]; shapes beyond them also show s."""


def _extended(palette: tuple, index: int) -> tuple[int, int, int]:
    if index < len(palette):
        return palette[index]
    # Golden-ratio hue steps keep extra colours apart without any randomness.
    hue = (index * 0.618033988749895) % 1.0
    return tuple(int(255 * v) for v in colorsys.hsv_to_rgb(hue, 0.65, 0.95))


def object_colour(colour: int) -> tuple[int, int, int]:
    """RGB of object colour index ``colour`` (0-based)."""
    return _extended(OBJECT_COLOURS, colour)


def role_colour(role: int) -> tuple[int, int, int]:
    """RGB fill of agents of role index ``role``."""
    return _extended(ROLE_COLOURS, role)


def _tokens_text(tokens: np.ndarray) -> str:
    if tokens.size == 0 or (tokens < 0).all():
        return ""
    return " ".join("_" if t < 0 else str(int(t)) for t in tokens)


def grid_cells(world, state, env_index: int = 0) -> np.ndarray:
    """Unpadded cells of one environment as uint8 ``[H, W, C]`` (channels last)."""
    cells = np.asarray(state.cells[env_index])
    # Accept both layouts of the padded grid: [H+2r, W+2r, C] and planes-first [C, H+2r, W+2r].
    if cells.shape[:2] != world.padded_shape:
        cells = np.moveaxis(cells, 0, -1)
    pad = world.pad
    return cells[pad:pad + world.height, pad:pad + world.width]


class Renderer:
    """Draws one environment of a batched state; pygame starts on the first ``draw``."""

    def __init__(self, world, mode: str = "rgb_array", cell_size: int = 32, fps: int = 8):
        if mode not in ("rgb_array", "human"):
            raise ValueError(f"mode must be 'rgb_array' or 'human'; got {mode!r}")
        self.world, self.mode, self.cell_size, self.fps = world, mode, int(cell_size), fps
        self.header_height = max(20, int(cell_size * 0.75))
        self.has_panel = not bool(np.all(world.embodied))
        self.panel_width = max(6 * self.cell_size, 200) if self.has_panel else 0
        self.row_height = max(36, int(1.4 * self.cell_size))
        grid_height = world.height * self.cell_size
        panel_height = int(np.sum(~world.embodied)) * self.row_height + 8
        self.size = (world.width * self.cell_size + self.panel_width,
                     self.header_height + max(grid_height, panel_height))
        self.grid_origin = (0, self.header_height)
        self._pygame = None
        self._canvas = self._window = self._clock = None
        self._fonts: dict[int, object] = {}

    def cell_centre(self, row: int, col: int) -> tuple[int, int]:
        """Pixel (x, y) at the centre of unpadded grid cell (row, col)."""
        x0, y0 = self.grid_origin
        return x0 + col * self.cell_size + self.cell_size // 2, \
            y0 + row * self.cell_size + self.cell_size // 2

    def draw(self, state, env_index: int = 0, last_actions: np.ndarray | None = None,
             subgoals: np.ndarray | None = None):
        """Draw environment ``env_index``: uint8 [H, W, 3] for 'rgb_array', None for 'human'.
        ``subgoals`` (int ``[N, 2]`` cells, -1 for none) marks each agent's current subgoal."""
        pygame = self._start()
        canvas = self._canvas
        canvas.fill(BACKGROUND)
        b = env_index
        world = self.world
        cells = grid_cells(world, state, b)
        row, col = np.asarray(state.row[b]), np.asarray(state.col[b])
        if last_actions is not None and world.config.message_length > 0:
            tokens = np.asarray(last_actions)[:, 1:]
        else:
            tokens = np.asarray(state.last_message[b])
        self._draw_cells(cells)
        self._draw_goal_cells(np.asarray(state.goal[b]))
        if subgoals is not None:
            self._draw_subgoals(np.asarray(subgoals))
        self._draw_views(row, col)
        self._draw_objects(cells)
        self._draw_agents(row, col, np.asarray(state.finished[b]), np.asarray(state.last_move[b]))
        self._draw_bubbles(row, col, tokens)
        self._draw_header(int(state.step_count[b]))
        if self.has_panel:
            self._draw_panel(state, b, tokens)
        if self.mode == "human":
            self._window.blit(canvas, (0, 0))
            pygame.event.pump()
            pygame.display.flip()
            self._clock.tick(self.fps)
            return None
        return np.ascontiguousarray(pygame.surfarray.array3d(canvas).transpose(1, 0, 2))

    def draw_view(self, view: np.ndarray, cell_size: int | None = None) -> np.ndarray:
        """Draw one agent's egocentric ``view`` observation (uint8 ``[5, S, S]`` planes) as
        uint8 ``[S * cell, S * cell, 3]``: the cells, objects and agents it shows."""
        pygame = self._start()
        planes = np.asarray(view)
        if planes.ndim != 3 or planes.shape[0] != 5 or planes.shape[1] != planes.shape[2]:
            raise ValueError(f"view must be uint8 [5, S, S] planes; got shape {planes.shape}")
        cells = np.moveaxis(planes, 0, -1)
        size = int(cell_size or self.cell_size)
        saved = self._canvas, self.grid_origin, self.cell_size
        # The grid painters draw onto the current canvas at the grid origin; point them at
        # a canvas of the window's size for the duration of this drawing.
        self._canvas = pygame.Surface((cells.shape[1] * size, cells.shape[0] * size))
        self.grid_origin, self.cell_size = (0, 0), size
        try:
            self._canvas.fill(BACKGROUND)
            self._draw_cells(cells)
            self._draw_objects(cells)
            for r, c in zip(*np.nonzero(cells[..., AGENT]), strict=True):
                role = int(cells[r, c, AGENT]) - 1
                pygame.draw.circle(self._canvas, role_colour(role),
                                   self.cell_centre(int(r), int(c)), int(size * 0.34))
            centre = cells.shape[0] // 2
            pygame.draw.rect(self._canvas, TEXT_COLOUR, self._cell_rect(centre, centre), 2)
            return np.ascontiguousarray(
                pygame.surfarray.array3d(self._canvas).transpose(1, 0, 2))
        finally:
            self._canvas, self.grid_origin, self.cell_size = saved

    def close(self) -> None:
        """Close the window (if any) and drop surfaces and fonts."""
        if self._pygame is not None and self._window is not None:
            self._pygame.display.quit()
        self._canvas = self._window = self._clock = None
        self._fonts = {}
        self._pygame = None

    def _start(self):
        if self._pygame is not None:
            return self._pygame
        if self.mode == "rgb_array":
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        # Here, not at the top: the worlds import without a display library, and SDL reads
        # SDL_VIDEODRIVER when pygame loads, so it must be set first.
        import pygame

        pygame.font.init()
        if self.mode == "human":
            pygame.display.init()
            self._window = pygame.display.set_mode(self.size)
            pygame.display.set_caption(f"socius - {self.world.name}")
            self._clock = pygame.time.Clock()
        self._canvas = pygame.Surface(self.size)
        self._pygame = pygame
        return pygame

    def _font(self, size: int):
        if size not in self._fonts:
            self._fonts[size] = self._pygame.font.Font(None, size)
        return self._fonts[size]

    def _text(self, text: str, centre_or_topleft, size: int, colour=INK, centred=True):
        surface = self._font(size).render(text, True, colour)
        rect = surface.get_rect()
        if centred:
            rect.center = centre_or_topleft
        else:
            rect.topleft = centre_or_topleft
        self._canvas.blit(surface, rect)
        return rect

    def _cell_rect(self, row: int, col: int):
        x0, y0 = self.grid_origin
        size = self.cell_size
        return self._pygame.Rect(x0 + col * size, y0 + row * size, size, size)

    def _draw_cells(self, cells: np.ndarray) -> None:
        pygame, size = self._pygame, self.cell_size
        terrain_colour = {WALL: WALL_COLOUR, OUTSIDE: OUTSIDE_COLOUR}
        for r in range(cells.shape[0]):
            for c in range(cells.shape[1]):
                rect = self._cell_rect(r, c)
                terrain, tile = int(cells[r, c, TERRAIN]), int(cells[r, c, TILE])
                pygame.draw.rect(self._canvas, terrain_colour.get(terrain, FLOOR_COLOUR), rect)
                if terrain != WALL:
                    pygame.draw.rect(self._canvas, GRID_LINE_COLOUR, rect, 1)
                if tile > 0:
                    pygame.draw.rect(self._canvas, TILE_COLOUR, rect.inflate(-4, -4),
                                     border_radius=4)
                    self._text(str(tile - 1), rect.center, int(size * 0.7), TEXT_COLOUR)

    def _draw_objects(self, cells: np.ndarray) -> None:
        present = (cells[..., COLOUR] > 0) & (cells[..., SHAPE] > 0)
        for r, c in zip(*np.nonzero(present), strict=True):
            self._draw_glyph(self._cell_rect(int(r), int(c)), int(cells[r, c, SHAPE]) - 1,
                             object_colour(int(cells[r, c, COLOUR]) - 1))

    def _draw_glyph(self, rect, shape: int, colour) -> None:
        pygame, canvas = self._pygame, self._canvas
        cx, cy = rect.center
        h = rect.width * 0.36
        name = SHAPE_NAMES[shape % len(SHAPE_NAMES)]
        if name == "square":
            pygame.draw.rect(canvas, colour, rect.inflate(-int(rect.width * 0.3),
                                                          -int(rect.height * 0.3)))
        elif name == "circle":
            pygame.draw.circle(canvas, colour, (cx, cy), int(h))
        elif name == "cross":
            arm = max(2, int(h * 0.45))
            pygame.draw.rect(canvas, colour, (cx - h, cy - arm / 2, 2 * h, arm))
            pygame.draw.rect(canvas, colour, (cx - arm / 2, cy - h, arm, 2 * h))
        else:
            corners = {"triangle": 3, "diamond": 4, "star": 10, "hexagon": 6,
                       "inverted_triangle": 3}[name]
            start = math.pi / 2 if name == "inverted_triangle" else -math.pi / 2
            points = []
            for k in range(corners):
                radius = h * (0.45 if name == "star" and k % 2 else 1.0)
                angle = start + 2 * math.pi * k / corners
                points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
            pygame.draw.polygon(canvas, colour, points)
        if shape >= len(SHAPE_NAMES):
            self._text(str(shape), (cx, cy), int(rect.width * 0.45))

    def _draw_goal_cells(self, goal: np.ndarray) -> None:
        # Only tasks whose goals are cells (maze_v0) mark them, and only goals the agent may see.
        if not self.world.name.startswith("maze") or goal.shape[-1] != 2:
            return
        visible = np.all(self.world.goal_visible > 0, axis=1)
        for agent in np.flatnonzero(visible & self.world.embodied):
            rect = self._cell_rect(int(goal[agent, 0]), int(goal[agent, 1]))
            colour = role_colour(int(self.world.agent_role[agent]))
            self._pygame.draw.rect(self._canvas, colour, rect.inflate(-6, -6), 3)
            self._text(f"G{agent}", rect.center, int(self.cell_size * 0.5), colour)

    def _draw_subgoals(self, subgoals: np.ndarray) -> None:
        for agent in np.flatnonzero(np.all(subgoals >= 0, axis=-1)):
            rect = self._cell_rect(int(subgoals[agent, 0]), int(subgoals[agent, 1]))
            colour = role_colour(int(self.world.agent_role[agent]))
            self._pygame.draw.circle(self._canvas, colour, rect.center, self.cell_size // 3, 2)
            self._text(f"s{agent}", rect.center, int(self.cell_size * 0.45), colour)

    def _draw_views(self, row: np.ndarray, col: np.ndarray) -> None:
        pygame, world, size = self._pygame, self.world, self.cell_size
        radius = world.config.view_radius
        overlay = pygame.Surface((world.width * size, world.height * size), pygame.SRCALPHA)
        for agent in np.flatnonzero(world.embodied & (row >= 0)):
            top, left = max(0, row[agent] - radius), max(0, col[agent] - radius)
            bottom = min(world.height, row[agent] + radius + 1)
            right = min(world.width, col[agent] + radius + 1)
            rect = pygame.Rect(left * size, top * size, (right - left) * size,
                               (bottom - top) * size)
            colour = role_colour(int(world.agent_role[agent]))
            overlay.fill((*colour, VIEW_ALPHA), rect)
            pygame.draw.rect(overlay, (*colour, 3 * VIEW_ALPHA), rect, 2)
        self._canvas.blit(overlay, self.grid_origin)

    def _draw_agents(self, row, col, finished, last_move) -> None:
        pygame, size = self._pygame, self.cell_size
        radius = int(size * 0.34)
        for agent in np.flatnonzero(row >= 0):
            centre = self.cell_centre(int(row[agent]), int(col[agent]))
            pygame.draw.circle(self._canvas, role_colour(int(self.world.agent_role[agent])),
                               centre, radius)
            pygame.draw.circle(self._canvas, FINISHED_RING if finished[agent] else INK,
                               centre, radius, 3 if finished[agent] else 1)
            move = int(last_move[agent])
            if 0 < move < len(MOVE_ROW):
                d_row, d_col = int(MOVE_ROW[move]), int(MOVE_COL[move])
                tip = (centre[0] + d_col * radius, centre[1] + d_row * radius)
                pygame.draw.circle(self._canvas, INK, tip, max(2, size // 10))
            self._text(str(agent), centre, int(size * 0.55))

    def _draw_bubbles(self, row, col, tokens: np.ndarray) -> None:
        pygame, size = self._pygame, self.cell_size
        grid_right = self.grid_origin[0] + self.world.width * size
        for agent in np.flatnonzero(row >= 0):
            text = _tokens_text(tokens[agent])
            if not text:
                continue
            surface = self._font(int(size * 0.55)).render(text, True, INK)
            bubble = surface.get_rect().inflate(8, 4)
            cell = self._cell_rect(int(row[agent]), int(col[agent]))
            bubble.bottomleft = (cell.centerx + size // 4, cell.top + size // 4)
            bubble.clamp_ip(pygame.Rect(0, self.header_height, grid_right,
                                        self.size[1] - self.header_height))
            pygame.draw.rect(self._canvas, BUBBLE_COLOUR, bubble, border_radius=6)
            pygame.draw.rect(self._canvas, INK, bubble, 1, border_radius=6)
            self._canvas.blit(surface, surface.get_rect(center=bubble.center))

    def _draw_header(self, step: int) -> None:
        text = f"{self.world.name}   step {step}/{self.world.config.max_cycles}"
        self._text(text, (6, (self.header_height - int(self.header_height * 0.8)) // 2 + 2),
                   int(self.header_height * 0.8), TEXT_COLOUR, centred=False)

    def _draw_panel(self, state, b: int, tokens: np.ndarray) -> None:
        pygame, world = self._pygame, self.world
        left = world.width * self.cell_size + 8
        font = max(14, int(self.cell_size * 0.5))
        top = self.header_height + 4
        for agent in np.flatnonzero(~world.embodied):
            colour = role_colour(int(world.agent_role[agent]))
            centre = (left + font // 2 + 2, top + self.row_height // 2)
            pygame.draw.circle(self._canvas, colour, centre, font // 2 + 2)
            self._text(str(agent), centre, font)
            name = world.agent_names[agent] + ("  (done)" if state.finished[b, agent] else "")
            self._text(name, (left + font + 10, top + 2), font, TEXT_COLOUR, centred=False)
            goal = " ".join(str(int(g)) for g in np.asarray(state.goal[b, agent]))
            said = _tokens_text(tokens[agent]) or "-"
            self._text(f"goal {goal}   says {said}", (left + font + 10, top + 4 + font),
                       font, TEXT_COLOUR, centred=False)
            top += self.row_height
