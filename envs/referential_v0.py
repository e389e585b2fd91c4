"""``referential_v0``: speaker-listener groups where language is the only way to win.

Each group has a ``speaker_<i>`` and a ``listener_<i>``. The speaker stands
outside the room (it cannot move, and nobody can see it) and is given its
group's target as its goal: ``(colour, shape)``. The listener sees the room,
which holds K objects of distinct (colour, shape), but not the target (its goal
is masked). A group finishes when its listener steps on any object; both
members are rewarded 1 if that object is the target. Finished groups wait, so
every agent's episode ends together. Each group's target is uniform over the K
objects, so chance is 1/K; while there are no more groups than objects, groups
get distinct targets (a listener standing on its target would block a shared one).

Timing (``speak_first``): the first step of an episode is the speakers'. Listeners
wait through it (stay is their only allowed move) while the message goes out, so each
listener move is made with the message in its inbox; ``max_cycles`` counts every step,
the opening one included (PettingZoo's convention). A group whose listener has stepped
on no object when the episode is truncated has timed out, and pays ``timeout_cost``.

Outcomes: ``info`` carries ``success``, ``wrong_object`` and ``timeout`` (1 on the step
the group's outcome is decided, for both members).

Goal space: ``(colour, shape)`` integers. ``info['achieved_goal']`` is the
(colour, shape) of the object under the listener, or (-1, -1).

``split`` holds out ``held_out`` colour-shape pairs: ``train`` never shows them,
``test`` makes every group's target a held-out pair, ``all`` ignores the list. With
``contrast``, a room puts one distractor that shares the target's colour and one that
shares its shape (drawn from pairs that are not held out), so a code that names one
attribute wins at most half of those rooms (Ren et al. 2020's held-out test needs it:
with random distractors a colour-only code wins most held-out rooms).

Runs made before ``speak_first``, ``timeout_cost`` and ``contrast`` existed load with
``PREVIOUS_DEFAULTS``: the message one step late, no timeout cost, random distractors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from socius.envs import kernels, random
from socius.envs.config import WorldConfig, require
from socius.envs.facade import make_factories
from socius.envs.layouts import open_room
from socius.envs.state import COLOUR, SHAPE
from socius.envs.world import EpisodeStart, Outcome, Task, World, group_inbox_sources, pad_grid

NAME = "referential_v0"
GROUP_SIZE = 2
OUTCOMES = ("success", "wrong_object", "timeout")
"""The numeric outcomes in ``info``: exactly one is 1 for each group, on the step its
episode's outcome is decided."""
TASK_ARRAYS = ("target", "object_colour", "object_shape", "object_row", "object_col")
"""The task arrays of a state, in the order the reset kernel writes them."""


