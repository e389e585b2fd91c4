"""Offline goal-conditioned RL on grid cells: hindsight relabelling, an expectile
reach-probability value, and four agents trained on the same data and budget.

- ``hiql``: HIQL (Park et al. 2023). A high-level policy picks a subgoal cell k
  steps ahead, a low-level policy reaches it; both are advantage-weighted, with
  advantages in steps of progress, ``log V / (-log gamma)``.
- ``hier``: socius's hierarchical reach-probability agent. Besides the flat value
  it fits ``V_H(s, goal)`` with ``hierarchical_target``: one discount per subgoal,
  subgoals being the cells 1..k steps ahead on the same trajectory. It picks
  subgoals by the rule itself, ``max_g1 P_k(s -> g1) * [R + gamma (1 - R) V_H]``
  over known cells, with P_k read from the flat value (1 when it puts g1 within
  k steps, 0 otherwise), and reaches them with HIQL's low-level policy.
- ``flat``: the same value, and one advantage-weighted policy towards the goal
  (a flat goal-conditioned value agent, GCIVL-style).
- ``gcbc``: goal-conditioned behaviour cloning on hindsight goals.

Conservatism: the value is fitted by expectile regression on
``u = target - prediction`` (IQL/HIQL) and never queried on actions outside the
data, which is why no CQL penalty is needed. States, goals and subgoals are
cells of one fixed layout, embedded by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from socius.agents.values import (
    expectile_loss,
    flat_target,
    hierarchical_target,
    steps_of_progress,
)
from socius.envs.moves import NUM_MOVES

AGENT_KINDS = ("hier", "hiql", "flat", "gcbc")


@dataclass(frozen=True)
class GCRLConfig:
    """Hyper-parameters of the offline goal-conditioned learners."""

    agent: str = "hier"
    """One of hier, hiql, flat, gcbc."""
    gamma: float = 0.99
    """Discount of the reach probability (per step)."""
    expectile: float = 0.7
    """tau of the expectile value loss."""
    subgoal_steps: int = 10
    """k: how far ahead (in dataset steps) a subgoal lies."""
    alpha: float = 0.99
    """Charge per subgoal query of the hierarchical value (hier only)."""
    temperature: float = 3.0
    """beta of the advantage weights exp(beta * A), A in steps of progress."""
    max_weight: float = 100.0
    """Clip of the advantage weights."""
    future_share: float = 0.9
    """Share of value goals drawn from the same trajectory's future (the rest: random states)."""
    hidden: int = 128
    """Width of every network."""
    learning_rate: float = 1e-3
    """Adam step size."""
    batch_size: int = 256
    """Transitions per gradient step."""
    target_rate: float = 0.05
    """Polyak rate of the target value network."""


