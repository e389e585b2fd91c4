"""``goal_cycle_v1``: K alike tiles in a hidden cycle, scored as in marlgrid's Goal Cycle
(Ndousse et al. 2021, ``BonusTile`` with ``reset_on_mistake=True``).

Every tile looks the same (the view's tile channel is 1 on each). Each agent keeps the
tile it entered last. Entering a tile (moving onto it) pays +1 when it is the agent's
first tile of the episode, or when it is the successor, in the hidden cycle, of the tile
entered last; any other entry costs ``penalty``. Either way the entered tile becomes the
agent's last tile, so after a mistake the agent is paid again from the tile it is on. An
agent that falls in behind an expert anywhere in the cycle is paid from its first tile.
The cycle is redrawn every episode (``resample_order``); views are partial. Episodes run
for ``max_cycles`` steps.

``goal_cycle_v0`` (visit the tiles in a fixed order, tiles numbered in the view) stays for
older runs. The defaults were chosen by the bound table in EXPERIMENTS.md: a scripted
follower of the experts clears the best policy that ignores them (an elimination
searcher that knows where the tiles are) by a wide margin.

Goal space: the cycle, K tile indices (``goal[i]`` is followed by ``goal[i + 1]``), masked
unless ``reveal_order``. ``info['desired_goal']`` is the cell of the successor of the
agent's last tile ((-1, -1) before its first tile, when any tile pays) and
``info['achieved_goal']`` its own cell; so a goal env (``reveal_order=True``) counts the
first tile, which pays, as no success.

Privileged task state (for scripted policies): ``tile_row``/``tile_col`` ``[B, K]``,
``successor`` ``[B, K]`` (the hidden cycle), ``last`` ``[B, N]`` (tile index, -1 none) and
``last_paid`` ``[B, N]`` (whether that entry paid).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from socius.envs import goal_cycle_v0
from socius.envs.config import require
from socius.envs.facade import make_factories
from socius.envs.goal_cycle_v0 import GoalCycleConfig
from socius.envs.state import TILE
from socius.envs.world import EpisodeStart, Outcome, Task, World

NAME = "goal_cycle_v1"
NONE = -1


@dataclass(frozen=True)
class GoalCycleV1Config(GoalCycleConfig):
    """Settings of ``goal_cycle_v1`` (defaults from the bound table in EXPERIMENTS.md)."""

    num_agents: int = 3
    """Total agents, named agent_<i>: the imitation studies seat a learner in agent_0 and
    scripted experts in the others."""
    max_cycles: int = 100
    """Steps after which an episode is truncated."""
    size: int = 9
    """Side of the square grid, border walls included."""
    num_tiles: int = 5
    """Goal tiles K in the hidden cycle."""
    penalty: float = 2.0
    """Cost of entering a tile that is not the successor of one's last tile."""

    def check(self) -> None:
        """Raise ValueError naming the first impossible field."""
        super().check()
        require(self.num_tiles >= 2, "num_tiles", "an integer >= 2 (a cycle of one tile pays "
                "nothing to learn)", self.num_tiles)


def build_world(config: GoalCycleV1Config) -> World:
    """Static world of a checked config: ``goal_cycle_v0``'s, with this task's rules and a
    tile channel that shows 1 on every tile."""
    world = goal_cycle_v0.build_world(config)
    return dataclasses.replace(
        world, name=NAME, task=Task(reset=reset_episodes, resolve=resolve, achieved_size=2),
        info={key: value for key, value in world.info.items()
              if key in ("inbox_source", "base_cells")} | {"tile_high": 1})


def reset_episodes(world: World, keys: np.ndarray) -> EpisodeStart:
    """Draw obstacles, tiles, agent cells and hidden cycles for ``len(keys)`` episodes: the
    layouts of ``goal_cycle_v0``, with the tiles made alike and the cycle as successors."""
    start = goal_cycle_v0.reset_episodes(world, keys)
    cells = start.cells
    cells[:, TILE] = np.minimum(cells[:, TILE], 1)  # tiles look alike
    order = start.task["order"]
    successor = np.empty_like(order)
    np.put_along_axis(successor, order, np.roll(order, -1, axis=1), axis=1)
    count, agents = start.row.shape
    task = {"order": order, "successor": successor, "tile_row": start.task["tile_row"],
            "tile_col": start.task["tile_col"],
            "last": np.full((count, agents), NONE, dtype=np.int64),
            "last_paid": np.zeros((count, agents), dtype=bool)}
    return start._replace(cells=cells, task=task)


def resolve(world: World, state, moved: np.ndarray) -> Outcome:
    """Pay the first tile and every successor of the last tile; charge any other entry."""
    config: GoalCycleV1Config = world.config
    task = state.task
    on_tile = ((state.row[:, :, None] == task["tile_row"][:, None, :])
               & (state.col[:, :, None] == task["tile_col"][:, None, :]))  # [B, N, K]
    entered = np.where(moved & on_tile.any(axis=-1), on_tile.argmax(axis=-1), NONE)
    last = task["last"]
    expected = np.where(last >= 0, np.take_along_axis(task["successor"], np.maximum(last, 0),
                                                      axis=1), NONE)
    entering = entered >= 0
    paid = entering & ((last < 0) | (entered == expected))
    wrong = entering & ~paid
    reward = paid.astype(np.float32) - np.float32(config.penalty) * wrong
    desired = np.where((expected >= 0)[..., None],
                       goal_cycle_v0.tile_cells(task, np.maximum(expected, 0)), NONE)
    new_task = dict(task)
    new_task["last"] = np.where(entering, entered, last)
    new_task["last_paid"] = np.where(entering, paid, task["last_paid"])
    return goal_cycle_v0.cycle_outcome(state, reward, paid, desired, new_task)

CONFIG = GoalCycleV1Config
parallel_env, raw_env, env = make_factories(NAME, CONFIG, build_world)
