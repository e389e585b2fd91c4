"""Dynamics models for information gain: an ensemble of K MLPs ``f_k(position, move) -> view'``.

- Inputs are the agent's cell (row * width + col) on a layout fixed for the run and its move;
  SCIENCE.md explains why the position is needed (the edge a move reveals).
- Outputs are the next egocentric ``view`` (uint8 ``[5, S, S]``) as one-hot codes per cell
  and channel, regressed with squared error, so a prediction is a probability per value and
  a stochastic cell (the noisy TV) is learned as its mean.
- :func:`disagreement` (Pathak et al. 2019) is the variance across the K predictions,
  averaged over output dimensions; :func:`prediction_error` is the curiosity baseline's
  reward (one model's squared error on the transition).

All K members are evaluated in one batched pass (parameters ``[K, ...]``), and all train on
the same minibatches: their differences come from the initialisation alone, so on a
stochastic transition they converge to the same mean and the disagreement fades there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from socius.envs.config import require
from socius.envs.moves import NUM_MOVES
from socius.envs.spaces import observation_bounds


@dataclass(frozen=True)
class DynamicsConfig:
    """Size and optimiser of a dynamics ensemble."""

    members: int = 5
    """K models (1 for the curiosity baseline)."""
    hidden: int = 128
    """Width of each model's two hidden layers."""
    learning_rate: float = 1e-3
    """Adam step size."""
    batch_size: int = 256
    """Transitions per gradient step (the same ones for every member)."""

    def __post_init__(self):
        for name in ("members", "hidden", "batch_size"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, "an integer >= 1", value)
        require(0 < self.learning_rate < 1, "learning_rate", "a number in (0, 1)",
                self.learning_rate)


class ViewCoder:
    """One-hot codes of views: ``uint8 [B, 5, S, S] -> float32 [B, O]``."""

    def __init__(self, world):
        _, high, _ = observation_bounds(world)["view"]
        self.sizes = high[:, 0, 0].astype(np.int64) + 1  # values per channel
        self.side = high.shape[-1]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.output_size = int(self.sizes.sum()) * self.side * self.side

    def encode(self, view: torch.Tensor) -> torch.Tensor:
        """Each (channel, cell) value as a one-hot block: ``[B, O]``."""
        batch = view.shape[0]
        index = view.long() + torch.as_tensor(self.offsets)[None, :, None, None]  # [B, 5, S, S]
        cells = index.permute(0, 2, 3, 1).reshape(batch, self.side * self.side, 5)
        codes = torch.zeros(batch, self.side * self.side, int(self.sizes.sum()))
        codes.scatter_(2, cells, 1.0)
        return codes.reshape(batch, -1)


class Ensemble(nn.Module):
    """K MLPs in one module: ``(cell[B], move[B]) -> predictions [K, B, O]``."""

    def __init__(self, num_cells: int, output_size: int, members: int, hidden: int,
                 generator: torch.Generator):
        super().__init__()
        self.num_cells = num_cells

        def layer(inputs, outputs):
            bound = 1.0 / inputs ** 0.5
            weight = (torch.rand(members, inputs, outputs, generator=generator) * 2 - 1) * bound
            bias = (torch.rand(members, 1, outputs, generator=generator) * 2 - 1) * bound
            return nn.Parameter(weight), nn.Parameter(bias)

        # Inputs are one-hot, so the first layer is a lookup of its rows (no one-hot matmul).
        # Unit-scale rows (fan-in 2, not num_cells): a cell never trained on keeps a distinct
        # random code in every member, so the members disagree there.
        self.embed = nn.Parameter(torch.randn(members, num_cells + NUM_MOVES, hidden,
                                              generator=generator))
        self.embed_bias = nn.Parameter(torch.zeros(members, 1, hidden))
        self.hidden_weight, self.hidden_bias = layer(hidden, hidden)
        self.out_weight, self.out_bias = layer(hidden, output_size)

    def forward(self, cell: torch.Tensor, move: torch.Tensor) -> torch.Tensor:
        """Predicted view codes of every member, ``[K, B, O]``."""
        x = self.embed[:, cell] + self.embed[:, self.num_cells + move] + self.embed_bias
        x = torch.relu(torch.baddbmm(self.hidden_bias, torch.relu(x), self.hidden_weight))
        return torch.baddbmm(self.out_bias, x, self.out_weight)


