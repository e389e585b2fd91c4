"""The socius navigator: a two-level, goal-conditioned agent that reads its observation
and its map memory, so it works on layouts it has never seen.

Every network reads *planes* over the grid: the map memory (unknown / open / wall, see
``socius.agents.map_memory``), the agent's own cell and, for goal-conditioned heads, the
goal cell, each with its offset to every cell. The networks are fully convolutional and
answer for every cell at once, which is how the agent scores all its candidates in one
pass.

- **Low level**: ``V(o, m, g)``, the reach probability of every goal cell g from where the
  agent stands (SCIENCE.md's flat rule), fitted as HIQL fits its value: an expectile of
  ``r + gamma (1 - r) V(next)`` on the data's own transitions, so no move outside the
  data is ever maximised over (a caller that knows every move's successor may pass them
  all, and the target is then the best one's: the listener's low level does). Hindsight
  relabelling in its complete form: every open cell is a relabelled goal of every
  transition ("all goals", Kaelbling 1993), with the trajectory's own future as a floor
  (``gamma^(j-1)`` at a cell it entered j steps later).
  ``Q(o, m, a, g) = gamma V(o_a, m, g)``: the move rule of the grid is known, so the value
  after a move is read with the agent moved on its current map. P_k(o, m -> g1) is read
  from V: g1 is within k steps when ``V >= p * gamma^(k-1)``.
- **High level**: ``V_H(m, p, goal)``, the hierarchical value of standing at cell p with
  the map as it is now, for every p at once. Learned in-sample, as HIQL does: at each
  data state, an expectile of ``alpha [R + gamma (1 - R) V_H(where the agent stood
  j <= k steps later)]`` (SCIENCE.md's hierarchical rule with P_k = 1 in the data; one
  gamma per subgoal). It needs nothing at a candidate but its place on the current map:
  the agent has never seen the observation there.
- **Acting** (``NavigatorPolicy``): ``hierarchical`` picks, every k steps and on arrival,
  the remembered open cell within reach (P_k) with the best
  ``alpha [R + gamma (1 - R) V_H(m, g1, goal)]``, and walks there on the low level.
  ``flat`` walks straight at the goal on the same low level; ``gcbc`` imitates the data's
  moves towards hindsight goals (goal-conditioned behaviour cloning). Moves are drawn
  from ``exp(beta * progress)``, progress in steps (``log V / -log gamma``), and GC-BC's
  from its own logits.
- **One low level serves every view radius**: the map memory is the same whatever the
  radius; a larger view only fills it faster. The networks are sized by nothing but the
  grid, so one trained on radius 2 acts at any other radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from socius.agents.layers import initialise
from socius.agents.map_memory import OPEN, empty_maps, remember_batch
from socius.agents.scripted import as_numpy
from socius.agents.values import expectile_loss
from socius.envs.config import require, require_counts
from socius.envs.moves import MOVE_COL, MOVE_ROW, NUM_MOVES

LEARNERS = ("hierarchical", "gcbc", "low")
"""What a navigator trains: both levels (which also serve the flat agent), GC-BC, or the
low level alone (for a seat whose high level is trained elsewhere, e.g. a listener)."""
MODES = ("hierarchical", "flat", "gcbc")
"""How a trained navigator acts."""
CELL_PLANES = 3


@dataclass(frozen=True)
class NavigatorConfig:
    """Hyper-parameters of the navigator's learners."""

    learner: str = "hierarchical"
    """hierarchical (both levels; the flat agent is its low level alone), gcbc or low."""
    map_kinds: int = 3
    """Kinds of map cell the planes one-hot: 3 (unknown, open, wall), or more where a
    world has more (a room's objects, which end a walk)."""
    gamma: float = 0.9
    """Discount of the reach probabilities, per step (per subgoal at the high level). A
    wrong move costs gamma^2: 19% of the value at 0.9, 2% at 0.99, which a network
    cannot rank reliably."""
    alpha: float = 0.99
    """Charge per subgoal query of the high-level value."""
    expectile: float = 0.9
    """tau of the expectile losses of V and V_H."""
    subgoal_steps: int = 10
    """k: the longest reach of a subgoal, in steps."""
    reach_threshold: float = 0.5
    """p: a candidate g1 must have ``V(g1) >= p * gamma^(k-1)`` (within k steps, likely)."""
    future_share: float = 0.8
    """Share of high-level goals drawn from the same trajectory's future (the rest: any
    open cell of its maze); GC-BC's goals all come from the future."""
    channels: int = 16
    """Channels of every convolution."""
    learning_rate: float = 1e-3
    """Adam step size."""
    batch_size: int = 32
    """Transitions per gradient step."""
    target_rate: float = 0.01
    """Polyak rate of the target networks."""

    def __post_init__(self):
        require(self.learner in LEARNERS, "learner", f"one of {LEARNERS}", self.learner)
        for name in ("gamma", "alpha", "expectile", "reach_threshold", "future_share",
                     "target_rate", "learning_rate"):
            value = getattr(self, name)
            require(0 < value <= 1, name, "a number in (0, 1]", value)
        require_counts(self, ("subgoal_steps", "channels", "batch_size"))
        require(self.map_kinds >= 3, "map_kinds", "an integer >= 3", self.map_kinds)


