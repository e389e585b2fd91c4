"""The hierarchical listener's seat: a subgoal cell chosen from what it sees and hears,
walked to by a low level.

**High level.** Every ``k`` steps, on arrival and when an episode's first move is due,
the listener picks a cell of its view: its network's ``cell_logits`` (per-cell view
features, which already hold the heard message) over the candidates. Candidates are
cells of the room (open or holding an object), not its own, within reach: ``P_k`` from
the low level (``V >= p gamma^(k-1)``), or, for the walker, a BFS distance <= k. Each
choice is one decision of a semi-MDP: its return is the reward collected until the next
decision, plus ``gamma`` times that decision's value (SCIENCE.md: one discount per
subgoal), or the reward alone when the episode ends first. Decisions are handed to the
trainer when they close, as the speaker's are.

**Low level** (``LOW_LEVELS``): ``learned`` is a navigator low level (``V(o, m, g)`` to
every cell, ``socius.agents.navigator``) on the room's map, with objects as a fourth kind
of cell (entering one ends the walk); it is trained online on the listener's own steps
with all-goals hindsight (``societies.language.hierarchical``). ``bfs`` walks the
shortest path, going round other objects: the one-level listener that is the ceiling
for hierarchy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from socius.agents.map_memory import empty_maps, remember
from socius.agents.subgoal_cells import (
    LOW_LEVELS,
    OBJECT,
    choose_cells,
    due_decisions,
    mark_view_cells,
    subgoal_candidates,
    view_cells,
    walk_moves,
)
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.envs.referential_v0 import OUTCOMES
from socius.societies.engine.stream import Turn, concat_rows, put_rows, take_rows
from socius.societies.language.agents import LISTENER, SPEAKER, turn_inputs


@dataclass
class CellDecision:
    """Listener decisions ``[D, ...]``: one subgoal cell each."""

    inputs: dict[str, torch.Tensor]  # the listener's observation when it chose
    members: np.ndarray  # [D] the listener member
    speaker: dict[str, torch.Tensor]  # its speaker's observation (the relaxed message's)
    speaker_members: np.ndarray  # [D]
    tokens: torch.Tensor  # [D, L] the message heard
    noise: torch.Tensor  # [D, L, V] the Gumbel noise that drew it
    candidates: torch.Tensor  # [D, S * S] bool
    cell: torch.Tensor  # [D] the chosen view cell
    cell_logp: torch.Tensor  # [D]
    value: torch.Tensor  # [D] the listener's value when it chose
    returns: torch.Tensor  # [D] reward since, then + gamma * the next decision's value


@dataclass(frozen=True)
class CellState:
    """The seat's state: each world's open decision (``chosen``: one is open), subgoal
    (absolute cell; -1 none), steps since it was chosen, and decisions closed during the
    current call."""

    decision: CellDecision | None
    chosen: np.ndarray
    subgoal: np.ndarray
    age: np.ndarray
    finished: tuple[CellDecision, ...] = ()


def room_maps(view: np.ndarray, position: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The room ``[B, H, W]`` as the listener sees it: unknown, open, wall, or object."""
    maps = remember(empty_maps((len(view),), *shape), view, position)
    # colour + 1: an object stands there
    return mark_view_cells(maps, view[:, 1] > 0, position, OBJECT)


