"""The socius navigator: a two-level, goal-conditioned agent that reads its observation
and its map memory, so it works on layouts it has never seen.

Every network reads *planes* over the grid: the map memory (unknown / open / wall, see
``socius.agents.map_memory``), the agent's own cell and, for goal-conditioned heads, the
goal cell, each with its offset to every cell. The networks are fully convolutional and
answer for every cell at once, which is how the agent scores all its candidates in one
pass. Two bodies serve the value levels (``NavigatorConfig.body``):

- ``conv``: a 12-layer net whose output is the value itself. It sees about 12 cells of
  corridor, so far goals are guesses (EXPERIMENTS.md section 7).
- ``propagation`` (``socius.agents.value_propagation``, after MVProp): a small net gives
  every cell a step factor from the map around it, remembered walls get none (the known
  move rule), and a value is the best product of factors along a path, propagated as far
  as the grid needs. Its losses are on log values, and its high level learns every goal
  cell at once from each sample (all-goals relabelling at both levels). A step factor
  holds a fixed discount (gamma below, the rule's alpha gamma per k steps above) times a
  learned passability.

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
- **Acting** (``socius.agents.navigator_policy.NavigatorPolicy``): ``hierarchical`` picks,
  every k steps and on arrival, the remembered open cell within reach (P_k) with the best
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
from socius.agents.map_memory import WALL
from socius.agents.map_nets import (
    CELL_PLANES,
    MapNet,
    at_cells,
    expectile_cross_entropy,
    planes,
    same_cell_maps,
)
from socius.agents.value_propagation import StepFactors, propagate
from socius.agents.values import expectile_loss
from socius.envs.config import require, require_counts
from socius.envs.moves import MOVE_COL, MOVE_ROW, NUM_MOVES

LEARNERS = ("hierarchical", "gcbc", "low")
"""What a navigator trains: both levels (which also serve the flat agent), GC-BC, or the
low level alone (for a seat whose high level is trained elsewhere, e.g. a listener)."""
MODES = ("hierarchical", "hiql", "flat", "gcbc")
"""How a trained navigator acts: ``hiql`` chooses subgoals as ``hierarchical`` does but
ranks them by the low level's own value to the goal (HIQL's one value function)."""
BODIES = ("conv", "propagation")
"""The value networks' body: a 12-layer convolutional net, or learned step factors
max-propagated over the grid (``socius.agents.value_propagation``)."""
WALL_STEP = -1.0e3
"""Log step factor of a remembered wall: a path through one counts as never arriving."""
LOG_FLOOR = float(np.log(1e-12))
"""Log values below this (a reach of 0.9^260) are all alike to the propagation's loss."""


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
    body: str = "conv"
    """``conv`` or ``propagation`` (the value levels' networks; GC-BC is always conv).
    Propagation needs ``map_kinds=3``: an object that ends a walk is no step factor."""
    step_layers: int = 4
    """Convolutions of the propagation body's step-factor net."""
    known_moves: bool = False
    """Bootstrap from the best of every move's successor on the current map (the grid's
    known move rule: a move into a wall stays) instead of the data's own successor."""
    hindsight: bool = True
    """Relabel every cell as a goal (False: learn only towards the data's own goal, the
    control for online learning without hindsight)."""
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
        require(self.body in BODIES, "body", f"one of {BODIES}", self.body)
        require(self.body == "conv" or self.map_kinds == 3, "map_kinds",
                "3 with the propagation body", self.map_kinds)
        require_counts(self, ("step_layers",))


