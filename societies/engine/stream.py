"""The engine's rollout for learners: batches of worlds stepped in lockstep through the
pure core, each agent played by a seat, every step recorded ``[T, B, ...]``.

A **seat** plays some agents of every world (a population role, a recurrent learner,
scripted experts, a random walker). Its state is explicit (Melting Pot style): the loop
hands it in and takes it back, and a :class:`Stream` carries it from one call to the
next, with the worlds and who plays them. A seat has four methods; each may return
entries for the record (tensors or arrays ``[B, ...]``, or dicts of them):

- ``begin(state, rows, turn, generator) -> state``: episodes start in worlds ``rows``
  (at the first call ``state`` is None and ``rows`` is every world);
- ``act(state, turn, generator) -> (state, entries)``: write the seat's actions into
  ``turn`` (seats act in order, so a later seat may overrule an earlier one);
- ``observe(state, turn, outcome) -> (state, entries)``: after the step;
- ``close(state, turn) -> (state, extras)``: at the end of the call, with the worlds
  where they now stand; ``extras`` are kept whole on the :class:`Record`.

With ``auto_reset`` every world starts its next episode the step its episode ends (so no
world waits for the others) and ``draw_members`` seats the new episode; without it each
world plays one episode and waits, masked by ``alive``. A batch may hold several
*arenas*: worlds of different kinds (e.g. with and without experts) stepped together,
their rows concatenated in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from socius.envs import core
from socius.envs.state import StepResult, WorldState


@dataclass
class Arena:
    """Worlds of one kind, where they stand."""

    world: Any
    state: WorldState
    observation: dict[str, np.ndarray]

    @classmethod
    def open(cls, world, seed: int, batch: int, episode: int = 0) -> Arena:
        """``batch`` fresh worlds at episode number ``episode`` of ``seed``'s stream."""
        state, observation = core.reset(world, seed, batch, episode=episode)
        return cls(world, state, observation)

    @property
    def batch(self) -> int:
        """Worlds B."""
        return self.state.batch_size


@dataclass
class Stream:
    """What a batch of worlds carries between calls: the worlds, who plays each world's
    running episode ``members [B, seats]`` (-1: no population member) and every seat's
    state (None until its first ``begin``)."""

    arenas: list[Arena]
    members: np.ndarray
    seats: list[Any] | None = None

    @property
    def batch(self) -> int:
        """Worlds B over every arena."""
        return sum(arena.batch for arena in self.arenas)


