"""Social learning in Goal Cycle, top to bottom (Ndousse et al. 2021).

    socius run imitation --config imitation --seeds 3 --out runs/imitation

1. ``goal_cycle_v0``: a learner (``agent_0``) shares a 9 x 9 grid with scripted experts
   that know the hidden cycle order of the 3 goal tiles (redrawn every episode). The
   learner sees them only through its partial view and earns only the world's reward.
2. Every round plays one whole episode in every environment (all end together, at
   ``max_cycles``), so a recurrent learner's memory starts fresh with every sequence.
3. The learner is a recurrent PPO agent; its auxiliary loss (``aux_weight``) predicts the
   move each agent in view makes next. ``experts=0`` is the solo control, ``aux_weight=0``
   the no-auxiliary control, ``method=bc`` behaviour cloning of the expert's own moves
   in the learner's seat, on the same budget of environment steps.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from socius.agents.imitation import SocialLearner
from socius.agents.modules import ObservationSpec
from socius.agents.ppo import clipped_surrogate, gae, normalise
from socius.envs import make_vector
from socius.envs.config import require
from socius.envs.vector import VectorEnv
from socius.societies.imitation.episodes import Episodes, play
from socius.societies.runs.directory import RunDirectory, open_run

METHODS = ("ppo", "bc")


@dataclass(frozen=True)
class ImitationConfig:
    """One social-learning run: the world, the learner, the control and the budget."""

    seed: int = 0
    """Seed of the worlds, the weights and every sample."""
    method: str = "ppo"
    """ppo (reward only, plus the auxiliary loss) or bc (clone the expert in the seat)."""
    experts: int = 2
    """Scripted experts beside the learner in training; 0 is the solo control."""
    aux_weight: float = 1.0
    """Weight of the loss predicting the next move of each agent in view (0: the control)."""
    expert_dropout: float = 0.0
    """Fraction of training environments that hold no experts."""
    env_steps: int = 1_000_000
    """Budget: environment steps of training (rounds x num_envs x max_cycles)."""
    num_envs: int = 64
    """Environments per round, one episode each."""
    size: int = 9
    """Side of the grid, border walls included."""
    num_tiles: int = 3
    """Goal tiles in the cycle."""
    penalty: float = 1.0
    """Cost of entering a tile out of order."""
    penalty_warmup: float = 0.0
    """Fraction of the budget over which the training penalty grows from 0 to ``penalty``
    (a curriculum; evaluation always uses the full penalty)."""
    view_radius: int = 2
    """Partial view radius of every agent."""
    max_cycles: int = 100
    """Steps per episode."""
    heldout_obstacles: int = 6
    """Walls scattered in the held-out layouts (training layouts have none)."""
    hidden: int = 128
    """Width of the learner's network."""
    reward_input: bool = False
    """The learner's memory also reads its previous reward (as meta-RL agents do)."""
    learning_rate: float = 5e-4
    """Adam step size."""
    epochs: int = 4
    """Passes over each round."""
    minibatches: int = 4
    """Minibatches per pass (split over environments, whole episodes each)."""
    clip: float = 0.2
    """PPO ratio clip."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    entropy: float = 0.01
    """Entropy bonus of the learner's moves."""
    value_weight: float = 0.5
    """Weight of the value loss."""
    eval_every: int = 100_000
    """Environment steps between evaluations (and checkpoints)."""
    eval_envs: int = 256
    """Evaluation episodes per setting."""
    eval_experts: int = 2
    """Experts beside the learner when it is evaluated with experts (every method)."""

    def __post_init__(self):
        require(self.method in METHODS, "method", f"one of {METHODS}", self.method)
        for name in ("env_steps", "num_envs", "epochs", "minibatches", "eval_every",
                     "eval_envs", "hidden", "max_cycles", "num_tiles", "view_radius"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, "an integer >= 1", value)
        require(self.experts >= 0, "experts", "an integer >= 0", self.experts)
        require(self.eval_experts >= 1, "eval_experts", "an integer >= 1", self.eval_experts)
        require(self.num_envs % self.minibatches == 0, "num_envs",
                f"a multiple of minibatches ({self.minibatches})", self.num_envs)
        require(self.aux_weight >= 0, "aux_weight", "a number >= 0", self.aux_weight)
        require(0 <= self.expert_dropout < 1, "expert_dropout", "a fraction in [0, 1)",
                self.expert_dropout)
        require(self.experts > 0 or self.method == "ppo", "experts",
                "at least 1 with method=bc (it clones an expert)", self.experts)
        require(0 < self.learning_rate < 1, "learning_rate", "a number in (0, 1)",
                self.learning_rate)
        require(0 <= self.penalty_warmup <= 1, "penalty_warmup", "a fraction in [0, 1]",
                self.penalty_warmup)
        require(self.env_steps >= self.steps_per_round, "env_steps",
                f"at least one round ({self.steps_per_round} steps)", self.env_steps)

    @property
    def steps_per_round(self) -> int:
        """Environment steps of one round."""
        return self.num_envs * self.max_cycles

    @property
    def rounds(self) -> int:
        """Rounds in the budget."""
        return self.env_steps // self.steps_per_round

    def world_settings(self, experts: int, heldout: bool = False) -> dict:
        """Settings of ``goal_cycle_v0`` with ``experts`` beside the learner."""
        return {"num_agents": 1 + experts, "size": self.size, "num_tiles": self.num_tiles,
                "penalty": self.penalty, "view_radius": self.view_radius,
                "max_cycles": self.max_cycles, "resample_order": True,
                "num_obstacles": self.heldout_obstacles if heldout else 0}