class Navigator(nn.Module):
    """The navigator's networks, target copies and optimiser (see the module doc)."""

    def __init__(self, config: NavigatorConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        levels = {"hierarchical": ("low", "high"), "low": ("low",), "gcbc": ()}[config.learner]
        self.low = self._network("low") if "low" in levels else None
        self.high = self._network("high") if "high" in levels else None
        self.clone = None if levels else self._network("clone")
        initialise(self, generator)
        self.targets = nn.ModuleDict()
        for name in levels:
            copy = self._network(name)
            copy.load_state_dict(getattr(self, name).state_dict())
            copy.requires_grad_(False)
            self.targets[name] = copy
        trained = [p for name, p in self.named_parameters() if not name.startswith("targets")]
        self.optimizer = torch.optim.Adam(trained, lr=config.learning_rate)
        self.log_gamma = float(np.log(config.gamma))

    @property
    def propagates(self) -> bool:
        """Whether the value levels max-propagate learned step factors."""
        return self.config.body == "propagation"

    def _network(self, name: str) -> nn.Module:
        config = self.config
        kinds, channels = config.map_kinds, config.channels
        if self.propagates and name != "clone":
            # Below: gamma per step. Above: the rule's alpha gamma per subgoal of k steps,
            # spread over them, so the passability learns only where the data went slower.
            # Learning the whole factor left V_H's ranking to differences of a few
            # thousandths per step: 71% of tuning pairs against 85% with this prior
            # (1,000 updates; EXPERIMENTS.md section 7c).
            gamma = config.gamma if name == "low" else \
                (config.alpha * config.gamma) ** (1 / config.subgoal_steps)
            return StepFactors(kinds, channels, config.step_layers, gamma)
        return MapNet(*{"low": (kinds + CELL_PLANES, 1),  # V(o, m, g) for every goal g
                        "high": (kinds + CELL_PLANES, 1),  # V_H(m, p, goal) for every p
                        "clone": (kinds + 2 * CELL_PLANES, NUM_MOVES)}[name], channels)

    def planes(self, maps, agent, goal=None) -> torch.Tensor:
        """:func:`planes` with this navigator's map kinds."""
        return planes(maps, agent, goal, self.config.map_kinds)

    def _log_steps(self, network, maps) -> torch.Tensor:
        """Log step factors of the propagation body: learned, except that no path enters a
        remembered wall (the grid's known move rule, which ``move_values`` also uses)."""
        return network(self.planes(maps, None)).masked_fill(maps == WALL, WALL_STEP)

    def _low_values(self, network, maps, cells, log: bool = False):
        """``V [B, H, W]`` (or ``log V``) from each row's cell to every cell, by ``network``
        (the low level or its target copy); the cell's own entry is meaningless."""
        if self.propagates:  # V = gamma^(steps - 1) x passabilities: one gamma less
            log_value = propagate(self._log_steps(network, maps), cells) - self.log_gamma
            return log_value if log else log_value.exp().clamp(max=1.0)
        logits = network(self.planes(maps, cells))[:, 0]
        return nn.functional.logsigmoid(logits) if log else torch.sigmoid(logits)

    def reach(self, maps, agent, log_steps=None) -> torch.Tensor:
        """Low-level ``V [B, H, W]`` to every cell; 1 at the agent's cell. ``log_steps``:
        the propagation body's step factors of these maps, where the caller has them."""
        if log_steps is not None:
            value = (propagate(log_steps, agent) - self.log_gamma).exp().clamp(max=1.0)
        else:
            value = self._low_values(self.low, maps, agent)
        return torch.maximum(value, same_cell_maps(agent, *maps.shape[1:]))

    def low_steps(self, maps) -> torch.Tensor | None:
        """The low level's log step factors of ``maps`` (None for the conv body): one pass
        serves ``reach`` and ``move_values`` on the same maps."""
        return self._log_steps(self.low, maps) if self.propagates else None

    def move_values(self, maps, agent, target, log_steps=None) -> torch.Tensor:
        """``Q(o, m, a, target) / gamma = V`` from the cell each move leads to ``[B, 5]``
        (the grid's known move rule, on the current map; walls are the action mask's)."""
        size, height, width = maps.shape
        offsets = torch.as_tensor(np.stack([MOVE_ROW, MOVE_COL], -1)).long()
        after = agent[:, None, :] + offsets[None]  # [B, 5, 2]
        after[..., 0].clamp_(0, height - 1), after[..., 1].clamp_(0, width - 1)
        if self.propagates:  # one pass values every cell towards the target
            towards = self.reach_towards(maps, target, log_steps)
            return towards[torch.arange(size)[:, None], after[..., 0], after[..., 1]]
        value = self.reach(maps.repeat_interleave(NUM_MOVES, 0), after.reshape(-1, 2))
        return value[torch.arange(size * NUM_MOVES), target.repeat_interleave(NUM_MOVES, 0)[:, 0],
                     target.repeat_interleave(NUM_MOVES, 0)[:, 1]].view(size, NUM_MOVES)

    def reach_towards(self, maps, goal, log_steps=None) -> torch.Tensor:
        """Low-level ``V [B, H, W]`` from every cell to each row's goal; 1 at the goal
        (the propagation body: one pass, read the other way)."""
        require(self.propagates, "body", "'propagation' (a conv low level values one start "
                "per pass)", self.config.body)
        if log_steps is None:
            log_steps = self._log_steps(self.low, maps)
        value = (propagate(log_steps, goal, towards=True) - self.log_gamma).exp()
        return torch.maximum(value.clamp(max=1.0), same_cell_maps(goal, *maps.shape[1:]))

    def _onward_values(self, network, maps, goal):
        """``V_H [B, H, W]`` of standing at each cell, by ``network``."""
        if self.propagates:
            return propagate(self._log_steps(network, maps), goal, towards=True).exp()
        return torch.sigmoid(network(self.planes(maps, None, goal))[:, 0])

    def onward_values(self, maps, goal) -> torch.Tensor:
        """High-level ``V_H(m, p, goal) [B, H, W]`` of standing at each cell p with the map
        as it is now; 1 at the goal."""
        value = self._onward_values(self.high, maps, goal)
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
            if self.propagates:  # one step-factor map serves every successor
                steps = self._log_steps(self.targets["low"], t["next_map"])
                onward = (propagate(steps.repeat_interleave(count, 0), successors)
                          - self.log_gamma).exp().clamp(max=1.0)
            else:
                onward = self._low_values(self.targets["low"],
                                          t["next_map"].repeat_interleave(count, 0), successors)
            arrive = same_cell_maps(successors, height, width)
            onward = torch.maximum(onward, arrive)
            if "terminal" in t:  # a walk that ended there reaches nothing further
                onward = onward * (1 - t["terminal"].float().reshape(-1))[:, None, None]
            target = (arrive + config.gamma * (1 - arrive) * onward).view(
                -1, count, height, width).amax(1)
            # Hindsight floor: a cell the trajectory entered j steps later is reachable
            # with at least gamma^(j-1) (speeds the bootstrapped values up, never lowers them).
            target = torch.maximum(target, t["reach_floor"])
        # Goals on walls mean nothing, and the agent's own cell is reached already.
        weight = t["open"].float() * (1 - same_cell_maps(t["cell"], height, width))
        if not config.hindsight:  # only the data's own goal is ever rewarded
            weight = weight * same_cell_maps(t["goal"], height, width)
        if self.propagates:
            # On log V: a propagated value is a sum of log factors, and far cells count as
            # much as near ones (on V itself their errors vanish as gamma^steps).
            value = self._low_values(self.low, t["map"], t["cell"], log=True)
            loss = expectile_loss(value.clamp(min=LOG_FLOOR),
                                  target.clamp(min=1e-12).log(), config.expectile)
        else:
            value = self._low_values(self.low, t["map"], t["cell"])
            loss = expectile_loss(value, target, config.expectile)
        return {"v": (loss * weight).sum() / weight.sum().clamp(min=1.0)}

    def _high_losses(self, t) -> dict[str, torch.Tensor]:
        """In-sample (HIQL): V_H where the agent stands towards an expectile of
        ``alpha [R + gamma (1 - R) V_H(where it stood j <= k steps later)]``, floored by
        what the trajectory went on to show. The propagation body learns it for every
        goal cell at once (``_every_goal_losses``)."""
        if self.propagates:
            return self._every_goal_losses(t)
        config = self.config
        with torch.no_grad():
            onward = at_cells(self._onward_values(self.targets["high"], t["subgoal_map"],
                                                  t["goal"])[:, None], t["subgoal"])[:, 0]
            onward = torch.where((t["subgoal"] == t["goal"]).all(-1), 1.0, onward)
            onward = torch.maximum(onward, t["onward_floor"])
            achieved = t["achieves"].float()
            target = config.alpha * (achieved + config.gamma * (1 - achieved) * onward)
        at_goal = (t["cell"] == t["goal"]).all(-1)
        logits = at_cells(self.high(self.planes(t["map"], None, t["goal"])), t["cell"])[:, 0]
        loss = expectile_cross_entropy(logits, target, config.expectile)
        return {"v_high": loss[~at_goal].mean() if (~at_goal).any() else loss.sum() * 0}

    def _every_goal_losses(self, t) -> dict[str, torch.Tensor]:
        """The high level's all-goals form: one forward propagation from where the agent
        stands values every goal cell, and the target for each goal g is
        ``alpha [R_g + gamma (1 - R_g) V_H(subgoal -> g)]``, floored by the trajectory."""
        config = self.config
        height, width = t["map"].shape[1:]
        with torch.no_grad():
            steps = self._log_steps(self.targets["high"], t["subgoal_map"])
            onward = propagate(steps, t["subgoal"]).exp()  # 1 at the subgoal itself
            onward = torch.maximum(onward, t["onward_floors"])
            met = t["route"].float()
            target = config.alpha * (met + config.gamma * (1 - met) * onward)
        log_value = propagate(self._log_steps(self.high, t["map"]), t["cell"])
        weight = t["open"].float() * (1 - same_cell_maps(t["cell"], height, width))
        if not config.hindsight:
            weight = weight * same_cell_maps(t["goal"], height, width)
        loss = expectile_loss(log_value.clamp(min=LOG_FLOOR), target.clamp(min=1e-12).log(),
                              config.expectile)
        return {"v_high": (loss * weight).sum() / weight.sum().clamp(min=1.0)}
