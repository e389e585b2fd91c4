"""Social learning in Goal Cycle, top to bottom (Ndousse et al. 2021).

    socius run imitation --config imitation --seeds 3 --out runs/imitation

1. ``goal_cycle_v1`` (``task``; ``goal_cycle_v0`` for older runs): a learner
   (``agent_0``) shares a 9 x 9 grid with scripted experts that know the hidden cycle of
   the 5 alike tiles (redrawn every episode). The learner sees them only through its
   partial view and earns only the world's reward.
2. Every round plays one whole episode in every environment (all end together, at
   ``max_cycles``), so a recurrent learner's memory starts fresh with every sequence.
3. The learner is a recurrent PPO agent; its auxiliary loss (``aux_weight``) predicts the
   move each agent in view makes next. ``world.num_agents=1`` (no experts) is the solo
   control, ``aux_weight=0``
   the no-auxiliary control, ``method=bc`` behaviour cloning of the expert's own moves
   in the learner's seat, on the same budget of environment steps.
4. ``agent=hierarchical`` (or ``walker``) seats the socius agent instead: a subgoal cell
   every k steps, one PPO sample per decision with its semi-MDP return, and a low level
   learned online from the round's walking steps (``societies.imitation.subgoals``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from socius.agents.imitation import SocialLearner
from socius.agents.ppo import clipped_surrogate, gae, gradient_step, minibatches, normalise
from socius.agents.subgoal_cells import LowLevel
from socius.societies.engine.stream import Record
from socius.societies.imitation.config import ImitationConfig, make_arenas, make_learner
from socius.societies.imitation.evaluate import evaluate, reference
from socius.societies.imitation.rollout import play_episodes
from socius.societies.imitation.subgoals import (
    CHOICES,
    cell_terms,
    decision_counts,
    decision_returns,
    learn_walks,
)
from socius.societies.runs.directory import RunDirectory, open_run


def losses(config: ImitationConfig, learner: SocialLearner, episodes: Record,
           advantage: torch.Tensor, returns: torch.Tensor, envs: torch.Tensor,
           state: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The losses of one minibatch of sequences ``envs`` (columns of ``episodes``), each
    starting from its row of ``state`` (zero memory when None)."""
    observation = {k: v.index_select(1, envs) for k, v in episodes.observation.items()}
    start = (learner.initial_state((len(envs),)) if state is None
             else state.index_select(0, envs))
    outputs, _ = learner.forward_sequence(observation, start)
    moves = episodes.moves.index_select(1, envs)
    distribution = torch.distributions.Categorical(logits=outputs["move_logits"])
    present = episodes.peer_present.index_select(1, envs)
    result = {}
    if present.any():
        result["aux"] = nn.functional.cross_entropy(
            outputs["peer_logits"][present], episodes.peer_moves.index_select(1, envs)[present])
    if config.agent != "flat":
        choices = {key: getattr(episodes, key).index_select(1, envs) for key in CHOICES}
        result.update(cell_terms(config, outputs, choices, advantage.index_select(1, envs),
                                 returns.index_select(1, envs)))
        return result
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
           episodes: Record, generator: torch.Generator) -> dict[str, float]:
    """Epochs of minibatch updates on one round; returns the mean of each loss.

    With ``bptt`` the episodes are cut into chunks that train as separate sequences.
    Stored memory states go stale once the weights move, so every epoch first runs the
    learner over the whole episodes (no gradient: one forward pass over the round, with
    the memory fused) to get each chunk's starting state under the current weights.
    That was chosen over a burn-in prefix, which would cost a forward pass of its own
    for every chunk in every minibatch and still start the prefix from a stale state.
    """
    if config.agent == "flat":
        alive = torch.ones_like(episodes.rewards, dtype=torch.bool)
        advantage, returns = gae(episodes.rewards, episodes.values, alive, config.gamma,
                                 config.gae_lambda)
    else:  # one sample per subgoal decision; the discount is per subgoal (skill.gamma)
        returns = decision_returns(episodes, config.skill.gamma)
        advantage = (returns - episodes.values) * episodes.decided
    steps = episodes.rewards.shape[0]
    length = config.bptt or steps
    chunked, advantage, returns = (chunks(episodes, length), chunks(advantage, length),
                                   chunks(returns, length))
    report: dict[str, list[float]] = {}
    for _ in range(config.epochs):
        state = None if length == steps else chunk_states(learner, episodes, length)
        for envs in minibatches(chunked.rewards.shape[1], config.minibatches, 1, generator):
            parts = losses(config, learner, chunked, advantage, returns, envs, state)
            gradient_step(optimizer, total_loss(config, parts), learner.parameters(), 0.5)
            for key, value in parts.items():
                report.setdefault(key, []).append(float(value.detach()))
    return {f"loss_{key}": float(np.mean(values)) for key, values in report.items()}


