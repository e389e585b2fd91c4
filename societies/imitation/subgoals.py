"""The hierarchical learner's seat in Goal Cycle: a subgoal cell chosen from what it sees
and remembers, walked to by a low level (``agent=hierarchical|walker``).

**High level.** The learner's recurrent network reads every step, so its memory holds
what it saw the experts do. Every ``k`` steps, on arrival and at an episode's first step
it picks a view cell by its ``cell_logits`` (each cell scored by its contents, and by the
memory: ``AgentNetwork(cell_memory=True)``). Candidates are the view's open cells and
tiles, not its own and not another agent's, within reach (``agents.subgoal_cells``).
Each choice is one decision of a semi-MDP (SCIENCE.md): its return is the reward until
the next decision, plus ``gamma`` times that decision's value, or the reward alone at the
episode's end (:func:`decision_returns`). PPO trains the choice on the world's reward
(:func:`cell_terms`), with the learner's own value as its critic; the auxiliary loss on
the experts' next moves is the flat learner's.

**Low level.** The map it walks on is the current view: walls, open cells, tiles as
objects (a walk enters no tile but its subgoal, since entering one pays or costs) and
other agents as walls for the moment. ``hierarchical`` walks by a navigator low level
learned online on the learner's own steps with all-goals hindsight (``Replay``);
``walker`` walks by BFS, the one-level ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from socius.agents.imitation import SocialLearner
from socius.agents.map_memory import WALL, empty_maps, remember
from socius.agents.navigator import Navigator
from socius.agents.ppo import clipped_surrogate, normalise
from socius.agents.subgoal_cells import (
    LOW_LEVELS,
    OBJECT,
    LowLevel,
    choose_cells,
    due_decisions,
    mark_view_cells,
    subgoal_candidates,
    view_cells,
    walk_moves,
)
from socius.envs.moves import MOVE_COL, MOVE_ROW
from socius.societies.engine.stream import Record, Turn

TILE_CHANNEL, AGENT_CHANNEL = 3, 4
"""View channels of Goal Cycle's tiles (tile + 1) and agents (1 + role)."""
CHOICES = ("decided", "candidates", "cell", "cell_logp")
"""What the record keeps of each step's subgoal choice (if one was made)."""