def make_arenas(config: ImitationConfig, num_envs: int, seed: int,
                heldout: bool = False, experts: int | None = None,
                dropout: float = 0.0) -> list[VectorEnv]:
    """Vector envs (no auto-reset) that together hold ``num_envs`` worlds: a share
    ``dropout`` without experts, the rest with ``experts`` (the config's by default)."""
    experts = config.experts if experts is None else experts
    alone = int(round(num_envs * dropout)) if experts else num_envs
    sizes = [(experts, num_envs - alone), (0, alone)] if experts else [(0, num_envs)]
    return [make_vector("goal_cycle_v0", count, seed=seed + 7919 * index, auto_reset=False,
                        **config.world_settings(count_experts, heldout))
            for index, (count_experts, count) in enumerate(sizes) if count]


def learner_spec(config: ImitationConfig) -> ObservationSpec:
    """The learner's observation sizes (the same with and without experts)."""
    venv = make_arenas(config, 1, 0)[0]
    return ObservationSpec.from_spaces(venv.single_observation_space, venv.single_action_space)


def make_learner(config: ImitationConfig, generator: torch.Generator) -> SocialLearner:
    """A fresh recurrent learner."""
    return SocialLearner(learner_spec(config), config.hidden,
                         reward_input=config.reward_input, generator=generator)


def losses(config: ImitationConfig, learner: SocialLearner, episodes: Episodes,
           advantage: torch.Tensor, returns: torch.Tensor,
           envs: torch.Tensor) -> dict[str, torch.Tensor]:
    """The losses of one minibatch of whole episodes ``envs``."""
    observation = {k: v.index_select(1, envs) for k, v in episodes.observation.items()}
    outputs, _ = learner.forward_sequence(observation,
                                          learner.initial_state((len(envs),)))
    moves = episodes.moves.index_select(1, envs)
    distribution = torch.distributions.Categorical(logits=outputs["move_logits"])
    present = episodes.peer_present.index_select(1, envs)
    result = {}
    if present.any():
        result["aux"] = nn.functional.cross_entropy(
            outputs["peer_logits"][present], episodes.peer_moves.index_select(1, envs)[present])
    if config.method == "bc":
        result["clone"] = nn.functional.cross_entropy(
            outputs["move_logits"].flatten(0, 1), episodes.expert_moves.index_select(
                1, envs).flatten())
        return result
    result["policy"] = clipped_surrogate(
        distribution.log_prob(moves), episodes.log_probs.index_select(1, envs),
        normalise(advantage.index_select(1, envs)), config.clip)
    result["value"] = ((outputs["value"] - returns.index_select(1, envs)) ** 2).mean()
    result["entropy"] = -distribution.entropy().mean()
    return result