def chunks(value, length: int):
    """``[T, B, ...]`` -> ``[length, (T / length) * B, ...]``: column ``c * B + b`` is
    chunk ``c`` of episode ``b`` (a record, or a tensor or array)."""
    if isinstance(value, Record):
        return value.map(lambda item: chunks(item, length))
    steps, batch = value.shape[:2]
    if length == steps:
        return value
    return value.reshape(steps // length, length, batch, *value.shape[2:]).swapaxes(
        0, 1).reshape(length, steps // length * batch, *value.shape[2:])


@torch.no_grad()
def chunk_states(learner: SocialLearner, episodes: Record, length: int) -> torch.Tensor:
    """The memory state ``[(T / length) * B, H]`` at the start of every chunk, under the
    learner's current weights (in the column order of :func:`chunks`)."""
    batch = episodes.rewards.shape[1]
    state = learner.initial_state((batch,))
    starts = []
    for begin in range(0, episodes.rewards.shape[0], length):
        starts.append(state)
        window = {k: v[begin:begin + length] for k, v in episodes.observation.items()}
        _, state = learner.forward_sequence(window, state)
    return torch.cat(starts)


def train(config: ImitationConfig, out: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None) -> list[dict]:
    """Train one learner, evaluating every ``eval_every`` steps; returns the metric rows.

    With ``out`` the run is logged and checkpointed there, and a run already in ``out``
    resumes from its checkpoint. ``stop_after`` ends the call after that many rounds.
    """
    run = open_run(out, config, "imitation")
    generator = torch.Generator().manual_seed(config.seed)
    learner = make_learner(config, generator)
    optimizer = torch.optim.Adam(learner.parameters(), lr=config.learning_rate, foreach=True)
    arenas = make_arenas(config, config.num_envs, dropout=config.expert_dropout)
    low = LowLevel.start(config, (arenas[0][0].height, arenas[0][0].width), generator)
    start, rows, low = _resume(run, learner, optimizer, generator, low)
    eval_rounds = max(1, config.eval_every // config.steps_per_round)
    seat = "expert" if config.method == "bc" else "learner"
    bar = tqdm(range(start, config.rounds), disable=not progress, initial=start,
               total=config.rounds, desc=f"imitation {config.method} experts={config.experts}")
    baselines = reference(config, config.seed)
    started = time.perf_counter()
    for round_index in bar:
        if stop_after is not None and round_index - start >= stop_after:
            break
        episodes = play_episodes(arenas, seat, _round_seed(config, round_index), learner,
                                 generator, config=config, skill=low.skill)
        episodes = scale_penalty(episodes, penalty_scale(config, round_index))
        report = update(config, learner, optimizer, episodes, generator)
        low, skill_report = learn_walks(config, low, episodes)
        done = round_index + 1
        if done % eval_rounds == 0 or done == config.rounds:
            row = {"round": done, "env_steps": done * config.steps_per_round,
                   "updates": done * config.epochs * config.minibatches,
                   "train_return": float(episodes.rewards.sum(0).mean()), **report,
                   **skill_report, **decision_counts(config, low, done, episodes),
                   **evaluate(config, learner, config.seed, baselines, low.skill)}
            rows.append(row)
            bar.set_postfix(norm=f"{row['normalised_with']:.2f}",
                            alone=f"{row['normalised_alone']:.2f}")
            if run is not None:
                run.log(row, "round", started)
                run.save_checkpoint({"progress": done, "learner": learner.state_dict(),
                                     "optimizer": optimizer.state_dict(),
                                     "generator": generator.get_state(), **low.saved()})
    return rows


def penalty_scale(config: ImitationConfig, round_index: int) -> float:
    """The share of the penalty felt in a training round (1 after the warm-up)."""
    warmup = config.penalty_warmup * config.rounds
    return 1.0 if round_index >= warmup else round_index / warmup


def scale_penalty(episodes: Record, scale: float) -> Record:
    """The episodes with every penalty (the only negative reward) multiplied by ``scale``."""
    if scale == 1.0:
        return episodes
    rewards = torch.where(episodes.rewards < 0, episodes.rewards * scale, episodes.rewards)
    return episodes.with_steps(rewards=rewards)


def _round_seed(config: ImitationConfig, round_index: int) -> int:
    """Episode seed of a training round (evaluation seeds lie above 10**9)."""
    return config.seed * 1_000_003 + round_index * 17


def _resume(run: RunDirectory | None, learner, optimizer, generator,
            low: LowLevel) -> tuple[int, list[dict], LowLevel]:
    """Load the last checkpoint into the learner, optimiser, generator and low level."""
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is None:
        return 0, run.rows() if run is not None else [], low
    learner.load_state_dict(checkpoint["learner"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    generator.set_state(checkpoint["generator"])
    run.truncate(checkpoint["progress"], "round")
    return checkpoint["progress"], run.rows(), low.restore(checkpoint)