@dataclass(frozen=True)
class ReferentialConfig(WorldConfig):
    """Settings of ``referential_v0``."""

    num_agents: int = 2
    """Total agents; a multiple of 2 (speaker, listener per group)."""
    max_cycles: int = 11
    """Steps after which an episode is truncated, the speakers' opening step included
    (11: ten listener moves)."""
    view_radius: int = 4
    """Listener's view radius; room_size - 1 shows the whole room from anywhere."""
    message_length: int = 2
    """Tokens L per utterance; 0 is a mute channel."""
    room_size: int = 5
    """Side of the square room inside its walls."""
    num_objects: int = 3
    """Objects K in the room, each of a distinct (colour, shape)."""
    held_out: tuple = ()
    """(colour, shape) pairs kept out of the training split."""
    split: str = "all"
    """'train', 'test' or 'all': how the held-out pairs are used."""
    speak_first: bool = True
    """The first step is the speakers' (listeners wait), so every listener move hears the
    message; False is the older timing, where the first move is made in silence."""
    timeout_cost: float = 0.5
    """What each member of a group pays when its episode is truncated before its listener
    stepped on an object, so a guess beats wandering (0: a timeout pays the same as a
    wrong pick). 0.5 was chosen on training success alone (EXPERIMENTS.md, section 3)."""
    contrast: str = "test"
    """Rooms with a distractor sharing the target's colour and one sharing its shape:
    'test' (held-out rooms of split='test'), 'all' (every room) or 'none'."""

    PREVIOUS_DEFAULTS: ClassVar[dict] = {"speak_first": False, "timeout_cost": 0.0,
                                         "contrast": "none"}
    """Values of fields a saved config lacks: the task its run was trained on."""

    @property
    def random_rooms(self) -> bool:
        """Whether rooms hold random distractors (no held-out test target, no contrast):
        the rooms the compiled reset kernel draws."""
        return self.split != "test" and not self.contrasted

    @property
    def contrasted(self) -> bool:
        """Whether this config's rooms place the two contrasting distractors."""
        return self.contrast == "all" or (self.contrast == "test" and self.split == "test")

    def check(self) -> None:
        """Raise ValueError naming the first impossible field."""
        super().check()
        require(self.num_agents % GROUP_SIZE == 0, "num_agents",
                f"a multiple of the group size {GROUP_SIZE} (speaker + listener)", self.num_agents)
        require(self.room_size >= 1, "room_size", "an integer >= 1", self.room_size)
        require(self.hearing_radius == -1, "hearing_radius",
                "-1: speakers stand outside the room, so only the group channel reaches them",
                self.hearing_radius)
        require(self.num_objects >= 1, "num_objects", "an integer >= 1", self.num_objects)
        require(self.split in ("train", "test", "all"), "split", "'train', 'test' or 'all'",
                self.split)
        for pair in self.held_out:
            require(len(pair) == 2 and 0 <= pair[0] < self.n_colours
                    and 0 <= pair[1] < self.n_shapes, "held_out",
                    "(colour, shape) pairs within n_colours x n_shapes", pair)
        allowed = self.n_colours * self.n_shapes - (len(set(map(tuple, self.held_out)))
                                                    if self.split == "train" else 0)
        require(self.num_objects <= allowed, "num_objects",
                f"at most the {allowed} distinct (colour, shape) pairs available", self.num_objects)
        require(self.split != "test" or len(self.held_out) > 0, "held_out",
                "non-empty when split='test'", self.held_out)
        require(self.max_cycles > int(self.speak_first), "max_cycles",
                "at least 2 with speak_first (the speakers' opening step, then a move)",
                self.max_cycles)
        require(self.timeout_cost >= 0, "timeout_cost", "a number >= 0", self.timeout_cost)
        require(self.contrast in ("none", "test", "all"), "contrast", "'none', 'test' or 'all'",
                self.contrast)
        if self.contrasted:
            require(self.num_objects >= 3, "num_objects", f"at least 3 when contrast="
                    f"{self.contrast!r} (the target and its two contrasting distractors)",
                    self.num_objects)
            require(self.num_agents == GROUP_SIZE, "num_agents",
                    f"{GROUP_SIZE} (one group) when contrast={self.contrast!r}: a room is "
                    "built around one target; set contrast='none' for more groups",
                    self.num_agents)
            held = {tuple(p) for p in self.held_out}
            every = [(c, s) for c in range(self.n_colours) for s in range(self.n_shapes)]
            shown = [pair for pair in every if pair not in held]
            targets = {"test": held, "train": shown, "all": every}[self.split]
            lacking = [t for t in sorted(targets)
                       if not any(c == t[0] and s != t[1] for c, s in shown)
                       or not any(c != t[0] and s == t[1] for c, s in shown)]
            require(not lacking, "held_out", "pairs whose colour and shape each appear in a "
                    f"shown pair with another shape or colour (contrast={self.contrast!r} "
                    f"needs them); these do not: {lacking}", self.held_out)
            require(len(shown) >= self.num_objects - 1 + (self.split != "test"), "num_objects",
                    f"at most the {len(shown)} pairs not held out (contrast rooms draw their "
                    "distractors from them)", self.num_objects)
        groups = self.num_agents // GROUP_SIZE
        require(self.num_objects + groups <= self.room_size ** 2, "num_agents",
                f"at most {self.room_size ** 2 - self.num_objects} listeners (free cells)",
                self.num_agents)


