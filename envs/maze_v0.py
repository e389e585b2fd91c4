"""``maze_v0``: reach a goal cell; for hierarchy, memory and data collection.

Layouts (``layout``):

- ``four_rooms``: Sutton's four rooms of side ``size``;
- ``maze``: perfect mazes carved from ``layout_seed`` (``num_layouts`` of them,
  one drawn per episode), where goals can be 50+ steps away;
- ``open``: an empty arena that holds 1,000+ agents;
- ``t_maze``: a cue under the start cell, visible only on the first step, says
  which end of the bar holds the goal (colour 0: left, 1: right); the goal is
  masked, so the agent must remember the cue. Either end finishes the agent.

Goal space: absolute cells ``(row, col)``; ``achieved_goal`` is the agent's
cell. An agent that reaches its goal is rewarded 1 once and waits; the episode
terminates when every agent has finished. ``noisy_tv`` adds a cell whose
object changes colour and shape at random every step. ``start`` fixes the start
cell: agent i starts at the i-th nearest free cell to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socius.envs import layouts, random
from socius.envs.config import WorldConfig, require
from socius.envs.facade import make_factories
from socius.envs.state import COLOUR, SHAPE
from socius.envs.world import EpisodeStart, Outcome, Task, World, group_inbox_sources, pad_grid

NAME = "maze_v0"


@dataclass(frozen=True)
class MazeConfig(WorldConfig):
    """Settings of ``maze_v0``."""

    num_agents: int = 1
    """Total agents, named agent_<i>."""
    max_cycles: int = 100
    """Steps after which an episode is truncated."""
    view_radius: int = 2
    """Partial view radius."""
    message_length: int = 0
    """Tokens L per step."""
    hearing_radius: int = 2
    """Agents in view within this radius are heard."""
    layout: str = "four_rooms"
    """One of four_rooms, maze, open, t_maze."""
    size: int = 11
    """Side of the grid, border walls included (t_maze: length of the stem)."""
    num_layouts: int = 1
    """Distinct layouts drawn from layout_seed (maze); one is chosen per episode."""
    layout_seed: int = 0
    """Seed of the layout generator, separate from the episode seed."""
    noisy_tv: bool = False
    """Add a cell whose object changes at random every step."""
    start: tuple = ()
    """Fixed start cell (row, col); empty for random starts."""

    def check(self) -> None:
        """Raise ValueError naming the first impossible field."""
        super().check()
        require(self.layout in layouts.LAYOUTS, "layout", f"one of {layouts.LAYOUTS}",
                self.layout)
        require(self.size >= (2 if self.layout == "t_maze" else 5), "size",
                "an integer >= 5 (>= 2 for t_maze)", self.size)
        require(self.num_layouts >= 1, "num_layouts", "an integer >= 1", self.num_layouts)
        require(len(self.start) in (0, 2), "start", "() or a (row, col) pair", self.start)


def build_world(config: MazeConfig) -> World:
    """Static world of a checked config, with its bank of layouts."""
    generator = np.random.default_rng(config.layout_seed)
    info: dict = {}
    if config.layout == "t_maze":
        walls, start, ends = layouts.t_maze(config.size)
        bank = walls[None]
        info["t_maze_ends"] = np.array(ends, dtype=np.int64)
        start_cell = start
    else:
        build = {"four_rooms": lambda: layouts.four_rooms(config.size),
                 "maze": lambda: layouts.maze(config.size, generator),
                 "open": lambda: layouts.open_room(config.size, config.size)}[config.layout]
        count = config.num_layouts if config.layout == "maze" else 1
        bank = np.stack([build() for _ in range(count)])
        start_cell = tuple(config.start) if config.start else None
    free = int((~bank).reshape(len(bank), -1).sum(axis=1).min())
    needed = config.num_agents * (1 if start_cell or config.layout == "t_maze" else 2)
    require(needed + int(config.noisy_tv) <= free, "num_agents",
            f"at most {(free - int(config.noisy_tv)) // max(needed // config.num_agents, 1)} "
            f"agents for {free} free cells", config.num_agents)
    if start_cell is not None:
        require(all(0 <= v < s for v, s in zip(start_cell, bank.shape[1:]))
                and not bank[:, start_cell[0], start_cell[1]].any(), "start",
                "a free cell of the layout", config.start)
    if config.noisy_tv:
        info["tv_cell"] = np.array([_tv_cell(w, start_cell, info.get("t_maze_ends", ()))
                                    for w in bank])
    if start_cell is not None:
        origin = np.zeros(bank.shape, dtype=bool)
        origin[:, start_cell[0], start_cell[1]] = True
        distance = layouts.shortest_steps(bank, origin, unreachable=np.iinfo(np.int64).max)
        distance = distance.reshape(len(bank), -1)
        if config.noisy_tv:
            distance[np.arange(len(bank)), info["tv_cell"]] = np.iinfo(np.int64).max
        order = np.argsort(distance, axis=1, kind="stable")
        info["start_cells"] = order[:, : config.num_agents]
    agents = config.num_agents
    group = np.zeros(agents, dtype=np.int32)
    goal_visible = np.full((agents, 2), 0 if config.layout == "t_maze" else 1, dtype=np.int8)
    info.update(inbox_source=group_inbox_sources(group), walls=bank,
                base_cells=pad_grid(bank, config.view_radius))
    return World(
        name=NAME, config=config,
        task=Task(reset=reset_episodes, resolve=resolve, achieved_size=2),
        height=bank.shape[1], width=bank.shape[2],
        agent_names=tuple(f"agent_{i}" for i in range(agents)), role_names=("agent",),
        agent_role=np.zeros(agents, dtype=np.int32), embodied=np.ones(agents, dtype=bool),
        group=group, goal_size=2, goal_high=max(bank.shape[1:]) - 1, goal_visible=goal_visible,
        free_cells=free, info=info,
    )


def _tv_cell(walls: np.ndarray, start, ends) -> int:
    """The last free cell in raster order that is neither the start nor a t-maze end."""
    width = walls.shape[1]
    reserved = {start[0] * width + start[1]} if start is not None else set()
    reserved |= {int(r) * width + int(c) for r, c in ends}
    return int([cell for cell in np.flatnonzero(~walls.ravel()) if cell not in reserved][-1])


def reset_episodes(world: World, keys: np.ndarray) -> EpisodeStart:
    """Draw a layout, start cells and goal cells for ``len(keys)`` episodes."""
    config: MazeConfig = world.config
    count, agents, pad = len(keys), config.num_agents, world.pad
    bank = world.info["walls"]
    layout = random.integers(keys, random.PURPOSE_LAYOUT, (), len(bank))
    width = world.width
    free = ~bank[layout].reshape(count, -1)
    if "tv_cell" in world.info:
        free[np.arange(count), world.info["tv_cell"][layout]] = False
    cells = world.info["base_cells"][layout]
    if config.noisy_tv:
        _show_tv(world, cells, layout, random.uniform(keys, random.PURPOSE_NOISY_TV, (2,)))
    env = np.arange(count)[:, None]
    task = {"layout": layout}
    if config.layout == "t_maze":
        start = np.broadcast_to(world.info["start_cells"][0], (count, agents))
        cue = random.integers(keys, random.PURPOSE_GOALS, (), 2)
        ends = world.info["t_maze_ends"]
        goal = np.repeat(ends[cue][:, None, :], agents, axis=1)
        start_row, start_col = np.divmod(start, width)
        cells[env, COLOUR, start_row[:, :1] + pad, start_col[:, :1] + pad] = cue[:, None] + 1
        cells[env, SHAPE, start_row[:, :1] + pad, start_col[:, :1] + pad] = 1
        task.update(cue=cue, cue_row=start_row[:, 0], cue_col=start_col[:, 0])
        return EpisodeStart(cells=cells, row=start_row, col=start_col, goal=goal, task=task)
    if "start_cells" in world.info:
        start = world.info["start_cells"][layout]
        free[env, start] = False
        goal_cells = random.sample_cells(keys, random.PURPOSE_GOALS, free, agents)
    else:
        both = random.sample_cells(keys, random.PURPOSE_AGENTS, free, 2 * agents)
        start, goal_cells = both[:, :agents], both[:, agents:]
    start_row, start_col = np.divmod(start, width)
    goal = np.stack(np.divmod(goal_cells, width), axis=-1)
    return EpisodeStart(cells=cells, row=start_row, col=start_col, goal=goal, task=task)


def _show_tv(world: World, cells: np.ndarray, layout: np.ndarray, draw: np.ndarray) -> None:
    """Write a random object (from uniform ``draw[B, 2]``) on each TV cell, in place."""
    config = world.config
    tv_row, tv_col = np.divmod(world.info["tv_cell"][layout], world.width)
    env = np.arange(len(layout))
    cells[env, COLOUR, tv_row + world.pad, tv_col + world.pad] = draw[:, 0] * config.n_colours + 1
    cells[env, SHAPE, tv_row + world.pad, tv_col + world.pad] = draw[:, 1] * config.n_shapes + 1


def resolve(world: World, state, moved: np.ndarray) -> Outcome:
    """Finish agents on their goal (or on either t-maze end); redraw the noisy TV."""
    config: MazeConfig = world.config
    pad = world.pad
    batch = state.row.shape[0]
    env = np.arange(batch)
    position = np.stack([state.row, state.col], axis=-1)
    at_goal = (position == state.goal).all(axis=-1)
    arriving = at_goal & ~state.finished
    finishing = arriving
    cells = state.cells
    if config.layout == "t_maze":
        ends = world.info["t_maze_ends"]
        at_end = (position[:, :, None, :] == ends).all(axis=-1).any(axis=-1)
        finishing = at_end & ~state.finished
        cells = cells.copy()
        cells[env, COLOUR, state.task["cue_row"] + pad, state.task["cue_col"] + pad] = 0
        cells[env, SHAPE, state.task["cue_row"] + pad, state.task["cue_col"] + pad] = 0
    if config.noisy_tv:
        cells = cells.copy() if cells is state.cells else cells
        _show_tv(world, cells, state.task["layout"],
                 random.uniform(random.step_keys(state.key, state.step_count),
                                random.PURPOSE_NOISY_TV, (2,)))
    finished = state.finished | finishing
    reward = arriving.astype(np.float32)
    return Outcome(
        reward=reward,
        finished=finished,
        terminated=finished.all(axis=1),
        goal_achieved=reward.copy(),
        achieved_goal=position.astype(np.int32),
        desired_goal=state.goal,
        cells=cells,
        task=dict(state.task),
    )


CONFIG = MazeConfig
parallel_env, raw_env, env = make_factories(NAME, CONFIG, build_world)