def disagreement(predictions: torch.Tensor) -> torch.Tensor:
    """Variance across members ``[K, B, O]``, averaged over output dimensions: ``[B]``."""
    # Written out: Tensor.var over the leading axis is several times slower on a CPU.
    centred = predictions - predictions.mean(dim=0, keepdim=True)
    return centred.pow(2).mean(dim=(0, 2))


def prediction_error(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Squared error of each member's prediction ``[K, B, O]`` against ``targets [B, O]``,
    averaged over output dimensions and members: ``[B]``."""
    return (predictions - targets[None]).pow(2).mean(dim=-1).mean(dim=0)


class TransitionBuffer:
    """Every transition so far: cell ``[M]``, move ``[M]``, next view ``uint8 [M, 5, S, S]``."""

    def __init__(self, side: int, capacity: int = 1024):
        self.cells = np.zeros(capacity, np.int64)
        self.moves = np.zeros(capacity, np.int64)
        self.views = np.zeros((capacity, 5, side, side), np.uint8)
        self.size = 0

    def __len__(self) -> int:
        """Transitions M held."""
        return self.size

    def add(self, cells: np.ndarray, moves: np.ndarray, views: np.ndarray) -> None:
        """Append transitions ``[n]``, ``[n]``, ``[n, 5, S, S]``, growing the arrays by doubling."""
        end = self.size + len(cells)
        if end > len(self.cells):
            capacity = max(end, 2 * len(self.cells))
            for name in ("cells", "moves", "views"):
                old = getattr(self, name)
                new = np.zeros((capacity, *old.shape[1:]), old.dtype)
                new[: self.size] = old[: self.size]
                setattr(self, name, new)
        self.cells[self.size:end], self.moves[self.size:end] = cells, moves
        self.views[self.size:end] = views
        self.size = end

    def sample(self, generator: np.random.Generator, count: int,
               recent: int = 0) -> tuple[np.ndarray, ...]:
        """``count`` transitions drawn with replacement: half of them among the last
        ``recent`` (when > 0), the rest uniformly."""
        pick = generator.integers(0, self.size, count)
        if recent > 0:
            newest = generator.integers(max(self.size - recent, 0), self.size, count // 2)
            pick[: count // 2] = newest
        return self.cells[pick], self.moves[pick], self.views[pick]


class DynamicsModel:
    """An ensemble with its optimiser, trained online on a :class:`TransitionBuffer`."""

    def __init__(self, config: DynamicsConfig, world, generator: torch.Generator,
                 device: str | torch.device = "cpu"):
        self.config = config
        self.coder = ViewCoder(world)
        self.device = torch.device(device)
        self.network = Ensemble(world.height * world.width, self.coder.output_size,
                                config.members, config.hidden, generator).to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate)
        self.buffer = TransitionBuffer(self.coder.side)

    def buffer_add(self, chunk: dict[str, np.ndarray]) -> None:
        """Add a chunk's transitions: ``cells [T + 1, C]``, ``moves [T, C]``,
        ``views [T + 1, C, 5, S, S]`` (time-major)."""
        self.buffer.add(chunk["cells"][:-1].reshape(-1), chunk["moves"].reshape(-1),
                        chunk["views"][1:].reshape(-1, *chunk["views"].shape[2:]))

    def predict(self, cells: np.ndarray, moves: np.ndarray) -> torch.Tensor:
        """Predictions ``[K, B, O]`` for numpy cells and moves ``[B]``."""
        return self.network(torch.as_tensor(cells, device=self.device),
                            torch.as_tensor(moves, device=self.device))

    def targets(self, views: np.ndarray) -> torch.Tensor:
        """One-hot codes ``[B, O]`` of numpy views ``[B, 5, S, S]``."""
        return self.coder.encode(torch.as_tensor(views)).to(self.device)

    @torch.no_grad()
    def rewards(self, cells: np.ndarray, moves: np.ndarray,
                views: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Per-transition ``disagreement`` and (given next views) ``error``, each ``[B]``."""
        predictions = self.predict(cells, moves)
        out = {"disagreement": disagreement(predictions).cpu().numpy()}
        if views is not None:
            out["error"] = prediction_error(predictions, self.targets(views)).cpu().numpy()
        return out

    def update(self, generator: np.random.Generator, steps: int, recent: int = 0) -> float:
        """``steps`` gradient steps on shared minibatches of the buffer (half of each among
        the ``recent`` newest transitions, if > 0); the last mean loss."""
        loss = torch.zeros(())
        for _ in range(steps):
            cells, moves, views = self.buffer.sample(generator, self.config.batch_size, recent)
            predictions = self.predict(cells, moves)
            loss = prediction_error(predictions, self.targets(views)).mean()
            self.optimizer.zero_grad()
            (loss * self.config.members).backward()  # each member gets its own full gradient
            self.optimizer.step()
        return loss.item()

    def state_dict(self) -> dict:
        """Weights and optimiser state."""
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])