def build_world(config: ReferentialConfig) -> World:
    """Static world of a config (checked here too: callers derive configs with
    ``dataclasses.replace``, which checks nothing)."""
    config.check()
    groups = config.num_agents // GROUP_SIZE
    names = tuple(f"{role}_{g}" for g in range(groups) for role in ("speaker", "listener"))
    role = np.tile(np.array([0, 1], dtype=np.int32), groups)
    group = np.repeat(np.arange(groups, dtype=np.int32), GROUP_SIZE)
    side = config.room_size + 2
    held = {tuple(p) for p in config.held_out}
    all_pairs = [(c, s) for c in range(config.n_colours) for s in range(config.n_shapes)]
    pairs = [p for p in all_pairs if p not in held] if config.split == "train" else all_pairs
    goal_visible = np.zeros((config.num_agents, 2), dtype=np.int8)
    goal_visible[role == 0] = 1
    return World(
        name=NAME, config=config,
        task=Task(reset=reset_episodes, resolve=resolve, achieved_size=2, info_keys=OUTCOMES,
                  # The kernel draws rooms of random distractors only (as reset_episodes).
                  start_into=start_into if config.random_rooms else None),
        height=side, width=side, agent_names=names, role_names=("speaker", "listener"),
        agent_role=role, embodied=role == 1, group=group, goal_size=2,
        goal_high=max(config.n_colours, config.n_shapes) - 1, goal_visible=goal_visible,
        free_cells=config.room_size ** 2,
        info={
            "inbox_source": group_inbox_sources(group),
            "base_cells": pad_grid(open_room(side, side), config.view_radius),
            "pairs": np.array(pairs, dtype=np.int64).reshape(-1, 2),
            "held_out": np.array(sorted(held), dtype=np.int64).reshape(-1, 2),
            "listeners": np.flatnonzero(role == 1),
            "listener_slice": slice(1, None, GROUP_SIZE),
            "member_group": group,
            "speakers": np.flatnonzero(role == 0),
            "shown": np.array([p for p in all_pairs if p not in held],
                              dtype=np.int64).reshape(-1, 2),
        },
        opening_steps=int(config.speak_first),
    )


def reset_episodes(world: World, keys: np.ndarray) -> EpisodeStart:
    """Draw rooms, objects, listener positions and targets for ``len(keys)`` episodes."""
    config: ReferentialConfig = world.config
    count, objects = len(keys), config.num_objects
    groups = config.num_agents // GROUP_SIZE
    compiled = kernels.compiled()
    if compiled is not None and config.random_rooms:
        return _reset_compiled(world, keys, compiled)
    pairs = world.info["pairs"]
    choice = random.permutations(keys, random.PURPOSE_OBJECTS, len(pairs))[:, :objects]
    colour, shape = pairs[choice, 0], pairs[choice, 1]
    if groups <= objects:
        # Distinct targets: a listener standing on its target would block a shared one.
        target = random.permutations(keys, random.PURPOSE_GOALS, objects)[:, :groups]
    else:
        target = random.integers(keys, random.PURPOSE_GOALS, (groups,), objects)
    if config.split == "test":
        held = world.info["held_out"]
        pick = random.integers(keys, random.PURPOSE_GOALS + 100, (), len(held))
        others = np.array([[p for p in range(len(pairs)) if tuple(pairs[p]) != tuple(h)]
                           for h in held])
        order = random.permutations(keys, random.PURPOSE_OBJECTS + 100, others.shape[1])
        rest = np.take_along_axis(others[pick], order, axis=1)[:, : objects - 1]
        colour = np.concatenate([held[pick, :1], pairs[rest, 0]], axis=1)
        shape = np.concatenate([held[pick, 1:], pairs[rest, 1]], axis=1)
        target = np.zeros((count, groups), dtype=np.int64)
    if config.contrasted:
        colour, shape = contrast_rooms(world, keys, colour, shape, target)
    side = world.height
    interior = ~open_room(side, side).ravel()
    cells_flat = random.sample_cells(keys, random.PURPOSE_AGENTS,
                                     np.broadcast_to(interior, (count, side * side)),
                                     objects + groups)
    object_row, object_col = np.divmod(cells_flat[:, :objects], side)
    listener_row, listener_col = np.divmod(cells_flat[:, objects:], side)
    pad = world.pad
    cells = np.repeat(world.info["base_cells"][None], count, axis=0)
    env = np.arange(count)[:, None]
    cells[env, COLOUR, object_row + pad, object_col + pad] = colour + 1
    cells[env, SHAPE, object_row + pad, object_col + pad] = shape + 1
    row = np.full((count, config.num_agents), -1, dtype=np.int32)
    col = np.full((count, config.num_agents), -1, dtype=np.int32)
    row[:, world.info["listeners"]] = listener_row
    col[:, world.info["listeners"]] = listener_col
    target_colour = np.take_along_axis(colour, target, axis=1)
    target_shape = np.take_along_axis(shape, target, axis=1)
    goal = np.stack([np.repeat(target_colour, GROUP_SIZE, axis=1),
                     np.repeat(target_shape, GROUP_SIZE, axis=1)], axis=-1)
    task = {"target": target, "object_colour": colour, "object_shape": shape,
            "object_row": object_row, "object_col": object_col}
    return EpisodeStart(cells=cells, row=row, col=col, goal=goal, task=task)


