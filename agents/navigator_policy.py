"""The socius navigator acting from observations: its map memory, its subgoals and its
moves (``socius.agents.navigator`` has the networks and how they learn)."""

from __future__ import annotations

import numpy as np
import torch

from socius.agents.map_memory import OPEN, empty_maps, remember_batch
from socius.agents.map_nets import draw_from, same_cell_maps
from socius.agents.navigator import MODES, Navigator
from socius.agents.scripted import as_numpy
from socius.envs.config import require
from socius.envs.moves import NUM_MOVES


class NavigatorPolicy:
    """A trained :class:`Navigator` acting from observations (``mode`` in ``MODES``). Its
    state holds each agent's map, subgoal cell and steps since the subgoal was chosen,
    so viewers can draw the subgoals. ``beta`` weighs moves by steps of progress and
    ``subgoal_beta`` subgoals by the subgoals the rule counts from them (10 was the best
    of 2, 10, 30 and 100 on 60 pairs of 11 x 11 mazes; EXPERIMENTS.md section 7)."""

    def __init__(self, navigator: Navigator, mode: str, height: int, width: int,
                 beta: float = 2.0, subgoal_beta: float = 10.0):
        require(mode in MODES, "mode", f"one of {MODES}", mode)
        # The flat mode walks by the low level alone, which a 'low' navigator has too.
        serves = {"gcbc": ("gcbc",), "flat": ("hierarchical", "low"),
                  "hiql": ("hierarchical", "low")}.get(mode, ("hierarchical",))
        require(navigator.config.learner in serves, "mode",
                f"a mode served by a '{navigator.config.learner}' navigator", mode)
        require(mode != "hiql" or navigator.propagates, "mode",
                "'hiql' only with the propagation body", mode)
        require(beta > 0, "beta", "a number > 0", beta)
        require(subgoal_beta > 0, "subgoal_beta", "a number > 0", subgoal_beta)
        self.navigator, self.mode, self.height, self.width = navigator, mode, height, width
        self.beta, self.subgoal_beta = beta, subgoal_beta

    def initial_state(self, batch: int) -> dict:
        """No map and no subgoal yet (the agent axis comes with the first observation)."""
        return {"map": None, "subgoal": None, "age": None}

    @torch.no_grad()
    def act(self, observation, state, done, generator, privileged=None):
        """Moves ``[B, N, 1 + L]`` among those the action mask allows, drawn from
        ``generator``."""
        observation = as_numpy(observation)
        batch, agents = observation["position"].shape[:2]
        config = self.navigator.config
        if state["map"] is None:
            state = {"map": empty_maps((batch, agents), self.height, self.width),
                     "subgoal": np.full((batch, agents, 2), -1), "age": np.zeros((batch, agents),
                                                                                  np.int64)}
        maps = remember_batch(state["map"], observation, done)
        flat_maps = torch.as_tensor(maps.reshape(-1, self.height, self.width))
        cell = torch.as_tensor(np.maximum(observation["position"].reshape(-1, 2), 0)).long()
        goal = torch.as_tensor(observation["goal"][..., :2].reshape(-1, 2)).long()
        allowed = torch.as_tensor(observation["action_mask"].reshape(-1, NUM_MOVES) > 0).clone()
        subgoal = np.where(np.asarray(done, bool)[:, None, None], -1, state["subgoal"])
        age = np.where(np.asarray(done, bool)[:, None], 0, state["age"] + 1)
        subgoal, age = subgoal.reshape(-1, 2).copy(), age.reshape(-1).copy()
        if self.mode == "gcbc":
            logits = self.navigator.clone_logits(flat_maps, cell, goal)
        else:
            log_steps = self.navigator.low_steps(flat_maps)
            if self.mode in ("hierarchical", "hiql"):
                due = ((age % config.subgoal_steps == 0) | (subgoal[:, 0] < 0)
                       | (subgoal == cell.numpy()).all(-1))
                if due.any():
                    reach = self.navigator.reach(
                        flat_maps[due], cell[due],
                        None if log_steps is None else log_steps[torch.as_tensor(due)])
                    chosen = self._choose(flat_maps[due], cell[due], goal[due], reach,
                                          generator)
                    subgoal[due], age[due] = chosen, 0
                target = torch.as_tensor(subgoal)
            else:
                target = goal
            # Moves drawn by exp(beta * progress), progress in steps (log V / -log gamma):
            # a wrong move costs 2 steps, so this is near greedy where V is sure, and
            # no learned value's local maximum can trap the agent for good.
            progress = self.navigator.move_values(flat_maps, cell, target,
                                                  log_steps).clamp(min=1e-8).log()
            logits = self.beta * progress / -np.log(config.gamma)
        # Reaching a cell never needs standing still, and a half-trained Q often ties
        # "stay" with the right move; stay only where nothing else is allowed.
        allowed[:, 0] = ~allowed[:, 1:].any(-1)
        moves = draw_from(torch.softmax(logits.masked_fill(~allowed, float("-inf")), -1),
                          generator)
        action = np.zeros((batch, agents, 1 + observation["inbox"].shape[-1]), np.int64)
        action[..., 0] = moves.reshape(batch, agents)
        return action, {"map": maps, "subgoal": subgoal.reshape(batch, agents, 2),
                        "age": age.reshape(batch, agents)}

    @torch.no_grad()
    def _choose(self, maps, cell, goal, reach, generator) -> np.ndarray:
        """A remembered open cell within reach, drawn by ``exp(subgoal_beta * n)`` where n
        counts subgoals left by the hierarchical value
        ``alpha [R + gamma (1 - R) V_H(m, g1, goal)]`` (the goal itself scores alpha; in
        ``hiql`` mode the low level's ``V(g1 -> goal)`` stands for V_H); the goal when no
        cell is within reach."""
        config = self.navigator.config
        height, width = maps.shape[1:]
        within = reach >= config.reach_threshold * config.gamma ** (config.subgoal_steps - 1)
        candidate = (maps == OPEN) & within & (same_cell_maps(cell, height, width) == 0)
        achieves = same_cell_maps(goal, height, width)
        onward = (self.navigator.onward_values(maps, goal) if self.mode == "hierarchical"
                  else self.navigator.reach_towards(maps, goal))
        scores = config.alpha * (achieves + config.gamma * (1 - achieves) * onward)
        # n = log score / log(alpha gamma): the subgoals the rule still counts from there.
        subgoals = scores.clamp(min=1e-8).log() / np.log(config.alpha * config.gamma)
        logits = (-self.subgoal_beta * subgoals).masked_fill(~candidate, float("-inf"))
        logits = logits.reshape(len(cell), -1)
        some = candidate.reshape(len(cell), -1).any(-1)
        picked = draw_from(torch.softmax(logits[some], -1), generator)
        chosen = goal.numpy().copy()
        chosen[some.numpy()] = np.stack([picked // width, picked % width], axis=-1)
        return chosen