def planes(maps: torch.Tensor, agent: torch.Tensor | None, goal: torch.Tensor | None = None,
           kinds: int = 3):
    """Network input ``[B, kinds (+3) (+3), H, W]``: the map one-hot, then the agent's cell
    and its offset to every cell, then the same for the goal (each where given), from
    ``maps [B, H, W]`` and cells ``[B, 2]``."""
    batch, height, width = maps.shape
    memory = nn.functional.one_hot(maps.long(), kinds).permute(0, 3, 1, 2).float()
    rows = torch.arange(height, dtype=torch.float32)[None, :, None]
    cols = torch.arange(width, dtype=torch.float32)[None, None, :]
    scale = float(max(height, width))

    def marker(cell):
        here = same_cell_maps(cell, height, width)[:, None]
        offset_row = (rows - cell[:, 0, None, None].float()).expand(batch, height, width)
        offset_col = (cols - cell[:, 1, None, None].float()).expand(batch, height, width)
        return [here, torch.stack([offset_row, offset_col], dim=1) / scale]

    parts = [memory, *(marker(agent) if agent is not None else [])]
    if goal is not None:
        parts += marker(goal)
    return torch.cat(parts, dim=1)


class MapNet(nn.Module):
    """Fully convolutional maps ``[B, outputs, H, W]`` from planes. Plain 3 x 3 layers carry
    a value along corridors one cell per layer (dilated ones jump over walls and cannot),
    so most layers are plain; the last dilations reach across a 21 x 21 grid."""

    DILATIONS = (1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 8)

    def __init__(self, inputs: int, outputs: int, channels: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(inputs, channels, 3, padding=1), nn.ReLU()]
        for dilation in self.DILATIONS:
            layers += [nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
                       nn.ReLU()]
        layers.append(nn.Conv2d(channels, outputs, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps for every cell."""
        return self.body(x)


def expectile_cross_entropy(logits: torch.Tensor, target: torch.Tensor, tau: float):
    """The expectile weights ``|tau - 1(u < 0)|`` (IQL) on a cross-entropy towards a target
    probability: its gradient in the logit is ``sigmoid - target``, which never vanishes
    where the sigmoid saturates (a squared error's does, and its values then run away)."""
    weight = torch.where(target > torch.sigmoid(logits), tau, 1 - tau)
    return weight * nn.functional.binary_cross_entropy_with_logits(logits, target,
                                                                   reduction="none")


def draw_from(probabilities: torch.Tensor, generator: np.random.Generator) -> np.ndarray:
    """One index per row of ``probabilities [B, K]`` from ``generator`` (inverse CDF)."""
    probabilities = probabilities.double().numpy()
    picked = (generator.random((len(probabilities), 1)) > probabilities.cumsum(-1)).sum(-1)
    # Rounding may leave a draw past the last possible index: take the likeliest then.
    inside = np.minimum(picked, probabilities.shape[-1] - 1)
    stray = (picked != inside) | (probabilities[np.arange(len(picked)), inside] == 0)
    return np.where(stray, probabilities.argmax(-1), picked)


def at_cells(maps: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """``maps [B, C, H, W]`` read at one cell per row ``[B, 2]``: ``[B, C]``."""
    return maps[torch.arange(len(cells)), :, cells[:, 0], cells[:, 1]]


def same_cell_maps(cells: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """One-hot ``[B, H, W]`` of each row's cell."""
    hot = torch.zeros(len(cells), height, width)
    hot[torch.arange(len(cells)), cells[:, 0], cells[:, 1]] = 1.0
    return hot


class Navigator(nn.Module):
    """The navigator's networks, target copies and optimiser (see the module doc)."""

    def __init__(self, config: NavigatorConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        c = config.channels
        levels = {"hierarchical": ("low", "high"), "low": ("low",), "gcbc": ()}[config.learner]
        self.low = MapNet(*self._sizes("low"), c) if "low" in levels else None
        self.high = MapNet(*self._sizes("high"), c) if "high" in levels else None
        self.clone = None if levels else MapNet(*self._sizes("clone"), c)
        initialise(self, generator)
        self.targets = nn.ModuleDict()
        if levels:
            for name in levels:
                copy = MapNet(*self._sizes(name), c)
                copy.load_state_dict(getattr(self, name).state_dict())
                copy.requires_grad_(False)
                self.targets[name] = copy
        trained = [p for name, p in self.named_parameters() if not name.startswith("targets")]
        self.optimizer = torch.optim.Adam(trained, lr=config.learning_rate)

    def _sizes(self, name: str) -> tuple[int, int]:
        kinds = self.config.map_kinds
        return {"low": (kinds + CELL_PLANES, 1),  # V(o, m, g) for every goal g
                "high": (kinds + CELL_PLANES, 1),  # V_H(m, p, goal) for every cell p
                "clone": (kinds + 2 * CELL_PLANES, NUM_MOVES)}[name]

    def planes(self, maps, agent, goal=None) -> torch.Tensor:
        """:func:`planes` with this navigator's map kinds."""
        return planes(maps, agent, goal, self.config.map_kinds)

    def reach(self, maps, agent) -> torch.Tensor:
        """Low-level ``V [B, H, W]`` to every cell; 1 at the agent's cell."""
        value = torch.sigmoid(self.low(self.planes(maps, agent))[:, 0])
        return torch.maximum(value, same_cell_maps(agent, *maps.shape[1:]))

    def move_values(self, maps, agent, target) -> torch.Tensor:
        """``Q(o, m, a, target) / gamma = V`` from the cell each move leads to ``[B, 5]``
        (the grid's known move rule, on the current map; walls are the action mask's)."""
        size, height, width = maps.shape
        offsets = torch.as_tensor(np.stack([MOVE_ROW, MOVE_COL], -1)).long()
        after = agent[:, None, :] + offsets[None]  # [B, 5, 2]
        after[..., 0].clamp_(0, height - 1), after[..., 1].clamp_(0, width - 1)
        value = self.reach(maps.repeat_interleave(NUM_MOVES, 0), after.reshape(-1, 2))
        return value[torch.arange(size * NUM_MOVES), target.repeat_interleave(NUM_MOVES, 0)[:, 0],
                     target.repeat_interleave(NUM_MOVES, 0)[:, 1]].view(size, NUM_MOVES)

    def onward_values(self, maps, goal) -> torch.Tensor:
        """High-level ``V_H(m, p, goal) [B, H, W]`` of standing at each cell p with the map
        as it is now; 1 at the goal."""
        value = torch.sigmoid(self.high(self.planes(maps, None, goal))[:, 0])
        return torch.maximum(value, same_cell_maps(goal, *maps.shape[1:]))

    def clone_logits(self, maps, agent, goal) -> torch.Tensor:
        """GC-BC move logits ``[B, 5]`` at the agent's cell."""
        return at_cells(self.clone(self.planes(maps, agent, goal)), agent)

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One gradient step on a batch of ``MapDataset.sample``; returns the losses."""
        t = {key: torch.as_tensor(value) for key, value in batch.items()}
        if self.clone is not None:
            loss = nn.functional.cross_entropy(
                self.clone_logits(t["map"], t["cell"], t["goal"]), t["move"])
            losses, total = {"clone": loss}, loss
        else:
            high = self._high_losses(t) if self.high is not None else {}
            losses = {**self._low_losses(t), **high}
            total = sum(losses.values())
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        with torch.no_grad():
            for name, target in self.targets.items():
                for copy, source in zip(target.parameters(), getattr(self, name).parameters()):
                    copy.lerp_(source, self.config.target_rate)
        return {name: float(loss.detach()) for name, loss in losses.items()}

    def _low_losses(self, t) -> dict[str, torch.Tensor]:
        """Every cell is a goal: V towards an expectile of r + gamma (1 - r) V(next) (the
        action-free form HIQL uses), floored by what the trajectory itself reached."""
        config = self.config
        height, width = t["map"].shape[1:]
        with torch.no_grad():
            # next_cell [B, 2] is the data's successor; [B, K, 2] lists every move's (the
            # known move rule), and the target is the best of them.
            successors = t["next_cell"].reshape(len(t["cell"]), -1, 2)
            count = successors.shape[1]
            successors = successors.reshape(-1, 2)
            onward = torch.sigmoid(self.targets["low"](self.planes(
                t["next_map"].repeat_interleave(count, 0), successors)))
            arrive = same_cell_maps(successors, height, width)
            onward = torch.maximum(onward[:, 0], arrive)
            if "terminal" in t:  # a walk that ended there reaches nothing further
                onward = onward * (1 - t["terminal"].float().reshape(-1))[:, None, None]
            target = (arrive + config.gamma * (1 - arrive) * onward).view(
                -1, count, height, width).amax(1)
            # Hindsight floor: a cell the trajectory entered j steps later is reachable
            # with at least gamma^(j-1) (speeds the bootstrapped values up, never lowers them).
            target = torch.maximum(target, t["reach_floor"])
        value = torch.sigmoid(self.low(self.planes(t["map"], t["cell"]))[:, 0])
        # Goals on walls mean nothing, and the agent's own cell is reached already.
        weight = t["open"].float() * (1 - same_cell_maps(t["cell"], height, width))
        loss = expectile_loss(value, target, config.expectile)
        return {"v": (loss * weight).sum() / weight.sum()}

    def _high_losses(self, t) -> dict[str, torch.Tensor]:
        """In-sample (HIQL): V_H where the agent stands towards an expectile of
        ``alpha [R + gamma (1 - R) V_H(where it stood j <= k steps later)]``, floored by
        what the trajectory went on to show."""
        config = self.config
        with torch.no_grad():
            onward = at_cells(self.targets["high"](self.planes(t["subgoal_map"], None, t["goal"])),
                              t["subgoal"])[:, 0].sigmoid()
            onward = torch.where((t["subgoal"] == t["goal"]).all(-1), 1.0, onward)
            onward = torch.maximum(onward, t["onward_floor"])
            achieved = t["achieves"].float()
            target = config.alpha * (achieved + config.gamma * (1 - achieved) * onward)
        logits = at_cells(self.high(self.planes(t["map"], None, t["goal"])), t["cell"])[:, 0]
        at_goal = (t["cell"] == t["goal"]).all(-1)
        loss = expectile_cross_entropy(logits, target, config.expectile)
        return {"v_high": loss[~at_goal].mean() if (~at_goal).any() else loss.sum() * 0}


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
        serves = {"gcbc": ("gcbc",), "flat": ("hierarchical", "low")}.get(mode, ("hierarchical",))
        require(navigator.config.learner in serves, "mode",
                f"a mode served by a '{navigator.config.learner}' navigator", mode)
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
            if self.mode == "hierarchical":
                due = ((age % config.subgoal_steps == 0) | (subgoal[:, 0] < 0)
                       | (subgoal == cell.numpy()).all(-1))
                if due.any():
                    reach = self.navigator.reach(flat_maps[due], cell[due])
                    chosen = self._choose(flat_maps[due], cell[due], goal[due], reach,
                                          generator)
                    subgoal[due], age[due] = chosen, 0
                target = torch.as_tensor(subgoal)
            else:
                target = goal
            # Moves drawn by exp(beta * progress), progress in steps (log V / -log gamma):
            # a wrong move costs 2 steps, so this is near greedy where V is sure, and
            # no learned value's local maximum can trap the agent for good.
            progress = self.navigator.move_values(flat_maps, cell, target).clamp(min=1e-8).log()
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
        ``alpha [R + gamma (1 - R) V_H(m, g1, goal)]`` (the goal itself scores alpha); the
        goal when no cell is within reach."""
        config = self.navigator.config
        height, width = maps.shape[1:]
        within = reach >= config.reach_threshold * config.gamma ** (config.subgoal_steps - 1)
        candidate = (maps == OPEN) & within & (same_cell_maps(cell, height, width) == 0)
        achieves = same_cell_maps(goal, height, width)
        onward = self.navigator.onward_values(maps, goal)
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