def _reset_compiled(world: World, keys: np.ndarray, compiled) -> EpisodeStart:
    """``reset_episodes`` through its kernel, for rooms of random distractors: the same
    episodes, array for array."""
    config: ReferentialConfig = world.config
    count, objects = len(keys), config.num_objects
    groups, agents = config.num_agents // GROUP_SIZE, config.num_agents
    cells = np.empty((count, *world.info["base_cells"].shape), dtype=np.uint8)
    row = np.empty((count, agents), dtype=np.int32)
    col = np.empty((count, agents), dtype=np.int32)
    goal = np.empty((count, agents, 2), dtype=np.int64)
    task = {"target": np.empty((count, groups), dtype=np.int64)}
    for name in TASK_ARRAYS[1:]:
        task[name] = np.empty((count, objects), dtype=np.int64)
    _start_kernel(world, keys, np.arange(count), cells, row, col, goal, task, compiled)
    return EpisodeStart(cells=cells, row=row, col=col, goal=goal, task=task)


def start_into(world: World, state, index: np.ndarray, keys: np.ndarray, compiled) -> None:
    """``Task.start_into``: the kernel's new episodes written into rows ``index`` of
    ``state`` (only set on worlds whose rooms the kernel draws)."""
    _start_kernel(world, keys, index, state.cells, state.row, state.col, state.goal,
                  state.task, compiled)


def _start_kernel(world: World, keys, index, cells, row, col, goal, task, compiled) -> None:
    """Run ``referential_start_into`` for episodes ``keys`` into rows ``index``."""
    side = world.height
    interior = world.info.get("_interior")
    if interior is None:
        interior = world.info["_interior"] = ~open_room(side, side).ravel()
    compiled.referential_start_into(
        np.asarray(keys, dtype=np.uint64), np.asarray(index, dtype=np.int64),
        world.info["base_cells"], world.info["pairs"],
        *(random.purpose_key(p)[0] for p in (random.PURPOSE_OBJECTS, random.PURPOSE_GOALS,
                                              random.PURPOSE_AGENTS)),
        interior, world.info["listeners"], world.info["member_group"], world.pad, side,
        cells, row, col, goal, *(task[name] for name in TASK_ARRAYS))