def cycle_maps(view: np.ndarray, position: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The grid ``[B, H, W]`` as the learner sees it now: unknown, open, wall (other agents
    too), or object (a tile)."""
    maps = remember(empty_maps((len(view),), *shape), view, position)
    mark_view_cells(maps, view[:, TILE_CHANNEL] > 0, position, OBJECT)
    others = view[:, AGENT_CHANNEL] > 0
    radius = (view.shape[-1] - 1) // 2
    others[:, radius, radius] = False  # the learner itself
    return mark_view_cells(maps, others, position, WALL)


@dataclass(frozen=True)
class CellLearnerState:
    """The seat's state: memory, last reward, and each world's subgoal (absolute cell; -1
    none), whether one is chosen, and the steps walked towards it."""

    memory: torch.Tensor
    previous_reward: torch.Tensor
    chosen: np.ndarray
    subgoal: np.ndarray
    age: np.ndarray


class CellLearner:
    """agent_0's seat when ``config.agent`` is hierarchical or walker (module doc);
    ``skill`` is the learned low level (unused by the walker)."""

    def __init__(self, config, learner: SocialLearner, skill: Navigator | None,
                 greedy: bool = False):
        self.config, self.learner, self.greedy = config, learner, greedy
        self.skill = skill if LOW_LEVELS[config.agent] == "learned" else None
        if LOW_LEVELS[config.agent] == "learned" and skill is None:
            raise ValueError("agent=hierarchical needs its learned low level (skill)")

    def fresh(self, batch: int) -> CellLearnerState:
        """Fresh memory, no reward and no subgoal, for ``batch`` worlds."""
        return CellLearnerState(self.learner.initial_state((batch,)), torch.zeros(batch),
                                np.zeros(batch, bool), np.full((batch, 2), -1),
                                np.zeros(batch, np.int64))

    def begin(self, state, rows, turn: Turn, generator) -> CellLearnerState:
        """A fresh state (whole lockstep episodes only)."""
        return self.fresh(len(turn.alive))

    def act(self, state: CellLearnerState, turn: Turn, generator: torch.Generator):
        """Read the step into memory, choose where due, then one low-level step."""
        observation = turn.tensors(0)
        observation["previous_reward"] = state.previous_reward
        world = turn.arenas[0].world
        moves, state, entries = cell_step(self.config, self.learner, self.skill, observation,
                                          state, (world.height, world.width), self.greedy,
                                          generator)
        turn.write(0, slice(0, 1), moves[:, None])
        return state, entries

    def observe(self, state: CellLearnerState, turn: Turn, outcome):
        """agent_0's reward; an entered tile the walk was not aimed at is a stray."""
        reward = outcome.reward(0)
        entered = reward != 0  # every tile entry pays or costs; nothing else does
        return CellLearnerState(state.memory, reward, state.chosen, state.subgoal, state.age), {
            "rewards": reward, "stray": entered & ~turn.entries["aimed"]}

    def close(self, state, turn):
        """Nothing to hand over: every episode ended with the call."""
        return state, {}


def cell_step(config, learner: SocialLearner, skill: Navigator | None,
              observation: dict[str, torch.Tensor], state: CellLearnerState,
              grid_shape: tuple[int, int], greedy: bool, generator: torch.Generator):
    """One step of the hierarchical learner (the seat's and the viewer's): the moves
    ``[B]``, the next state and what the record keeps of the step."""
    outputs, memory = learner(observation, state.memory)
    position = observation["position"].numpy().astype(np.int64)
    view = observation["view"].numpy()
    maps = cycle_maps(view, position, grid_shape)
    movable = (observation["action_mask"][:, 1:] > 0).any(-1).numpy()
    due = due_decisions(state.chosen, state.subgoal, state.age, position, movable,
                        config.skill.subgoal_steps)
    batch, side = len(position), view.shape[-1]
    candidates = torch.zeros(batch, side * side, dtype=torch.bool)
    cell, cell_logp = torch.zeros(batch, dtype=torch.int64), torch.zeros(batch)
    subgoal, age = state.subgoal.copy(), state.age.copy()
    if due.any():
        rows = torch.as_tensor(np.nonzero(due)[0])
        # Only worlds choosing now need the low level's reach.
        reach = None if skill is None else skill.reach(
            torch.as_tensor(maps[due]), torch.as_tensor(position[due])).numpy()
        candidates[rows] = torch.as_tensor(subgoal_candidates(
            config, maps[due], position[due], side, reach))
        chosen, log_probs = choose_cells(outputs["cell_logits"][rows], candidates[rows],
                                         greedy, generator)
        cell[rows], cell_logp[rows] = chosen, log_probs.gather(-1, chosen[:, None])[:, 0]
        subgoal[due] = view_cells(position[due], side)[np.arange(len(rows)), chosen.numpy()]
        age[due] = 0
    moves = np.zeros(batch, np.int64)
    if movable.any():
        moves[movable] = walk_moves(config, skill, maps[movable], position[movable],
                                    subgoal[movable], observation["action_mask"][movable],
                                    greedy, generator)
    entered = position + np.stack([MOVE_ROW[moves], MOVE_COL[moves]], -1)
    entries = {"observation": observation, "moves": torch.as_tensor(moves),
               "values": outputs["value"], "peer_logits": outputs["peer_logits"],
               "log_probs": torch.zeros(batch), "decided": torch.as_tensor(due),
               "cell": cell, "cell_logp": cell_logp, "candidates": candidates,
               "room": torch.as_tensor(maps), "position": torch.as_tensor(position),
               "walking": torch.as_tensor(movable),
               "aimed": torch.as_tensor((entered == subgoal).all(-1))}
    return moves, CellLearnerState(memory, state.previous_reward, state.chosen | due, subgoal,
                                   np.where(movable, age + 1, age)), entries


class CellLearnerPolicy:
    """A hierarchical learner as a :class:`~socius.agents.policy.Policy` for agent 0 (the
    viewer's seat; greedy, and blind to rewards, so runs with ``reward_input`` are not
    seated). Its state holds every agent's subgoal ``[B, N, 2]`` (-1: none; only agent 0
    has one), which the viewer draws."""

    def __init__(self, config, learner: SocialLearner, skill: Navigator | None,
                 grid_shape: tuple[int, int]):
        self.seat = CellLearner(config, learner, skill, greedy=True)
        self.grid_shape = grid_shape

    def initial_state(self, batch: int) -> dict:
        """Fresh memory and no subgoal."""
        return {"cells": self.seat.fresh(batch), "subgoal": None}

    @torch.no_grad()
    def act(self, observation, state, done, generator, privileged=None):
        """agent 0's move towards its subgoal (a new one where due)."""
        batch, agents = np.asarray(observation["position"]).shape[:2]
        cells = state["cells"]
        fresh = self.seat.fresh(batch)
        reset = np.asarray(done, bool)
        cells = CellLearnerState(
            torch.where(torch.as_tensor(reset)[:, None], fresh.memory, cells.memory),
            fresh.previous_reward, cells.chosen & ~reset,
            np.where(reset[:, None], -1, cells.subgoal), np.where(reset, 0, cells.age))
        seen = {key: torch.as_tensor(np.asarray(value)[:, 0]) for key, value in observation.items()}
        seen["previous_reward"] = cells.previous_reward
        moves, cells, _ = cell_step(self.seat.config, self.seat.learner, self.seat.skill, seen,
                                    cells, self.grid_shape, True,
                                    torch.Generator().manual_seed(int(generator.integers(2 ** 62))))
        action = np.zeros((batch, agents, 1 + observation["inbox"].shape[-1]), np.int64)
        action[:, 0, 0] = moves
        subgoal = np.full((batch, agents, 2), -1)
        subgoal[:, 0] = cells.subgoal
        return action, {"cells": cells, "subgoal": subgoal}


def decision_returns(episodes: Record, gamma: float) -> torch.Tensor:
    """The semi-MDP return ``[T, B]`` of every decision step (0 elsewhere): the reward
    until the next decision, plus ``gamma`` times that decision's value, or the reward
    alone when the episode ends first."""
    rewards, values = episodes.rewards, episodes.values.detach()
    decided = episodes.decided.float()
    returns = torch.zeros_like(rewards)
    onward = torch.zeros_like(rewards[0])  # what follows the step after t
    for step in range(rewards.shape[0] - 1, -1, -1):  # a time loop; worlds in parallel
        returns[step] = rewards[step] + onward
        onward = decided[step] * gamma * values[step] + (1 - decided[step]) * returns[step]
    return returns * decided


def cell_terms(config, outputs: dict[str, torch.Tensor], choices: dict[str, torch.Tensor],
               advantage: torch.Tensor, returns: torch.Tensor) -> dict[str, torch.Tensor]:
    """PPO terms of the subgoal choices of a minibatch of whole sequences (``choices``: the
    record's ``CHOICES`` ``[T, B, ...]``; ``outputs`` the learner's over them): surrogate,
    value and entropy at decision steps."""
    decided = choices["decided"]
    logits = outputs["cell_logits"][decided].masked_fill(~choices["candidates"][decided],
                                                         float("-inf"))
    choice = torch.distributions.Categorical(logits=logits)
    return {"policy": clipped_surrogate(choice.log_prob(choices["cell"][decided]),
                                        choices["cell_logp"][decided],
                                        normalise(advantage[decided]), config.clip),
            "value": ((outputs["value"][decided] - returns[decided]) ** 2).mean(),
            "entropy": -choice.entropy().mean()}


def learn_walks(config, low: LowLevel, episodes: Record) -> tuple[LowLevel, dict[str, float]]:
    """The round's walking steps into the learned low level (nothing without one)."""
    if low.skill is None:
        return low, {}
    return low.learn(config, episodes.room.numpy(), episodes.position.numpy(),
                     episodes.walking.numpy())


def decision_counts(config, low: LowLevel, rounds: int, episodes: Record) -> dict[str, float]:
    """The low level's updates so far and the round's decisions and strays."""
    if config.agent == "flat":
        return {}
    counts = {"decisions": int(episodes.decided.sum()),
              "strays": int(episodes.stray.sum())}
    if low.skill is not None:
        counts["skill_updates"] = rounds * config.skill_updates
    return counts
