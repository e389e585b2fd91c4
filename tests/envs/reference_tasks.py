"""The task rules of the reference world: what each task decides after the moves, and
the rules a fresh episode must obey. Plain Python over a ``ReferenceEnv``; nothing from
socius."""

from __future__ import annotations

FREE, WALL = 0, 1


def resolve_referential(env, moved) -> dict:
    """A listener on an object finishes its group; a hit on the target pays both 1. On the
    step that truncates the episode, a group still searching times out and pays the cost."""
    agents, settings = env.spec.num_agents, env.spec.settings
    reward = [0.0] * agents
    achieved = [[-1, -1] for _ in range(agents)]
    info = {key: [0.0] * agents for key in ("success", "wrong_object", "timeout")}
    last_step = env.step_count + 1 >= env.spec.max_cycles
    listeners = []
    for g in sorted(set(env.spec.groups)):
        members = [i for i in range(agents) if env.spec.groups[i] == g]
        listener = next(i for i in members if env.spec.roles[i] == 1)
        listeners.append(listener)
        thing = env.objects.get((env.rows[listener], env.cols[listener]))
        if thing is None:
            if last_step and not env.finished[listener]:
                for i in members:
                    reward[i] = -settings["timeout_cost"]
                    info["timeout"][i] = 1.0
            continue
        for i in members:
            achieved[i] = list(thing)
        if not env.finished[listener]:
            hit = list(thing) == env.goals[listener]
            for i in members:
                env.finished[i] = True
                reward[i] = 1.0 if hit else 0.0
                info["success" if hit else "wrong_object"][i] = 1.0
    return {"reward": reward, "terminated": all(env.finished[i] for i in listeners),
            "goal_achieved": [1.0 if r > 0 else 0.0 for r in reward], "achieved_goal": achieved,
            "desired_goal": [list(g) for g in env.goals], "info": info}


def resolve_goal_cycle_v1(env, moved) -> dict:
    """The first tile pays +1; a later one pays +1 when it succeeds the last tile entered
    and costs the penalty otherwise; either way it becomes the last tile."""
    agents, penalty = env.spec.num_agents, env.spec.settings["penalty"]
    where = {index: cell for cell, index in env.tiles.items()}
    reward, paid, desired = [0.0] * agents, [0.0] * agents, []
    for i in range(agents):
        last = env.last[i]
        desired.append(list(where[env.successor[last]]) if last >= 0 else [-1, -1])
        cell = (env.rows[i], env.cols[i])
        if moved[i] and cell in env.tiles:
            entered = env.tiles[cell]
            if last < 0 or entered == env.successor[last]:
                reward[i], paid[i] = 1.0, 1.0
            else:
                reward[i] = -penalty
            env.last[i] = entered
    return {"reward": reward, "terminated": False, "goal_achieved": paid,
            "achieved_goal": [[env.rows[i], env.cols[i]] for i in range(agents)],
            "desired_goal": desired}


def resolve_goal_cycle(env, moved) -> dict:
    """Entering the next tile of the cycle pays +1 and advances; any other costs penalty."""
    agents = env.spec.num_agents
    tiles = env.spec.settings["num_tiles"]
    penalty = env.spec.settings["penalty"]
    where = {index: cell for cell, index in env.tiles.items()}
    reward, achieved_flag, desired = [0.0] * agents, [0.0] * agents, []
    for i in range(agents):
        expected = env.order[env.progress[i]]
        desired.append(list(where[expected]))
        cell = (env.rows[i], env.cols[i])
        if moved[i] and cell in env.tiles:
            if env.tiles[cell] == expected:
                reward[i], achieved_flag[i] = 1.0, 1.0
                env.progress[i] = (env.progress[i] + 1) % tiles
            else:
                reward[i] = -penalty
    return {"reward": reward, "terminated": False, "goal_achieved": achieved_flag,
            "achieved_goal": [[env.rows[i], env.cols[i]] for i in range(agents)],
            "desired_goal": desired}

def resolve_maze(env, moved) -> dict:
    """An agent on its goal is paid 1 once and finishes; t-maze ends finish too."""
    agents = env.spec.num_agents
    t_maze = env.spec.settings["layout"] == "t_maze"
    ends = env.t_maze_ends() if t_maze else ()
    reward = [0.0] * agents
    for i in range(agents):
        if env.finished[i]:
            continue
        cell = (env.rows[i], env.cols[i])
        if list(cell) == env.goals[i]:
            reward[i] = 1.0
            env.finished[i] = True
        elif cell in ends:
            env.finished[i] = True
    for cell in env.cue_cells:
        env.objects.pop(cell, None)
    if env.spec.settings["noisy_tv"]:
        env.unknown.add(env.tv_cell())
    return {"reward": reward, "terminated": all(env.finished),
            "goal_achieved": list(reward),
            "achieved_goal": [[env.rows[i], env.cols[i]] for i in range(agents)],
            "desired_goal": [list(g) for g in env.goals]}


