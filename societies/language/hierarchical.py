"""Training the hierarchical listener (``agent=hierarchical|walker``): PPO on its subgoal
decisions, and its low level online with hindsight.

- **High level.** One PPO sample per decision (``subgoals.CellDecision``): the clipped
  surrogate of the chosen cell against the advantage ``return - value`` (the semi-MDP
  return of ``subgoals``), the value towards that return, and the entropy of the cell
  choice (weighted by ``move_entropy``). With the gumbel channel the message is rebuilt
  from the speaker's logits and the noise that drew it (``train.relaxed_inbox``), so the
  listener's surrogate trains the speaker, as in the flat path. The speaker's own terms
  are the flat path's.
- **Low level** (hierarchical only): a navigator low level shared by the population
  (``population.skill``, a skill every listener walks with), fitted on a replay of the
  listeners' newest states with all-goals hindsight: every room cell is a goal of every
  state. Its target backs up the best of the five moves by the grid's known move rule
  (``Q(o, m, a, g) = gamma V(o_a, m, g)``, as the navigator reads it), and entering an
  object ends a walk. The in-sample form (the move the data took, under an expectile)
  learned too little here: listeners walk at objects, so most of a state's data moves
  end a walk, and V towards other cells stayed near 0.3 where the truth was 0.73
  (EXPERIMENTS.md section 8). Its states are the run's own, so a count of environment
  steps counts every step the low level trained on.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from socius.agents.ppo import clipped_surrogate, gradient_step, normalise
from socius.societies.engine.population import MemberAdam, Population
from socius.societies.engine.stream import Record
from socius.societies.language.losses import (
    relaxed_inbox,
    signalling,
    signalling_batch,
    speaker_losses,
    split_run,
    total_loss,
)


def cell_losses(config, population: Population, listener, rows: torch.Tensor,
                speaker, speaker_rows: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """PPO losses on listener decisions ``rows`` and speaker decisions ``speaker_rows``
    (module doc); each role runs once on all its inputs."""
    talking = bool(config.world.message_length)
    relaxing = config.channel == "gumbel" and talking
    signalling_on = bool(config.signalling_weight) and talking
    decided = speaker_rows is not None and len(speaker_rows) > 0
    speaker_in = {key: value[rows] for key, value in listener.speaker.items()}
    parts = []
    if relaxing:
        parts.append((speaker_in, listener.speaker_members[rows.numpy()]))
    if decided:
        parts.append(({key: value[speaker_rows] for key, value in speaker.inputs.items()},
                      speaker.members[speaker_rows.numpy()]))
    if signalling_on:
        goals, goal_members = signalling_batch(
            config, speaker_in, np.unique(listener.speaker_members[rows.numpy()]))
        parts.append((goals, goal_members))
    said = split_run(population, "speaker", parts)
    live = {key: value[rows] for key, value in listener.inputs.items()}
    members = listener.members[rows.numpy()]
    plain_inbox = nn.functional.one_hot(live["inbox"].long(),
                                        config.world.vocab_size + 1).float()
    listener_parts = [(dict(live, inbox=plain_inbox), members)]
    if relaxing:
        relaxed = relaxed_inbox(config, said.pop(0)["token_logits"].log_softmax(-1),
                                listener.tokens[rows], listener.noise[rows], live["inbox"])
        listener_parts.append((dict(live, inbox=relaxed), members))
    listened = split_run(population, "listener", listener_parts)
    plain, heard = listened[0], listened[-1]
    candidates = listener.candidates[rows]

    def choice(outputs):
        return torch.distributions.Categorical(
            logits=outputs["cell_logits"].masked_fill(~candidates, float("-inf")))

    returns = listener.returns[rows]
    losses = {"listener": clipped_surrogate(
        choice(heard).log_prob(listener.cell[rows]), listener.cell_logp[rows],
        normalise(returns - listener.value[rows]), config.clip),
        "move_entropy": -choice(plain).entropy().mean(),
        "value": ((plain["value"] - returns) ** 2).mean()}
    if decided:
        losses.update(speaker_losses(config, speaker, speaker_rows, said.pop(0)))
    if signalling_on:
        losses["signalling"] = -signalling(config, said.pop(0)["token_logits"],
                                           len(goal_members) // len(goals["goal"]))
    return losses


def update_cells(config, population: Population, optimizer: MemberAdam, episode: Record,
                 generator: torch.Generator) -> dict[str, float]:
    """PPO epochs over one round's closed decisions; returns the last minibatch's losses."""
    listener, speaker = episode.listener_decisions, episode.decisions
    if listener is None:
        return {}
    count = len(listener.members)
    spoken = 0 if speaker is None else len(speaker.members)
    report: dict[str, float] = {}
    for _ in range(config.epochs):
        chunks = torch.randperm(count, generator=generator).tensor_split(config.minibatches)
        said = (torch.randperm(spoken, generator=generator).tensor_split(config.minibatches)
                if spoken else [None] * config.minibatches)
        for rows, speaker_rows in zip(chunks, said):
            if len(rows) < 2:  # an advantage needs a spread to normalise
                continue
            losses = cell_losses(config, population, listener, rows, speaker, speaker_rows)
            gradient_step(optimizer, total_loss(config, losses), None, 1.0,
                          clip=population.clip_gradients)
            report = {key: float(value.detach()) for key, value in losses.items()}
    return report