class CellListener:
    """The listeners' seat when ``agent`` is hierarchical or walker (module doc). The
    learned low level is ``population.skill`` (built by ``agents.make_population``)."""

    def __init__(self, config, population, greedy: bool = False):
        self.config, self.population, self.greedy = config, population, greedy
        self.low_level = LOW_LEVELS[config.agent]

    def begin(self, state: CellState | None, rows, turn: Turn, generator) -> CellState:
        """Episodes start in ``rows``: no subgoal and no open decision there."""
        if state is None:
            batch = len(turn.members)
            return CellState(None, np.zeros(batch, bool), np.full((batch, 2), -1),
                             np.zeros(batch, np.int64))
        chosen, subgoal, age = state.chosen.copy(), state.subgoal.copy(), state.age.copy()
        chosen[rows], subgoal[rows], age[rows] = False, -1, 0
        return dataclasses.replace(state, chosen=chosen, subgoal=subgoal, age=age)

    def act(self, state: CellState, turn: Turn, generator: torch.Generator):
        """Choose where due, then take one low-level step towards each subgoal."""
        listener_in = turn_inputs(turn, LISTENER)
        position = turn.observed(LISTENER, ("position",))["position"].astype(np.int64)
        view = listener_in["view"].numpy()
        maps = room_maps(view, position, self.grid_shape(turn))
        movable = (listener_in["action_mask"][:, 1:] > 0).any(-1).numpy()
        due = due_decisions(state.chosen, state.subgoal, state.age, position, movable,
                            self.config.skill.subgoal_steps)
        state = self._choose(state, turn, listener_in, maps, position, due, generator)
        moves = np.zeros(len(position), np.int64)
        going = movable & turn.alive.numpy()
        if going.any():
            moves[going] = self._walk(maps[going], position[going], state.subgoal[going],
                                      listener_in["action_mask"][going], generator)
        turn.write(LISTENER, slice(0, 1), moves[:, None])
        age = np.where(movable, state.age + 1, state.age)
        entered = position + np.stack([MOVE_ROW[moves], MOVE_COL[moves]], -1)
        return dataclasses.replace(state, age=age), {
            "listener": listener_in, "moves": torch.as_tensor(moves),
            "room": torch.as_tensor(maps), "position": torch.as_tensor(position),
            "walking": torch.as_tensor(going), "subgoal": torch.as_tensor(state.subgoal),
            "aimed": torch.as_tensor((entered == state.subgoal).all(-1))}

    def grid_shape(self, turn: Turn) -> tuple[int, int]:
        """The world's grid (height, width)."""
        world = turn.arenas[0].world
        return world.height, world.width

    def _choose(self, state, turn, listener_in, maps, position, due, generator):
        """Close the decisions of ``due`` worlds (bootstrapped from the new ones' values)
        and open new ones."""
        rows = np.nonzero(due)[0]
        if not len(rows):
            return state
        reach = None  # only the worlds choosing now need the low level's reach
        if self.low_level == "learned":
            reach = self.population.skill.reach(torch.as_tensor(maps[rows]),
                                                torch.as_tensor(position[rows])).numpy()
        side = listener_in["view"].shape[-1]
        inputs = {key: value[rows] for key, value in listener_in.items()}
        listener_members = turn.members[rows, LISTENER]
        out = self.population.run("listener", inputs, listener_members)
        candidates = torch.as_tensor(subgoal_candidates(
            self.config, maps[rows], position[rows], side, reach))
        cells = view_cells(position[rows], side)
        chosen, logits = choose_cells(out["cell_logits"], candidates, self.greedy, generator)
        speaker = turn.entries["speaker"]
        fresh = CellDecision(
            inputs, listener_members, {key: value[rows] for key, value in speaker.items()},
            turn.members[rows, SPEAKER], turn.entries["tokens"][rows],
            turn.entries["noise"][rows], candidates, chosen,
            logits.gather(-1, chosen[:, None]).squeeze(-1), out["value"],
            torch.zeros(len(rows)))
        finished = state.finished
        closing = rows[state.chosen[rows]]
        if len(closing):
            closed = take_rows(state.decision, torch.as_tensor(closing))
            onward = fresh.value[torch.as_tensor(state.chosen[rows])]
            closed.returns = closed.returns + self.config.skill.gamma * onward
            finished = finished + (closed,)
        decision = state.decision if state.decision is not None else _blank(fresh, len(due))
        subgoal = state.subgoal.copy()
        subgoal[rows] = cells[np.arange(len(rows)), chosen.numpy()]
        chosen_now, age = state.chosen.copy(), state.age.copy()
        chosen_now[rows], age[rows] = True, 0
        return CellState(put_rows(decision, rows, fresh), chosen_now, subgoal, age, finished)

    def _walk(self, maps, position, subgoal, action_mask, generator) -> np.ndarray:
        """One low-level move each towards ``subgoal``."""
        skill = self.population.skill if self.low_level == "learned" else None
        return walk_moves(self.config, skill, maps, position, subgoal, action_mask,
                          self.greedy, generator)

    def observe(self, state: CellState, turn: Turn, outcome):
        """Reward into each open decision; decisions whose episode ended are closed."""
        reward = outcome.reward(LISTENER) * turn.alive
        finished = state.finished
        decision = state.decision
        if decision is not None:
            decision = dataclasses.replace(decision, returns=decision.returns + reward
                                           * torch.as_tensor(state.chosen))
            ended = np.nonzero(outcome.ends.numpy() & state.chosen)[0]
            if len(ended):
                finished = finished + (take_rows(decision, torch.as_tensor(ended)),)
        chosen = state.chosen & ~outcome.ends.numpy()
        entered = torch.zeros_like(reward, dtype=torch.bool)
        for key in ("success", "wrong_object"):
            entered |= outcome.info(key, LISTENER) > 0
        # A walk that entered an object other than its subgoal strayed: a low-level failure,
        # counted apart from a wrong choice.
        entries = {"rewards": reward, "terminal": entered & turn.alive,
                   "stray": entered & turn.alive & ~turn.entries["aimed"],
                   **{key: outcome.info(key, LISTENER) * turn.alive for key in OUTCOMES}}
        return CellState(decision, chosen, state.subgoal, state.age, finished), entries

    def close(self, state: CellState, turn: Turn):
        """The decisions closed during the call (None if none); open ones carry on."""
        done = concat_rows(list(state.finished)) if state.finished else None
        return dataclasses.replace(state, finished=()), {"listener_decisions": done,
                                                         "bootstrap": None}