@dataclass
class Turn:
    """What the seats see at one step: every arena's observation and state, the actions
    written so far, who plays, and what earlier seats recorded this step."""

    arenas: list[Arena]
    actions: list[np.ndarray]
    members: np.ndarray
    alive: torch.Tensor
    entries: dict[str, Any] = field(default_factory=dict)

    def observed(self, agent: int, keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Agent ``agent``'s observation in every world ``[B, ...]`` (arenas in order)."""
        keys = self.arenas[0].observation.keys() if keys is None else keys
        return {key: _join([arena.observation[key][:, agent] for arena in self.arenas])
                for key in keys}

    def tensors(self, agent: int, keys: Sequence[str] | None = None,
                rows: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """:meth:`observed` (of worlds ``rows``, or all) as contiguous tensors ``[B, ...]``."""
        return {key: torch.as_tensor(np.ascontiguousarray(value if rows is None else value[rows]))
                for key, value in self.observed(agent, keys).items()}

    def write(self, agent: int, channels: slice, values: np.ndarray) -> None:
        """Set agent ``agent``'s action ``channels`` (0: move, 1..L: tokens) in every world."""
        offset = 0
        for arena, actions in zip(self.arenas, self.actions):
            actions[:, agent, channels] = values[offset:offset + arena.batch]
            offset += arena.batch


@dataclass
class Outcome:
    """One step's result: the episodes that ended on it ``[B]`` (only those that were
    running) and the core's whole result per arena."""

    ends: torch.Tensor
    results: list[StepResult]

    def reward(self, agent: int) -> torch.Tensor:
        """Agent ``agent``'s reward in every world ``[B]``."""
        return torch.as_tensor(_join([result.reward[:, agent] for result in self.results]))

    def info(self, key: str, agent: int) -> torch.Tensor:
        """Agent ``agent``'s task outcome ``key`` (``Task.info_keys``) in every world ``[B]``;
        zeros in arenas whose task does not report it."""
        return torch.as_tensor(_join([
            result.info[key][:, agent] if key in result.info
            else np.zeros(len(result.reward), np.float32) for result in self.results]))


@dataclass
class Record:
    """One call's steps: ``steps`` maps each recorded name to ``[T, B, ...]`` (dicts of
    them for observations), beside ``members [T, B, seats]``, ``alive`` (the episode was
    running before the step) and ``ends`` (it ended after it) ``[T, B]``; ``extras`` hold
    what seats hand over whole at the end. Names read as attributes:
    ``record.rewards``."""

    steps: dict[str, Any]
    members: np.ndarray
    alive: torch.Tensor
    ends: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: the recorded names and the extras.
        for table in ("steps", "extras"):
            values = self.__dict__.get(table, {})
            if name in values:
                return values[name]
        raise AttributeError(f"the record has no {name!r}")

    @property
    def episodes(self) -> int:
        """Episodes that ended during the call."""
        return int(self.ends.sum())

    def map(self, function: Callable[[Any], Any]) -> Record:
        """The record with ``function`` applied to every ``[T, B, ...]`` entry (members,
        alive and ends too), e.g. to cut it into chunks; extras are kept as they are."""
        return dataclasses.replace(self, steps=_apply(function, self.steps),
                                   members=function(self.members), alive=function(self.alive),
                                   ends=function(self.ends))

    def with_steps(self, **entries) -> Record:
        """The record with some step entries replaced."""
        return dataclasses.replace(self, steps={**self.steps, **entries})


def play(stream: Stream, seats: Sequence[Any], steps: int, generator: torch.Generator,
         auto_reset: bool = True, draw_members: Callable[[int], np.ndarray] | None = None,
         until: Callable[[int], bool] | None = None) -> tuple[Record, Stream]:
    """``steps`` steps of every world in ``stream`` with ``seats`` acting in order (no
    gradients); returns the record and what the worlds carry into the next call.
    ``until(episodes ended so far)`` may end the call early, after any step."""
    arenas = [dataclasses.replace(arena) for arena in stream.arenas]
    members = stream.members.copy()
    batch = stream.batch
    alive = torch.ones(batch, dtype=torch.bool)
    states = list(stream.seats) if stream.seats is not None else [None] * len(seats)
    recorded: list[dict] = []
    ended_so_far = 0
    with torch.no_grad():
        if stream.seats is None:
            turn = _turn(arenas, members, alive)
            everyone = np.arange(batch)
            states = [seat.begin(None, everyone, turn, generator) for seat in seats]
        for _ in range(steps):
            if until is not None and until(ended_so_far):
                break
            turn = _turn(arenas, members, alive)
            for index, seat in enumerate(seats):
                states[index], entries = seat.act(states[index], turn, generator)
                turn.entries.update(entries)
            results = []
            for arena, actions in zip(arenas, turn.actions):
                arena.state, result = core.step(arena.world, arena.state, actions,
                                                auto_reset=auto_reset)
                arena.observation = result.observation
                results.append(result)
            ended_any = _join([result.terminated | result.truncated for result in results])
            outcome = Outcome(torch.as_tensor(ended_any) & alive, results)
            for index, seat in enumerate(seats):
                states[index], entries = seat.observe(states[index], turn, outcome)
                turn.entries.update(entries)
            recorded.append({"entries": turn.entries, "members": members.copy(),
                             "alive": alive, "ends": outcome.ends})
            ended_so_far += int(outcome.ends.sum())
            if not auto_reset:
                alive = alive & ~outcome.ends
                continue
            ended = outcome.ends.nonzero().squeeze(-1).numpy()
            if len(ended):
                if draw_members is not None:
                    members[ended] = draw_members(len(ended))
                turn = _turn(arenas, members, alive)
                states = [seat.begin(state, ended, turn, generator)
                          for seat, state in zip(seats, states)]
        turn = _turn(arenas, members, alive)
        extras: dict[str, Any] = {}
        for index, seat in enumerate(seats):
            states[index], handed = seat.close(states[index], turn)
            extras.update(handed)
    record = Record(steps=_stack([step["entries"] for step in recorded]),
                    members=np.stack([step["members"] for step in recorded]),
                    alive=torch.stack([step["alive"] for step in recorded]),
                    ends=torch.stack([step["ends"] for step in recorded]), extras=extras)
    return record, Stream(arenas, members, states)


def _turn(arenas: list[Arena], members: np.ndarray, alive: torch.Tensor) -> Turn:
    actions = [np.zeros((arena.batch, arena.world.num_agents,
                         1 + arena.world.config.message_length), dtype=np.int64)
               for arena in arenas]
    return Turn(arenas, actions, members, alive)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _apply(function: Callable[[Any], Any], value):
    if isinstance(value, dict):
        return {key: _apply(function, item) for key, item in value.items()}
    return None if value is None else function(value)


def _stack(entries: list[dict]) -> dict:
    """Per-step entries as ``[T, B, ...]`` (dicts entry by entry)."""
    def stack(values):
        if isinstance(values[0], dict):
            return {key: stack([value[key] for value in values]) for key in values[0]}
        if isinstance(values[0], np.ndarray):
            return np.stack(values)
        if isinstance(values[0], torch.Tensor):
            return torch.stack(values)
        return list(values)  # anything else (e.g. world states) stays a list per step

    return {key: stack([entry[key] for entry in entries]) for key in entries[0]}


def _field_wise(function, *decisions):
    """A decision record of the same dataclass whose every field (each tensor of a dict
    field too) is ``function`` of that field of ``decisions``."""
    def apply(*values):
        if isinstance(values[0], dict):
            return {key: apply(*(value[key] for value in values)) for key in values[0]}
        return function(*values)

    kind = type(decisions[0])
    return kind(*(apply(*(getattr(decision, field.name) for decision in decisions))
                  for field in dataclasses.fields(kind)))


def take_rows(decision, rows: torch.Tensor):
    """The decisions of ``rows``."""
    return _field_wise(lambda value: value[rows.numpy() if isinstance(value, np.ndarray)
                                           else rows], decision)


def put_rows(decision, rows: np.ndarray, fresh):
    """``decision`` with ``rows`` replaced by ``fresh`` (new arrays: the old stay recorded)."""
    index = torch.as_tensor(rows)

    def put(old, new):
        if isinstance(old, np.ndarray):
            old = old.copy()
            old[rows] = new
            return old
        return old.index_copy(0, index, new)

    return _field_wise(put, decision, fresh)


def concat_rows(parts: list):
    """Decisions of several steps as one batch."""
    return _field_wise(lambda *values: np.concatenate(values) if isinstance(
        values[0], np.ndarray) else torch.cat(values), *parts)