class GoalDataset:
    """Transitions of every agent's trajectories, flattened for relabelling.

    ``cells[M]`` is the cell index (row * width + col) of every observation, and
    transition j goes from observation ``source[j]`` with move ``moves[j]`` to
    ``source[j] + 1``; ``last[j]`` is the last observation of its trajectory.
    """

    def __init__(self, episodes, width: int):
        cells, source, moves, last = [], [], [], []
        offset = 0
        for episode in episodes:
            position = episode.observations["position"]  # [T + 1, N, 2]
            for agent in range(position.shape[1]):
                # An agent that has finished waits: keep its trajectory up to arrival.
                steps = int(episode.alive[:-1, agent].sum())
                cell = position[: steps + 1, agent, 0] * width + position[: steps + 1, agent, 1]
                cells.append(cell)
                source.append(offset + np.arange(steps))
                moves.append(episode.actions[:steps, agent, 0])
                last.append(np.full(steps, offset + steps))
                offset += steps + 1
        self.cells = np.concatenate(cells).astype(np.int64)
        self.source = np.concatenate(source).astype(np.int64)
        self.moves = np.concatenate(moves).astype(np.int64)
        self.last = np.concatenate(last).astype(np.int64)
        if len(self.source) == 0:
            raise ValueError("the dataset holds no transitions")

    def __len__(self) -> int:
        """Number of transitions."""
        return len(self.source)

    def sample(self, generator: np.random.Generator, config: GCRLConfig) -> dict[str, np.ndarray]:
        """A relabelled batch: cells of state, next state, value goal, policy goal, subgoal."""
        size = config.batch_size
        pick = generator.integers(0, len(self.source), size)
        here, last = self.source[pick], self.last[pick]
        # Future goals: t + Delta with Delta ~ Geometric(1 - gamma), within the trajectory.
        future = np.minimum(here + generator.geometric(1 - config.gamma, size), last)
        anywhere = generator.integers(0, len(self.cells), size)
        value_goal = np.where(generator.random(size) < config.future_share, future, anywhere)
        policy_goal = np.minimum(here + 1 + (generator.random(size) * (last - here))
                                 .astype(np.int64), last)
        subgoal = np.minimum(here + config.subgoal_steps, last)
        subgoal = np.where(subgoal > policy_goal, policy_goal, subgoal)
        # The cells 1..k steps ahead (repeating the last one past the trajectory's end).
        ahead = np.minimum(here[:, None] + np.arange(1, config.subgoal_steps + 1), last[:, None])
        return {
            "state": self.cells[here], "next": self.cells[here + 1], "move": self.moves[pick],
            "value_goal": self.cells[value_goal], "policy_goal": self.cells[policy_goal],
            "subgoal": self.cells[subgoal], "ahead": self.cells[ahead],
        }


class PairNet(nn.Module):
    """An MLP over two embedded cells: ``(cell_a[B], cell_b[B]) -> [B, outputs]``."""

    def __init__(self, num_cells: int, outputs: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(num_cells, hidden // 2)
        self.body = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, outputs))

    def forward(self, cell_a: torch.Tensor, cell_b: torch.Tensor) -> torch.Tensor:
        """Outputs for each pair of cells."""
        return self.body(torch.cat([self.embed(cell_a), self.embed(cell_b)], dim=-1))