class ValueLearner:
    """Q-learning on the replay buffer with rewards relabelled by the current model.

    Positions move deterministically, so the replay is kept deduplicated: the successor of
    every (cell, move) tried, and the moves the world allowed in every cell seen. After each
    update the intrinsic rewards of every (cell, move) are recomputed, z-scored over the
    cells seen, and ``sweeps`` Q-learning sweeps run over the whole replay (fast credit
    assignment to the frontier, where a policy gradient needs many episodes). An untried
    move bootstraps from its own cell: its value is its reward, then what is known.
    """

    def __init__(self, cells: int, reward: str, gamma: float, sweeps: int):
        require(reward in ("disagreement", "curiosity"), "collector",
                "disagreement or curiosity for a learned collector", reward)
        self.reward, self.gamma, self.sweeps = reward, gamma, sweeps
        self.next_cell = np.full((cells, NUM_MOVES), -1, np.int64)
        self.allowed = np.zeros((cells, NUM_MOVES), bool)
        self.q = np.zeros((cells, NUM_MOVES))
        self.error = np.full((cells, NUM_MOVES), np.nan)  # curiosity: the latest error of each pair

    def observe(self, segment: dict, errors: np.ndarray | None) -> None:
        """Add a segment's transitions (and, for curiosity, their errors ``[t * C]``)."""
        source, moves = segment["cells"][:-1].ravel(), segment["moves"].ravel()
        self.next_cell[source, moves] = segment["cells"][1:].ravel()
        self.allowed[source] |= segment["allowed"].reshape(-1, NUM_MOVES)
        if errors is not None:
            self.error[source, moves] = errors

    def rewards(self, model: DynamicsModel) -> np.ndarray:
        """Intrinsic reward ``[cells, 5]`` of every pair under the current model."""
        if self.reward == "disagreement":
            cells, moves = np.divmod(np.arange(self.q.size), NUM_MOVES)
            return model.rewards(cells, moves)["disagreement"].reshape(self.q.shape)
        # An untried pair has no error yet: it is given the largest one seen (optimism).
        tried = ~np.isnan(self.error)
        return np.where(tried, self.error, self.error[tried].max() if tried.any() else 0.0)

    def update(self, reward: np.ndarray) -> dict[str, float]:
        """Relabel and sweep; the mean raw reward of the pairs seen."""
        seen = self.allowed.any(axis=1)
        known = reward[seen][self.allowed[seen]]
        scaled = (reward - known.mean()) / (known.std() + 1e-12)
        q = self.q
        # Untried moves bootstrap from their own cell; the successor table is fixed here.
        successor = np.where(self.next_cell >= 0, self.next_cell, np.arange(len(q))[:, None])
        for _ in range(self.sweeps):
            value = np.where(seen, np.where(self.allowed, q, -np.inf).max(axis=1), 0.0)
            q = scaled + self.gamma * value[successor]
        self.q = np.where(self.allowed, q, 0.0)
        return {"reward_seen": float(known.mean()), "q_max": float(self.q[seen].max())}

    def state_dict(self) -> dict:
        """Every table."""
        return {name: getattr(self, name).copy()
                for name in ("next_cell", "allowed", "q", "error")}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        for name, value in state.items():
            setattr(self, name, np.asarray(value).copy())