def _blank(fresh: CellDecision, batch: int) -> CellDecision:
    """Decisions for ``batch`` worlds shaped like ``fresh``, all zero (nothing open yet)."""
    def blank(value):
        if isinstance(value, np.ndarray):
            return np.zeros((batch, *value.shape[1:]), value.dtype)
        return value.new_zeros((batch, *value.shape[1:]))

    return dataclasses.replace(fresh, **{
        field.name: ({k: blank(v) for k, v in getattr(fresh, field.name).items()}
                     if isinstance(getattr(fresh, field.name), dict)
                     else blank(getattr(fresh, field.name)))
        for field in dataclasses.fields(fresh)})


class CellPolicy:
    """A hierarchical listener as a :class:`~socius.agents.policy.Policy` (the viewer's
    seat; greedy): ``network`` one listener member, ``skill`` the learned low level (None:
    the walker), ``listeners`` the agent indices it plays. Its state holds every agent's
    subgoal ``[B, N, 2]`` (-1: none), which the viewer draws."""

    def __init__(self, config, network, skill, listeners, grid_shape: tuple[int, int]):
        self.config, self.network, self.skill = config, network, skill
        self.listeners, self.grid_shape = list(listeners), grid_shape

    def initial_state(self, batch: int) -> dict:
        """No subgoals yet (the agent axis comes with the first observation)."""
        return {"subgoal": None, "age": None}

    @torch.no_grad()
    def act(self, observation, state, done, generator, privileged=None):
        """A subgoal where one is due, then one step towards it, for every listener."""
        observation = {key: np.asarray(value) for key, value in observation.items()}
        batch, agents = observation["position"].shape[:2]
        reset = np.asarray(done, bool)[:, None]
        subgoal = np.full((batch, agents, 2), -1) if state["subgoal"] is None else np.where(
            reset[..., None], -1, state["subgoal"])
        age = np.zeros((batch, agents), np.int64) if state["age"] is None else np.where(
            reset, 0, state["age"])
        action = np.zeros((batch, agents, 1 + self.config.world.message_length), np.int64)
        torch_generator = torch.Generator().manual_seed(int(generator.integers(2 ** 62)))
        for agent in self.listeners:  # one or a few listeners: the viewer's worlds
            seen = {key: torch.as_tensor(value[:, agent]) for key, value in observation.items()}
            position = observation["position"][:, agent].astype(np.int64)
            maps = room_maps(observation["view"][:, agent], position, self.grid_shape)
            movable = (seen["action_mask"][:, 1:] > 0).any(-1).numpy()
            due = due_decisions(subgoal[:, agent, 0] >= 0, subgoal[:, agent], age[:, agent],
                                position, movable, self.config.skill.subgoal_steps)
            if due.any():
                reach = None if self.skill is None else self.skill.reach(
                    torch.as_tensor(maps[due]), torch.as_tensor(position[due])).numpy()
                side = seen["view"].shape[-1]
                candidates = subgoal_candidates(self.config, maps[due], position[due], side,
                                                reach)
                logits = self.network({k: v[due] for k, v in seen.items()})[0]["cell_logits"]
                chosen, _ = choose_cells(logits, torch.as_tensor(candidates), True, None)
                cells = view_cells(position[due], side)
                subgoal[due, agent] = cells[np.arange(int(due.sum())), chosen.numpy()]
                age[due, agent] = 0
            if movable.any():
                action[movable, agent, 0] = walk_moves(
                    self.config, self.skill, maps[movable], position[movable],
                    subgoal[movable, agent], seen["action_mask"][movable], True, torch_generator)
            age[:, agent] += movable
        return action, {"subgoal": subgoal, "age": age}
