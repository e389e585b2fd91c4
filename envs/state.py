"""The world state (a frozen record of batched arrays) and the results of a step."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# Planes of `cells` (and channels of the `view` observation), in order.
TERRAIN, COLOUR, SHAPE, TILE, AGENT = 0, 1, 2, 3, 4
FREE, WALL, OUTSIDE = 0, 1, 2


@dataclass(frozen=True)
class WorldState:
    """Everything that changes in B environments of N agents; arrays lead with ``[B]``.

    Grids are padded by ``view_radius`` cells of OUTSIDE terrain on every side so
    that every view window is an in-bounds slice. Coordinates (``row``, ``col``)
    are in the unpadded grid; a disembodied agent (a speaker outside the room)
    sits at -1, -1.
    """

    cells: np.ndarray
    """uint8 ``[B, 5, H+2r, W+2r]`` planes: terrain, object colour+1, object shape+1,
    goal tile+1, and 1 + the role of the agent standing there (0 for none)."""
    occupant: np.ndarray
    """int16 ``[B, H+2r, W+2r]``: index of the agent standing in each cell, -1 if none."""
    row: np.ndarray
    """int32 ``[B, N]``: each agent's row, -1 when disembodied."""
    col: np.ndarray
    """int32 ``[B, N]``: each agent's column, -1 when disembodied."""
    goal: np.ndarray
    """int32 ``[B, N, G]``: each agent's goal, in the task's goal space."""
    finished: np.ndarray
    """bool ``[B, N]``: agent is done for this episode and waits (its moves are ignored)."""
    last_move: np.ndarray
    """int8 ``[B, N]``: move taken on the previous step, -1 before the first step."""
    last_message: np.ndarray
    """int32 ``[B, N, L]``: tokens delivered on the previous step, -1 for silence."""
    step_count: np.ndarray
    """int32 ``[B]``: steps taken in the current episode."""
    episode: np.ndarray
    """int64 ``[B]``: episodes started by each environment since its seed."""
    env_index: np.ndarray
    """int64 ``[B]``: identity of each environment within its seed (not its batch slot)."""
    seed: np.ndarray
    """int64 ``[B]``: the seed each environment was reset with."""
    key: np.ndarray
    """uint64 ``[B]``: key of the current episode's random stream."""
    task: Mapping[str, np.ndarray]
    """Task-specific arrays, each leading with ``[B]``."""

    @property
    def batch_size(self) -> int:
        """Number of environments B."""
        return int(self.step_count.shape[0])


@dataclass(frozen=True)
class StepResult:
    """What one step returns besides the new state; arrays lead with ``[B, N]``."""

    observation: dict[str, np.ndarray]
    """Observation of every agent after the step (after any auto-reset)."""
    reward: np.ndarray
    """float32 ``[B, N]``."""
    terminated: np.ndarray
    """bool ``[B]``: the episode ended by the task's own rule (all agents end together)."""
    truncated: np.ndarray
    """bool ``[B]``: the episode hit ``max_cycles`` without terminating."""
    goal_achieved: np.ndarray
    """float32 ``[B, N]``: 1 when the agent achieved its goal on this step."""
    achieved_goal: np.ndarray
    """int32 ``[B, N, Ga]``: what the agent achieved, comparable to ``desired_goal``."""
    desired_goal: np.ndarray
    """int32 ``[B, N, Ga]``: what the agent is asked to achieve."""
    message: np.ndarray
    """int32 ``[B, N, L]``: the tokens as delivered on this step (after noise), -1 for silence."""
    finished: np.ndarray
    """bool ``[B, N]``: agents done for the episode after this step (before any reset)."""
    final_index: np.ndarray
    """int64 ``[D]``: environments that finished on this step and were reset."""
    final_observation: dict[str, np.ndarray] | None
    """Observation ``[D, N, ...]`` of the finished environments before their reset."""
    final_state: WorldState | None = None
    """The finished environments' state ``[D]`` before their reset (for viewers)."""
    info: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """float32 ``[B, N]`` task outcomes (``Task.info_keys``), e.g. the referential game's
    success, wrong_object and timeout, 1 on the step the outcome happens."""


def replace(state: WorldState, **changes) -> WorldState:
    """A copy of ``state`` with some fields replaced."""
    return built(WorldState, {**state.__dict__, **changes})


def built(cls, fields: dict):
    """A frozen dataclass ``cls`` holding exactly ``fields`` (every field, no other name).

    Its ``__init__`` sets each field through ``object.__setattr__``, which at B = 1 costs
    more than the rest of a step's bookkeeping; these records check nothing on the way in.
    """
    if fields.keys() != _FIELD_NAMES[cls]:
        raise TypeError(f"{cls.__name__} needs exactly the fields {sorted(_FIELD_NAMES[cls])}; "
                        f"got {sorted(fields)}")
    new = object.__new__(cls)
    new.__dict__.update(fields)
    return new


def take(state: WorldState, index: np.ndarray) -> WorldState:
    """The sub-batch of environments ``index``: every array indexed on its first axis."""
    fields = {name: getattr(state, name)[index] for name in _ARRAY_FIELDS}
    return WorldState(**fields, task={name: value[index] for name, value in state.task.items()})


def arrays_of(state: WorldState) -> list[np.ndarray]:
    """Every array a state holds, task arrays included."""
    return [getattr(state, name) for name in _ARRAY_FIELDS] + list(state.task.values())


def _root(array: np.ndarray) -> np.ndarray:
    """The array at the end of ``array``'s chain of numpy bases (the one holding its memory)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def private_test(protected: list[np.ndarray] | None):
    """A test of whether an array surely shares memory with none of ``protected``."""
    if protected is None:
        return lambda array: False
    # Arrays share memory only through a common root; a root that does not own its memory
    # (a foreign buffer) could alias anything, so then every array is compared in full.
    if any(_root(p).base is not None for p in protected):
        return lambda array: not any(np.may_share_memory(array, p) for p in protected)
    roots = {id(_root(p)) for p in protected}

    def private(array):
        """Whether ``array``'s own root holds its memory and is none of ``protected``'s."""
        root = _root(array)
        return root.base is None and id(root) not in roots

    return private


def owned(state: WorldState, names: tuple[str, ...],
          protected: list[np.ndarray] | None = None) -> WorldState:
    """``state`` with the arrays ``names`` (and every task array) safe to write in place:
    those that may share memory with ``protected`` (all of them without it) copied."""
    private = private_test(protected)

    def mine(array):
        """``array`` itself if private, else a copy."""
        return array if private(array) else array.copy()

    changed = {name: mine(getattr(state, name)) for name in names}
    return replace(state, **changed, task={name: mine(value) for name, value in state.task.items()})


def put(state: WorldState, index: np.ndarray, rows: WorldState,
        protected: list[np.ndarray] | None = None) -> WorldState:
    """``state`` with environments ``index`` replaced by ``rows``.

    Without ``protected`` every array is copied before writing. With it, arrays
    that may overlap none of ``protected`` (arrays a step has just created and
    handed to nobody else) are written in place, saving a copy.
    """
    state = owned(state, _ARRAY_FIELDS, protected)
    for name in _ARRAY_FIELDS:
        getattr(state, name)[index] = getattr(rows, name)
    for name, value in state.task.items():
        value[index] = rows.task[name]
    return state


_ARRAY_FIELDS = tuple(f.name for f in dataclasses.fields(WorldState) if f.name != "task")
_FIELD_NAMES = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (WorldState, StepResult)}
