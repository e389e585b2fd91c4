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

FREE, WALL, OUTSIDE = 0, 1, 2
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))  # stay, up, down, left, right
UNKNOWN = -1
"""View entry whose value the reference does not know (the noisy TV's object)."""

TASKS = ("referential_v0", "goal_cycle_v0", "maze_v0")


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
    elif task == "goal_cycle_v0":
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
                goal_visible=goal_visible, settings=dict(settings))


class ReferenceEnv:
    """One environment's full state as plain Python values, with ``observe`` and ``step``."""

    def __init__(self, spec: Spec, terrain, colour, shape, tile, rows, cols, goals, finished,
                 last_move, last_message, step_count, order=None, progress=None):
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
        self.unknown = set()  # cells whose object the reference cannot know (noisy TV)
        self.rows, self.cols = list(rows), list(cols)
        self.goals = [list(g) for g in goals]
        self.finished = [bool(f) for f in finished]
        self.last_move = list(last_move)
        self.last_message = [list(m) for m in last_message]
        self.step_count = step_count
        self.order = None if order is None else list(order)
        self.progress = None if progress is None else list(progress)
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
        return self.spec.embodied[i] and not self.finished[i]

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

        outcome = {"referential_v0": self._resolve_referential,
                   "goal_cycle_v0": self._resolve_goal_cycle,
                   "maze_v0": self._resolve_maze}[spec.task](moved)
        self.step_count += 1
        outcome["truncated"] = self.step_count >= spec.max_cycles and not outcome["terminated"]
        return outcome

    def _resolve_referential(self, moved) -> dict:
        """A listener on an object finishes its group; a hit on the target pays both 1."""
        agents = self.spec.num_agents
        reward = [0.0] * agents
        achieved = [[-1, -1] for _ in range(agents)]
        listeners = []
        for g in sorted(set(self.spec.groups)):
            members = [i for i in range(agents) if self.spec.groups[i] == g]
            listener = next(i for i in members if self.spec.roles[i] == 1)
            listeners.append(listener)
            thing = self.objects.get((self.rows[listener], self.cols[listener]))
            if thing is None:
                continue
            for i in members:
                achieved[i] = list(thing)
            if not self.finished[listener]:
                hit = list(thing) == self.goals[listener]
                for i in members:
                    self.finished[i] = True
                    reward[i] = 1.0 if hit else 0.0
        return {"reward": reward, "terminated": all(self.finished[i] for i in listeners),
                "goal_achieved": list(reward), "achieved_goal": achieved,
                "desired_goal": [list(g) for g in self.goals]}

    def _resolve_goal_cycle(self, moved) -> dict:
        """Entering the next tile of the cycle pays +1 and advances; any other costs penalty."""
        agents = self.spec.num_agents
        tiles = self.spec.settings["num_tiles"]
        penalty = self.spec.settings["penalty"]
        where = {index: cell for cell, index in self.tiles.items()}
        reward, achieved_flag, desired = [0.0] * agents, [0.0] * agents, []
        for i in range(agents):
            expected = self.order[self.progress[i]]
            desired.append(list(where[expected]))
            cell = (self.rows[i], self.cols[i])
            if moved[i] and cell in self.tiles:
                if self.tiles[cell] == expected:
                    reward[i], achieved_flag[i] = 1.0, 1.0
                    self.progress[i] = (self.progress[i] + 1) % tiles
                else:
                    reward[i] = -penalty
        return {"reward": reward, "terminated": False, "goal_achieved": achieved_flag,
                "achieved_goal": [[self.rows[i], self.cols[i]] for i in range(agents)],
                "desired_goal": desired}

    def _resolve_maze(self, moved) -> dict:
        """An agent on its goal is paid 1 once and finishes; t-maze ends finish too."""
        agents = self.spec.num_agents
        t_maze = self.spec.settings["layout"] == "t_maze"
        ends = self.t_maze_ends() if t_maze else ()
        reward = [0.0] * agents
        for i in range(agents):
            if self.finished[i]:
                continue
            cell = (self.rows[i], self.cols[i])
            if list(cell) == self.goals[i]:
                reward[i] = 1.0
                self.finished[i] = True
            elif cell in ends:
                self.finished[i] = True
        for cell in self.cue_cells:
            self.objects.pop(cell, None)
        if self.spec.settings["noisy_tv"]:
            self.unknown.add(self.tv_cell())
        return {"reward": reward, "terminated": all(self.finished),
                "goal_achieved": list(reward),
                "achieved_goal": [[self.rows[i], self.cols[i]] for i in range(agents)],
                "desired_goal": [list(g) for g in self.goals]}

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
        check = {"referential_v0": self._referential_problems,
                 "goal_cycle_v0": self._goal_cycle_problems,
                 "maze_v0": self._maze_problems}[spec.task]
        return problems + check()

    def _referential_problems(self) -> list:
        spec, problems = self.spec, []
        settings = spec.settings
        things = list(self.objects.values())
        held = {tuple(p) for p in settings["held_out"]}
        if len(things) != settings["num_objects"] or len(set(things)) != len(things):
            problems.append(f"objects {things} are not {settings['num_objects']} distinct pairs")
        for i in range(spec.num_agents):
            if self.on_grid(i) and (self.rows[i], self.cols[i]) in self.objects:
                problems.append(f"listener {i} starts on an object")
            partner = i + 1 - 2 * (i % 2)
            if self.goals[i] != self.goals[partner] or tuple(self.goals[i]) not in things:
                problems.append(f"agent {i} goal {self.goals[i]} is not its group's object")
            if settings["split"] == "test" and tuple(self.goals[i]) not in held:
                problems.append(f"test split target {self.goals[i]} is not held out")
        if settings["split"] == "train" and held & set(things):
            problems.append(f"train split shows held-out pairs {held & set(things)}")
        return problems

    def _goal_cycle_problems(self) -> list:
        settings, problems = self.spec.settings, []
        tiles = settings["num_tiles"]
        if sorted(self.tiles.values()) != list(range(tiles)):
            problems.append(f"tiles {self.tiles}")
        if sorted(self.order) != list(range(tiles)):
            problems.append(f"order {self.order} is not a permutation")
        if not settings["resample_order"] and self.order != list(range(tiles)):
            problems.append(f"fixed order is {self.order}")
        if any(p != 0 for p in self.progress):
            problems.append("progress is not zero")
        walls = sum(self.terrain[r][c] == WALL for r in range(1, self.height - 1)
                    for c in range(1, self.width - 1))
        if walls != settings["num_obstacles"]:
            problems.append(f"{walls} obstacles, expected {settings['num_obstacles']}")
        for cell in self.tiles:
            if not self.is_free(*cell) or self.agent_at(*cell) is not None:
                problems.append(f"tile {cell} on a wall or under an agent")
        for i in range(self.spec.num_agents):
            if self.goals[i] != self.order:
                problems.append(f"agent {i} goal {self.goals[i]} is not the order")
        return problems

    def _maze_problems(self) -> list:
        settings, problems = self.spec.settings, []
        for i in range(self.spec.num_agents):
            if not self.is_free(*self.goals[i]):
                problems.append(f"agent {i} goal {self.goals[i]} is not a free cell")
        if settings["layout"] == "t_maze":
            if len(self.cue_cells) != 1 or self.cue_cells[0] != (self.rows[0], self.cols[0]):
                problems.append(f"cue {self.cue_cells} is not under agent 0")
            else:
                colour, _ = self.objects[self.cue_cells[0]]
                if any(tuple(g) != self.t_maze_ends()[colour] for g in self.goals):
                    problems.append(f"cue colour {colour} does not point at goals {self.goals}")
            return problems
        tv = {self.tv_cell()} if settings["noisy_tv"] else set()
        if set(self.objects) - tv:
            problems.append(f"objects {self.objects} at the start")
        if settings["noisy_tv"] and self.agent_at(*self.tv_cell()) is not None:
            problems.append("an agent starts on the TV")
        starts = {(self.rows[i], self.cols[i]) for i in range(self.spec.num_agents)}
        goals = [tuple(g) for g in self.goals]
        if len(set(goals)) != len(goals) or starts & set(goals):
            problems.append(f"goals {goals} repeat or coincide with starts {starts}")
        if settings["start"] and (self.rows[0], self.cols[0]) != tuple(settings["start"]):
            problems.append(f"agent 0 does not start at {settings['start']}")
        return problems