class ReachValue(nn.Module):
    """``V(s, g)`` in [0, 1]: the discounted probability of reaching cell g from cell s."""

    def __init__(self, num_cells: int, hidden: int):
        super().__init__()
        self.net = PairNet(num_cells, 1, hidden)

    def forward(self, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Reach probabilities ``[B]``; exactly 1 when the state is the goal."""
        value = torch.sigmoid(self.net(state, goal)).squeeze(-1)
        return torch.where(state == goal, torch.ones_like(value), value)


class GCRLAgent(nn.Module):
    """Value, policies and optimiser of one offline learner (see module doc)."""

    def __init__(self, config: GCRLConfig, num_cells: int, generator: torch.Generator):
        super().__init__()
        if config.agent not in AGENT_KINDS:
            raise ValueError(f"config field 'agent' must be one of {AGENT_KINDS}; "
                             f"got {config.agent!r}")
        self.config = config
        self.num_cells = num_cells
        self.value = ReachValue(num_cells, config.hidden)
        self.target_value = ReachValue(num_cells, config.hidden)
        self.low = PairNet(num_cells, NUM_MOVES, config.hidden)  # moves towards a (sub)goal
        self.high = PairNet(num_cells, num_cells, config.hidden)  # subgoal cell (hiql)
        self.high_value = ReachValue(num_cells, config.hidden)  # V_H (hier)
        self.target_high_value = ReachValue(num_cells, config.hidden)
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter, generator=generator)
            else:
                nn.init.zeros_(parameter)
        self.target_value.load_state_dict(self.value.state_dict())
        self.target_value.requires_grad_(False)
        self.target_high_value.load_state_dict(self.high_value.state_dict())
        self.target_high_value.requires_grad_(False)
        trained = [*self.value.parameters(), *self.low.parameters(), *self.high.parameters(),
                   *self.high_value.parameters()]
        self.optimizer = torch.optim.Adam(trained, lr=config.learning_rate)

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One gradient step on a relabelled batch; returns the losses."""
        config = self.config
        t = {k: torch.as_tensor(v) for k, v in batch.items()}
        losses = {}
        total = torch.zeros(())
        if config.agent != "gcbc":
            reward = (t["next"] == t["value_goal"]).float()
            with torch.no_grad():
                target = flat_target(reward, self.target_value(t["next"], t["value_goal"]),
                                     config.gamma)
            value_loss = expectile_loss(self.value(t["state"], t["value_goal"]), target,
                                        config.expectile).mean()
            losses["value"] = float(value_loss.detach())
            total = total + value_loss
        if config.agent == "hier":
            high_value_loss = self._hierarchical_value_loss(t)
            losses["high_value"] = float(high_value_loss.detach())
            total = total + high_value_loss
        if config.agent == "gcbc":
            low_goal, weight = t["policy_goal"], torch.ones(len(t["move"]))
        elif config.agent == "flat":
            low_goal = t["policy_goal"]
            weight = self._weights(t["state"], t["next"], low_goal)
        else:  # hier and hiql: the low level reaches the subgoal k steps ahead
            low_goal = t["subgoal"]
            weight = self._weights(t["state"], t["next"], low_goal)
        if config.agent == "hiql":
            high_weight = self._weights(t["state"], t["subgoal"], t["policy_goal"])
            logits = self.high(t["state"], t["policy_goal"])
            high_loss = (high_weight * nn.functional.cross_entropy(
                logits, t["subgoal"], reduction="none")).mean()
            losses["high"] = float(high_loss.detach())
            total = total + high_loss
        low_loss = (weight * nn.functional.cross_entropy(
            self.low(t["state"], low_goal), t["move"], reduction="none")).mean()
        losses["low"] = float(low_loss.detach())
        total = total + low_loss
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        with torch.no_grad():
            for target, source in zip([*self.target_value.parameters(),
                                       *self.target_high_value.parameters()],
                                      [*self.value.parameters(), *self.high_value.parameters()]):
                target.lerp_(source, config.target_rate)
        return losses

    def _hierarchical_value_loss(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """Expectile loss of V_H towards the best in-data subgoal 1..k steps ahead."""
        config = self.config
        ahead, goal = t["ahead"], t["value_goal"]
        size, k = ahead.shape
        # R(g1, goal): the goal lies on the way to g1 (so it is reached within this subgoal).
        achieves = ((ahead == goal[:, None]).cumsum(dim=1) > 0).float()
        with torch.no_grad():
            subgoal_value = self.target_high_value(ahead.reshape(-1),
                                                   goal.repeat_interleave(k)).view(size, k)
            # P_k = 1: the trajectory itself reached every g1 within k steps.
            target = hierarchical_target(1.0, achieves, subgoal_value, config.alpha,
                                         config.gamma).max(dim=1).values
        return expectile_loss(self.high_value(t["state"], goal), target,
                              config.expectile).mean()

    def _weights(self, state, reached, goal) -> torch.Tensor:
        """exp(beta * A), A = progress in steps from ``state`` to ``reached`` towards ``goal``."""
        config = self.config
        with torch.no_grad():
            floor = torch.tensor(1e-6)
            before = steps_of_progress(torch.maximum(self.value(state, goal), floor), config.gamma)
            after = steps_of_progress(torch.maximum(self.value(reached, goal), floor),
                                      config.gamma)
            return torch.exp(config.temperature * (after - before)).clamp(max=config.max_weight)

    @torch.no_grad()
    def act(self, state: torch.Tensor, goal: torch.Tensor, subgoal: torch.Tensor) -> torch.Tensor:
        """Greedy moves ``[B]`` towards ``subgoal`` (hiql) or ``goal`` (flat, gcbc)."""
        target = subgoal if self.config.agent in ("hiql", "hier") else goal
        return self.low(state, target).argmax(dim=-1)

    @torch.no_grad()
    def choose_subgoal(self, state: torch.Tensor, goal: torch.Tensor,
                       known: torch.Tensor) -> torch.Tensor:
        """The next subgoal cell ``[B]`` among the cells where ``known[cells]`` is true.

        hiql: the high-level policy's most likely cell. hier: the hierarchical rule's
        argmax over known cells the flat value puts within k steps (the goal, if it is
        one of them).
        """
        if self.config.agent != "hier":
            logits = self.high(state, goal).masked_fill(~known, float("-inf"))
            return logits.argmax(dim=-1)
        config = self.config
        cells = known.nonzero().squeeze(-1)
        size, count = len(state), len(cells)
        candidate = cells.repeat(size)
        near = self.value(state.repeat_interleave(count), candidate).view(size, count)
        # V = gamma ** (d - 1), so d <= k where the progress (-(d - 1) steps) is >= 1 - k.
        within_k = steps_of_progress(near.clamp(min=1e-6), config.gamma) >= 1 - config.subgoal_steps
        achieves = (cells[None, :] == goal[:, None]).float()
        onward = self.high_value(candidate, goal.repeat_interleave(count)).view(size, count)
        score = hierarchical_target(within_k.float(), achieves, onward, config.alpha,
                                    config.gamma)
        # Ties (cells in the same k-block of distance) go to the flat value's favourite.
        flat = self.value(candidate, goal.repeat_interleave(count)).view(size, count)
        score = score + 1e-3 * flat
        stay = cells[None, :] == state[:, None]
        usable = within_k & (~stay | (achieves > 0))
        best = cells[score.masked_fill(~usable, float("-inf")).argmax(dim=-1)]
        return torch.where(usable.any(dim=-1), best, goal)


class SubgoalPolicy:
    """A trained :class:`GCRLAgent` as a policy in its maze: each agent walks to the goal
    cell in its observation, through a subgoal it picks again every k steps, on reaching
    it, and at the start of an episode. The state holds the subgoals, so viewers can
    draw them."""

    def __init__(self, agent: GCRLAgent, walls: np.ndarray):
        self.agent = agent
        self.width = int(walls.shape[1])
        self.known = torch.as_tensor(~np.asarray(walls, dtype=bool).ravel())

    def initial_state(self, batch: int) -> dict[str, np.ndarray | None]:
        """No subgoal yet (the arrays take their agent axis on the first step)."""
        return {"subgoal": None, "age": None}

    @torch.no_grad()
    def act(self, observation, state, done, generator, privileged=None):
        """Greedy moves towards the subgoal (or the goal, for flat agents): ``[B, N, 1 + L]``."""
        position = np.asarray(observation["position"])
        batch, agents = position.shape[:2]
        message_length = np.asarray(observation["others"]).shape[-1] - 6
        here = torch.as_tensor(position[..., 0] * self.width + position[..., 1]).reshape(-1)
        goal = np.asarray(observation["goal"])
        target = torch.as_tensor(goal[..., 0] * self.width + goal[..., 1]).reshape(-1).long()
        if state["subgoal"] is None:
            subgoal, age = np.full((batch, agents, 2), -1), np.zeros((batch, agents), np.int64)
        else:
            subgoal, age = state["subgoal"].copy(), state["age"] + 1
        restart = np.broadcast_to(np.asarray(done, dtype=bool)[:, None], (batch, agents))
        age[restart] = 0
        subgoal[restart] = -1
        current = torch.as_tensor(subgoal[..., 0] * self.width + subgoal[..., 1]).reshape(-1)
        if self.agent.config.agent in ("hiql", "hier"):
            due = (torch.as_tensor(age.reshape(-1) % self.agent.config.subgoal_steps == 0)
                   | (current < 0) | (here == current))
            if due.any():
                current = current.clone()
                current[due] = self.agent.choose_subgoal(here[due].long(), target[due],
                                                         self.known)
                age.reshape(-1)[due.numpy()] = 0
            subgoal = np.stack([current.numpy() // self.width, current.numpy() % self.width],
                               axis=-1).reshape(batch, agents, 2)
        moves = self.agent.act(here.long(), target, current.long().clamp(min=0)).numpy()
        action = np.zeros((batch, agents, 1 + message_length), dtype=np.int64)
        action[..., 0] = moves.reshape(batch, agents)
        return action, {"subgoal": subgoal, "age": age}