def contrast_rooms(world: World, keys: np.ndarray, colour: np.ndarray, shape: np.ndarray,
                   target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objects ``[D, K]`` rebuilt around each room's target (one group: ``check`` sees to
    it): one distractor of its colour, one of its shape, the rest at random, all from the
    pairs not held out."""
    count, objects = colour.shape
    shown = world.info["shown"]  # [P, 2]
    first = target[:, 0]
    env = np.arange(count)
    goal_colour, goal_shape = colour[env, first], shape[env, first]
    same_colour = (shown[None, :, 0] == goal_colour[:, None]) & (
        shown[None, :, 1] != goal_shape[:, None])
    same_shape = (shown[None, :, 1] == goal_shape[:, None]) & (
        shown[None, :, 0] != goal_colour[:, None])
    score = random.uniform(keys, random.PURPOSE_OBJECTS + 200, (len(shown),))  # [D, P]
    by_colour = np.where(same_colour, score, -1.0).argmax(axis=1)
    by_shape = np.where(same_shape, score, -1.0).argmax(axis=1)
    used = (shown[None, :, 0] == goal_colour[:, None]) & (shown[None, :, 1] == goal_shape[:, None])
    used[env, by_colour] = used[env, by_shape] = True
    rest = np.argsort(np.where(used, 2.0, score), axis=1, kind="stable")[:, : objects - 3]
    chosen = np.concatenate([by_colour[:, None], by_shape[:, None], rest], axis=1)  # [D, K-1]
    # The target keeps its slot; the distractors fill the others in a shuffled order.
    order = random.permutations(keys, random.PURPOSE_OBJECTS + 300, objects - 1)
    chosen = np.take_along_axis(chosen, order, axis=1)
    slots = np.argsort(np.arange(objects)[None, :] == first[:, None], axis=1,
                       kind="stable")[:, : objects - 1]
    colour, shape = colour.copy(), shape.copy()
    colour[env[:, None], slots] = shown[chosen, 0]
    shape[env[:, None], slots] = shown[chosen, 1]
    return colour, shape


def resolve(world: World, state, moved: np.ndarray) -> Outcome:
    """Finish groups whose listener stepped on an object; reward a hit on the target."""
    compiled = kernels.compiled()
    if compiled is not None:
        return _resolve_compiled(world, state, compiled)
    listeners = world.info["listener_slice"]
    member_group = world.info["member_group"]  # [N]: each agent's group, to share its outcome
    batch = state.row.shape[0]
    _, planes, height, width = state.cells.shape
    # Flat index of the cell under each listener, in plane 0 of its environment's grid.
    under = (np.arange(batch)[:, None] * (planes * height * width)
             + (state.row[:, listeners] + world.pad) * width + state.col[:, listeners] + world.pad)
    flat = state.cells.reshape(-1)
    colour = flat[under + COLOUR * height * width].astype(np.int32) - 1  # [B, groups]
    shape = flat[under + SHAPE * height * width].astype(np.int32) - 1
    on_object = colour >= 0
    searching = ~state.finished[:, listeners]
    arriving = on_object & searching
    listener_goal = state.goal[:, listeners]
    hit = (colour == listener_goal[..., 0]) & (shape == listener_goal[..., 1])
    # The step that truncates the episode decides every group still searching.
    last_step = (state.step_count + 1 >= world.config.max_cycles)[:, None]
    outcomes = np.empty((3, *arriving.shape), dtype=np.float32)  # [3, B, groups]
    outcomes[0] = arriving & hit
    outcomes[1] = arriving & ~hit
    outcomes[2] = last_step & searching & ~arriving
    info = dict(zip(OUTCOMES, outcomes[:, :, member_group]))
    reward = info["success"] - np.float32(world.config.timeout_cost) * info["timeout"]
    finished = state.finished | arriving[:, member_group]
    achieved = np.empty((*colour.shape, 2), dtype=np.int32)  # [B, groups, 2]
    achieved[..., 0] = colour
    achieved[..., 1] = shape
    achieved[~on_object] = -1
    return Outcome(
        reward=reward,
        finished=finished,
        terminated=finished[:, listeners].all(axis=1),
        goal_achieved=info["success"],
        achieved_goal=achieved[:, member_group],
        desired_goal=state.goal,
        cells=state.cells,
        task=dict(state.task),
        info=info,
    )


def _resolve_compiled(world: World, state, compiled) -> Outcome:
    """``resolve`` through its compiled kernel: the same outcome, array for array."""
    batch, agents = state.row.shape
    reward = np.empty((batch, agents), dtype=np.float32)
    finished = np.empty((batch, agents), dtype=bool)
    terminated = np.empty(batch, dtype=bool)
    achieved = np.empty((batch, agents, 2), dtype=np.int32)
    info = {key: np.empty((batch, agents), dtype=np.float32) for key in OUTCOMES}
    compiled.referential_outcome_into(
        state.cells, state.row, state.col, state.finished, state.goal, state.step_count,
        world.info["member_group"], world.info["listeners"], world.pad,
        world.config.max_cycles, world.config.timeout_cost, reward, finished, terminated,
        achieved, *info.values())
    return Outcome(reward=reward, finished=finished, terminated=terminated,
                   goal_achieved=info["success"], achieved_goal=achieved,
                   desired_goal=state.goal, cells=state.cells, task=dict(state.task), info=info)


CONFIG = ReferentialConfig
parallel_env, raw_env, env = make_factories(NAME, CONFIG, build_world)