def total_loss(config: ImitationConfig, parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """The weighted sum the optimiser minimises."""
    total = parts.get("clone", torch.zeros(()))
    if "policy" in parts:
        total = (total + parts["policy"] + config.value_weight * parts["value"]
                 + config.entropy * parts["entropy"])
    if "aux" in parts and config.aux_weight:
        total = total + config.aux_weight * parts["aux"]
    return total


def update(config: ImitationConfig, learner: SocialLearner, optimizer: torch.optim.Optimizer,
           episodes: Episodes, generator: torch.Generator) -> dict[str, float]:
    """Epochs of minibatch updates on one round; returns the mean of each loss."""
    alive = torch.ones_like(episodes.rewards, dtype=torch.bool)
    advantage, returns = gae(episodes.rewards, episodes.values, alive, config.gamma,
                             config.gae_lambda)
    batch = episodes.rewards.shape[1]
    size = batch // config.minibatches
    report: dict[str, list[float]] = {}
    for _ in range(config.epochs):
        order = torch.randperm(batch, generator=generator)
        for start in range(0, batch, size):
            envs = order[start:start + size].sort().values
            parts = losses(config, learner, episodes, advantage, returns, envs)
            optimizer.zero_grad()
            total_loss(config, parts).backward()
            nn.utils.clip_grad_norm_(learner.parameters(), 0.5)
            optimizer.step()
            for key, value in parts.items():
                report.setdefault(key, []).append(float(value.detach()))
    return {f"loss_{key}": float(np.mean(values)) for key, values in report.items()}


def train(config: ImitationConfig, out: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None) -> list[dict]:
    """Train one learner, evaluating every ``eval_every`` steps; returns the metric rows.

    With ``out`` the run is logged and checkpointed there, and a run already in ``out``
    resumes from its checkpoint. ``stop_after`` ends the call after that many rounds.
    """
    from socius.societies.imitation.evaluate import evaluate, reference

    run = open_run(out, config, "imitation")
    generator = torch.Generator().manual_seed(config.seed)
    learner = make_learner(config, generator)
    optimizer = torch.optim.Adam(learner.parameters(), lr=config.learning_rate, foreach=True)
    arenas = make_arenas(config, config.num_envs, config.seed,
                         dropout=config.expert_dropout)
    start, rows = _resume(run, learner, optimizer, generator)
    eval_rounds = max(1, config.eval_every // config.steps_per_round)
    seat = "expert" if config.method == "bc" else "learner"
    bar = tqdm(range(start, config.rounds), disable=not progress, initial=start,
               total=config.rounds, desc=f"imitation {config.method} experts={config.experts}")
    baselines = reference(config, config.seed)
    started = time.perf_counter()
    for round_index in bar:
        if stop_after is not None and round_index - start >= stop_after:
            break
        episodes = play(arenas, seat, _round_seed(config, round_index), learner, generator)
        episodes = scale_penalty(episodes, penalty_scale(config, round_index))
        report = update(config, learner, optimizer, episodes, generator)
        done = round_index + 1
        if done % eval_rounds == 0 or done == config.rounds:
            row = {"round": done, "env_steps": done * config.steps_per_round,
                   "train_return": float(episodes.rewards.sum(0).mean()), **report,
                   **evaluate(config, learner, config.seed, baselines)}
            rows.append(row)
            bar.set_postfix(norm=f"{row['normalised_with']:.2f}",
                            alone=f"{row['normalised_alone']:.2f}")
            if run is not None:
                run.append(row)
                run.append({"round": done, "seconds": round(time.perf_counter() - started, 1)},
                           "timing.jsonl")
                run.save_checkpoint({"progress": done, "learner": learner.state_dict(),
                                     "optimizer": optimizer.state_dict(),
                                     "generator": generator.get_state()})
    return rows


def penalty_scale(config: ImitationConfig, round_index: int) -> float:
    """The share of the penalty felt in a training round (1 after the warm-up)."""
    warmup = config.penalty_warmup * config.rounds
    return 1.0 if round_index >= warmup else round_index / warmup


def scale_penalty(episodes: Episodes, scale: float) -> Episodes:
    """The episodes with every penalty (the only negative reward) multiplied by ``scale``."""
    if scale == 1.0:
        return episodes
    rewards = torch.where(episodes.rewards < 0, episodes.rewards * scale, episodes.rewards)
    return dataclasses.replace(episodes, rewards=rewards)


def _round_seed(config: ImitationConfig, round_index: int) -> int:
    """Episode seed of a training round (evaluation seeds lie above 10**9)."""
    return config.seed * 1_000_003 + round_index * 17


def _resume(run: RunDirectory | None, learner, optimizer, generator) -> tuple[int, list[dict]]:
    """Load the last checkpoint into the learner, optimiser and generator, if any."""
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is None:
        return 0, run.rows() if run is not None else []
    learner.load_state_dict(checkpoint["learner"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    generator.set_state(checkpoint["generator"])
    run.truncate(checkpoint["progress"], "round")
    return checkpoint["progress"], run.rows()
