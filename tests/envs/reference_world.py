"""A slow, obviously-correct reference world: one environment, plain Python loops.

It imports nothing from socius. It is written from the specification (the task
module docstrings and ``envs/observe.py``), not from the batched core, and takes
plain data only: lists, ints, floats and dicts. Random episode generation is not
reproduced: a test starts a ``ReferenceEnv`` from the core's state after a reset
and then steps both side by side.

Grid codes: terrain 0 free, 1 wall, 2 outside. Objects are (colour, shape),
goal tiles are tile indices; the observation adds 1 to both (0 means none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import reference_tasks

FREE, WALL, OUTSIDE = 0, 1, 2
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))  # stay, up, down, left, right
UNKNOWN = -1
"""View entry whose value the reference does not know (the noisy TV's object)."""

TASKS = ("referential_v0", "goal_cycle_v0", "goal_cycle_v1", "maze_v0")


@dataclass(frozen=True)
class Spec:
    """Static facts of one task instance, derived from its config settings alone."""

    task: str
    num_agents: int
    view_radius: int
    message_length: int
    hearing_radius: int
    max_others: int
    max_cycles: int
    n_colours: int
    n_shapes: int
    roles: tuple
    embodied: tuple
    groups: tuple
    goal_visible: tuple
    opening: int
    settings: dict = field(compare=False)


def make_spec(task: str, settings: dict) -> Spec:
    """The Spec of ``task`` (a module name such as ``maze_v0``) from its config settings."""
    assert task in TASKS, task
    agents = settings["num_agents"]
    if task == "referential_v0":
        roles = tuple(i % 2 for i in range(agents))          # speaker_g, listener_g, ...
        embodied = tuple(role == 1 for role in roles)       # speakers stand outside
        groups = tuple(i // 2 for i in range(agents))
        goal_visible = tuple((1, 1) if role == 0 else (0, 0) for role in roles)
    elif task in ("goal_cycle_v0", "goal_cycle_v1"):
        roles = (0,) * agents
        embodied = (True,) * agents
        groups = (0,) * agents
        shown = 1 if settings["reveal_order"] else 0
        goal_visible = ((shown,) * settings["num_tiles"],) * agents
    else:
        roles = (0,) * agents
        embodied = (True,) * agents
        groups = (0,) * agents
        shown = 0 if settings["layout"] == "t_maze" else 1
        goal_visible = ((shown, shown),) * agents
    return Spec(task=task, num_agents=agents, view_radius=settings["view_radius"],
                message_length=settings["message_length"],
                hearing_radius=settings["hearing_radius"], max_others=settings["max_others"],
                max_cycles=settings["max_cycles"], n_colours=settings["n_colours"],
                n_shapes=settings["n_shapes"], roles=roles, embodied=embodied, groups=groups,
                goal_visible=goal_visible, settings=dict(settings),
                opening=int(task == "referential_v0" and settings["speak_first"]))


class ReferenceEnv:
    """One environment's full state as plain Python values, with ``observe`` and ``step``."""

    def __init__(self, spec: Spec, terrain, colour, shape, tile, rows, cols, goals, finished,
                 last_move, last_message, step_count, order=None, progress=None,
                 tile_cells=None, successor=None, last=None):
        """Start from grids of codes ``[H][W]`` (colour/shape/tile stored +1, 0 = none)."""
        self.spec = spec
        self.height, self.width = len(terrain), len(terrain[0])
        self.terrain = [list(line) for line in terrain]
        self.objects = {}   # (row, col) -> (colour, shape)
        self.tiles = {}     # (row, col) -> tile index
        for r in range(self.height):
            for c in range(self.width):
                assert (colour[r][c] == 0) == (shape[r][c] == 0), "half an object"
                if colour[r][c] > 0:
                    self.objects[(r, c)] = (colour[r][c] - 1, shape[r][c] - 1)
                if tile[r][c] > 0:
                    self.tiles[(r, c)] = tile[r][c] - 1
        self.tile_plane = [list(line) for line in tile]
        self.unknown = set()  # cells whose object the reference cannot know (noisy TV)
        self.rows, self.cols = list(rows), list(cols)
        self.goals = [list(g) for g in goals]
        self.finished = [bool(f) for f in finished]
        self.last_move = list(last_move)
        self.last_message = [list(m) for m in last_message]
        self.step_count = step_count
        self.order = None if order is None else list(order)
        self.progress = None if progress is None else list(progress)
        if tile_cells is not None:  # goal_cycle_v1: tiles look alike, their indices are hidden
            self.tiles = {tuple(cell): index for index, cell in enumerate(tile_cells)}
            self.successor, self.last = list(successor), list(last)
        self.cue_cells = []
        if spec.task == "maze_v0" and spec.settings["layout"] == "t_maze":
            # The cue is the only object at the start besides the noisy TV.
            self.cue_cells = sorted(cell for cell in self.objects
                                    if not (spec.settings["noisy_tv"] and cell == self.tv_cell()))

    # ----------------------------------------------------------------- geometry
    def inside(self, r: int, c: int) -> bool:
        """Whether (r, c) is a cell of the grid."""
        return 0 <= r < self.height and 0 <= c < self.width

    def is_free(self, r: int, c: int) -> bool:
        """Whether (r, c) is on the grid and free terrain."""
        return self.inside(r, c) and self.terrain[r][c] == FREE

    def agent_at(self, r: int, c: int):
        """Index of the agent standing on (r, c), or None."""
        found = [i for i in range(self.spec.num_agents) if (self.rows[i], self.cols[i]) == (r, c)]
        assert len(found) <= 1, f"agents {found} share cell {(r, c)}"
        return found[0] if found else None

    def on_grid(self, i: int) -> bool:
        """Whether agent i stands on the grid."""
        return self.rows[i] >= 0

    def active(self, i: int) -> bool:
        """Whether agent i can act: embodied and not finished."""
        return (self.spec.embodied[i] and not self.finished[i]
                and self.step_count >= self.spec.opening)

    def t_maze_ends(self):
        """The (left, right) ends of the t-maze bar: the extreme free cells of row 1."""
        free = [c for c in range(self.width) if self.terrain[1][c] == FREE]
        return (1, min(free)), (1, max(free))

    def tv_cell(self):
        """The noisy TV: the last free cell in raster order that is neither the fixed
        start cell nor an end of the t-maze bar."""
        settings = self.spec.settings
        reserved = set()
        if settings["layout"] == "t_maze":
            reserved = {(self.height - 2, self.width // 2), *self.t_maze_ends()}
        elif settings["start"]:
            reserved = {tuple(settings["start"])}
        free = [(r, c) for r in range(self.height) for c in range(self.width)
                if self.terrain[r][c] == FREE and (r, c) not in reserved]
        return free[-1]

    # -------------------------------------------------------------- observation
    def cell_channels(self, r: int, c: int) -> list:
        """The 5 view channels of absolute cell (r, c)."""
        if not self.inside(r, c):
            return [OUTSIDE, 0, 0, 0, 0]
        if (r, c) in self.unknown:
            colour = shape = UNKNOWN
        elif (r, c) in self.objects:
            colour, shape = (v + 1 for v in self.objects[(r, c)])
        else:
            colour = shape = 0
        tile = self.tiles[(r, c)] + 1 if (r, c) in self.tiles else 0
        if self.spec.task == "goal_cycle_v1":
            tile = int((r, c) in self.tiles)  # tiles look alike
        occupant = self.agent_at(r, c)
        agent = 0 if occupant is None else self.spec.roles[occupant] + 1
        return [self.terrain[r][c], colour, shape, tile, agent]

    def visible_others(self, i: int) -> list:
        """Agents agent i sees, nearest first: list of (j, row offset, col offset)."""
        radius = self.spec.view_radius
        if not self.on_grid(i):
            return []
        seen = []
        for j in range(self.spec.num_agents):
            if j == i or not self.on_grid(j):
                continue
            dr, dc = self.rows[j] - self.rows[i], self.cols[j] - self.cols[i]
            if abs(dr) <= radius and abs(dc) <= radius:
                chebyshev = max(abs(dr), abs(dc))
                manhattan = abs(dr) + abs(dc)
                raster = (dr + radius) * (2 * radius + 1) + (dc + radius)
                seen.append(((chebyshev, manhattan, raster), j, dr, dc))
        seen.sort()
        return [(j, dr, dc) for _, j, dr, dc in seen]

    def observe_agent(self, i: int) -> dict:
        """Observation of agent i as nested lists (``view`` channels first: [5][2r+1][2r+1])."""
        spec = self.spec
        radius, length = spec.view_radius, spec.message_length
        window = []  # [2r+1][2r+1][5]
        for dr in range(-radius, radius + 1):
            line = []
            for dc in range(-radius, radius + 1):
                if self.on_grid(i):
                    line.append(self.cell_channels(self.rows[i] + dr, self.cols[i] + dc))
                else:
                    line.append([OUTSIDE, 0, 0, 0, 0])
            window.append(line)
        view = [[[cell[channel] for cell in line] for line in window] for channel in range(5)]

        others = []
        for j, dr, dc in self.visible_others(i)[: spec.max_others]:
            others.append([1, dr, dc, j, spec.roles[j], self.last_move[j] + 1]
                          + [token + 1 for token in self.last_message[j]])
        while len(others) < spec.max_others:
            others.append([0] * (6 + length))

        if spec.hearing_radius < 0:
            sizes = [spec.groups.count(g) for g in set(spec.groups)]
            senders = [j for j in range(spec.num_agents)
                       if spec.groups[j] == spec.groups[i] and j != i]
            inbox = [[token + 1 for token in self.last_message[j]] for j in senders]
            while len(inbox) < max(sizes) - 1:
                inbox.append([0] * length)
        else:
            inbox = []
            for slot in others:
                heard = slot[0] == 1 and max(abs(slot[1]), abs(slot[2])) <= spec.hearing_radius
                inbox.append(list(slot[6:]) if heard else [0] * length)

        visible = spec.goal_visible[i]
        mask = [1]
        for dr, dc in MOVES[1:]:
            ok = self.active(i) and self.is_free(self.rows[i] + dr, self.cols[i] + dc)
            mask.append(1 if ok else 0)
        return {
            "view": view,
            "others": others,
            "inbox": inbox,
            "goal": [g * v for g, v in zip(self.goals[i], visible)],
            "goal_mask": list(visible),
            "position": [self.rows[i], self.cols[i]],
            "action_mask": mask,
        }

    def observe(self) -> dict:
        """Observation of every agent: key -> list over agents."""
        per_agent = [self.observe_agent(i) for i in range(self.spec.num_agents)]
        return {key: [obs[key] for obs in per_agent] for key in per_agent[0]}

    # --------------------------------------------------------------------- step
    def step(self, actions, delivered=None) -> dict:
        """Apply ``actions`` (per agent [move, tok_1..tok_L]); return rewards and flags.

        ``delivered`` overrides the heard tokens (for channel noise, which is random).
        """
        spec = self.spec
        agents = range(spec.num_agents)
        moves = [actions[i][0] if self.active(i) else 0 for i in agents]
        spoken = [list(actions[i][1:]) for i in agents]
        message = spoken if delivered is None else [list(m) for m in delivered]

        occupied_at_start = {(self.rows[i], self.cols[i]) for i in agents if self.on_grid(i)}
        target = {}
        for i in agents:
            if moves[i] == 0 or not self.on_grid(i):
                continue
            dr, dc = MOVES[moves[i]]
            cell = (self.rows[i] + dr, self.cols[i] + dc)
            if self.is_free(*cell) and cell not in occupied_at_start:
                target[i] = cell
        moved = [False] * spec.num_agents
        for i, cell in target.items():
            if not any(j != i and other == cell for j, other in target.items()):
                moved[i] = True
        for i in agents:
            if moved[i]:
                self.rows[i], self.cols[i] = target[i]
        self.last_move = moves
        self.last_message = message

        outcome = reference_tasks.RESOLVE[spec.task](self, moved)
        self.step_count += 1
        outcome["truncated"] = self.step_count >= spec.max_cycles and not outcome["terminated"]
        return outcome

    # --------------------------------------------------------------- invariants
    def start_problems(self) -> list:
        """Ways this freshly reset episode breaks its task's documented rules."""
        spec, problems = self.spec, []
        cells = [(self.rows[i], self.cols[i]) for i in range(spec.num_agents) if self.on_grid(i)]
        if len(set(cells)) != len(cells):
            problems.append(f"agents share cells {cells}")
        for i in range(spec.num_agents):
            if spec.embodied[i] != self.on_grid(i):
                problems.append(f"agent {i} embodied={spec.embodied[i]} at {cells}")
            if self.on_grid(i) and not self.is_free(self.rows[i], self.cols[i]):
                problems.append(f"agent {i} starts on a wall")
        if self.step_count != 0 or any(self.finished) or any(m != -1 for m in self.last_move):
            problems.append("fresh episode has history")
        if any(t != -1 for m in self.last_message for t in m):
            problems.append("fresh episode has messages")
        return problems + reference_tasks.PROBLEMS[spec.task](self)