def referential_problems(env) -> list:
    spec, problems = env.spec, []
    settings = spec.settings
    things = list(env.objects.values())
    held = {tuple(p) for p in settings["held_out"]}
    if len(things) != settings["num_objects"] or len(set(things)) != len(things):
        problems.append(f"objects {things} are not {settings['num_objects']} distinct pairs")
    for i in range(spec.num_agents):
        if env.on_grid(i) and (env.rows[i], env.cols[i]) in env.objects:
            problems.append(f"listener {i} starts on an object")
        partner = i + 1 - 2 * (i % 2)
        if env.goals[i] != env.goals[partner] or tuple(env.goals[i]) not in things:
            problems.append(f"agent {i} goal {env.goals[i]} is not its group's object")
        if settings["split"] == "test" and tuple(env.goals[i]) not in held:
            problems.append(f"test split target {env.goals[i]} is not held out")
    contrasted = settings["contrast"] == "all" or (settings["contrast"] == "test"
                                                   and settings["split"] == "test")
    if contrasted and len(things) >= 3:
        colour, shape = env.goals[1]  # group 0's target
        others = [t for t in things if t != (colour, shape)]
        if not any(c == colour for c, _ in others) or not any(s == shape for _, s in others):
            problems.append(f"room {things} lacks a distractor of {colour}'s colour or "
                            f"{shape}'s shape")
        if held & set(others):
            problems.append(f"contrast room shows held-out distractors {held & set(others)}")
    if settings["split"] == "train" and held & set(things):
        problems.append(f"train split shows held-out pairs {held & set(things)}")
    return problems

def goal_cycle_problems(env) -> list:
    settings, problems = env.spec.settings, []
    tiles = settings["num_tiles"]
    if sorted(env.tiles.values()) != list(range(tiles)):
        problems.append(f"tiles {env.tiles}")
    if sorted(env.order) != list(range(tiles)):
        problems.append(f"order {env.order} is not a permutation")
    if not settings["resample_order"] and env.order != list(range(tiles)):
        problems.append(f"fixed order is {env.order}")
    if any(p != 0 for p in env.progress):
        problems.append("progress is not zero")
    walls = sum(env.terrain[r][c] == WALL for r in range(1, env.height - 1)
                for c in range(1, env.width - 1))
    if walls != settings["num_obstacles"]:
        problems.append(f"{walls} obstacles, expected {settings['num_obstacles']}")
    for cell in env.tiles:
        if not env.is_free(*cell) or env.agent_at(*cell) is not None:
            problems.append(f"tile {cell} on a wall or under an agent")
    for i in range(env.spec.num_agents):
        if env.goals[i] != env.order:
            problems.append(f"agent {i} goal {env.goals[i]} is not the order")
    return problems

def maze_problems(env) -> list:
    settings, problems = env.spec.settings, []
    for i in range(env.spec.num_agents):
        if not env.is_free(*env.goals[i]):
            problems.append(f"agent {i} goal {env.goals[i]} is not a free cell")
    if settings["layout"] == "t_maze":
        if len(env.cue_cells) != 1 or env.cue_cells[0] != (env.rows[0], env.cols[0]):
            problems.append(f"cue {env.cue_cells} is not under agent 0")
        else:
            colour, _ = env.objects[env.cue_cells[0]]
            if any(tuple(g) != env.t_maze_ends()[colour] for g in env.goals):
                problems.append(f"cue colour {colour} does not point at goals {env.goals}")
        return problems
    tv = {env.tv_cell()} if settings["noisy_tv"] else set()
    if set(env.objects) - tv:
        problems.append(f"objects {env.objects} at the start")
    if settings["noisy_tv"] and env.agent_at(*env.tv_cell()) is not None:
        problems.append("an agent starts on the TV")
    starts = {(env.rows[i], env.cols[i]) for i in range(env.spec.num_agents)}
    goals = [tuple(g) for g in env.goals]
    if len(set(goals)) != len(goals) or starts & set(goals):
        problems.append(f"goals {goals} repeat or coincide with starts {starts}")
    if settings["start"] and (env.rows[0], env.cols[0]) != tuple(settings["start"]):
        problems.append(f"agent 0 does not start at {settings['start']}")
    return problems




def goal_cycle_v1_problems(env) -> list:
    """K alike tiles on free cells, one hidden cycle through all of them, no tile entered."""
    settings, problems = env.spec.settings, []
    tiles = settings["num_tiles"]
    marked = {(r, c) for r in range(env.height) for c in range(env.width)
              if env.tile_plane[r][c] != 0}
    if marked != set(env.tiles) or any(env.tile_plane[r][c] != 1 for r, c in marked):
        problems.append(f"tile plane {sorted(marked)} is not {sorted(env.tiles)}, all 1")
    seen, tile = [], 0
    for _ in range(tiles):
        seen.append(tile)
        tile = env.successor[tile]
    if tile != 0 or sorted(seen) != list(range(tiles)):
        problems.append(f"successor {env.successor} is not one cycle through {tiles} tiles")
    for i in range(env.spec.num_agents):
        order = env.goals[i]
        if any(env.successor[order[j]] != order[(j + 1) % tiles] for j in range(tiles)):
            problems.append(f"agent {i} goal {order} does not follow the cycle")
    if any(last != -1 for last in env.last):
        problems.append(f"tiles entered at the start: {env.last}")
    walls = sum(env.terrain[r][c] == WALL for r in range(1, env.height - 1)
                for c in range(1, env.width - 1))
    if walls != settings["num_obstacles"]:
        problems.append(f"{walls} obstacles, expected {settings['num_obstacles']}")
    for cell in env.tiles:
        if env.terrain[cell[0]][cell[1]] != FREE or env.agent_at(*cell) is not None:
            problems.append(f"tile {cell} on a wall or under an agent")
    return problems


RESOLVE = {"referential_v0": resolve_referential, "goal_cycle_v0": resolve_goal_cycle,
           "goal_cycle_v1": resolve_goal_cycle_v1, "maze_v0": resolve_maze}
PROBLEMS = {"referential_v0": referential_problems, "goal_cycle_v0": goal_cycle_problems,
            "goal_cycle_v1": goal_cycle_v1_problems, "maze_v0": maze_problems}
