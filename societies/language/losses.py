"""The language experiment's PPO losses: the listener's and speaker's terms on a round's
steps and decisions, the relaxed (Gumbel-Softmax) message and the positive-signalling bias.
``train`` steps on them; ``hierarchical`` reuses the speaker's terms."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from socius.agents.modules import pad_silence
from socius.agents.ppo import clipped_surrogate, normalise
from socius.societies.engine.population import Population
from socius.societies.engine.stream import Record
from socius.societies.language.agents import LISTENER, SPEAKER, critic_inputs
from socius.societies.language.config import LanguageConfig


def relaxed_inbox(config: LanguageConfig, token_logits: torch.Tensor, tokens: torch.Tensor,
                  noise: torch.Tensor, stored_inbox: torch.Tensor) -> torch.Tensor:
    """The listener's inbox ``[N, 1, L, V+1]`` rebuilt from its speaker's straight-through
    Gumbel-Softmax sample: equal in value to what was heard (silence where nothing was
    heard yet), differentiable in the speaker's logits ``[N, L, V]``."""
    soft = ((token_logits + noise) / config.temperature).softmax(-1)
    hard = nn.functional.one_hot(tokens, config.world.vocab_size).float()
    message = pad_silence(hard + soft - soft.detach())[:, None]  # [N, 1, L, V+1]
    stored = nn.functional.one_hot(stored_inbox.long(), config.world.vocab_size + 1).float()
    heard = (stored_inbox > 0).all(-1)[..., None, None]  # [N, 1, 1, 1]
    return torch.where(heard, message, stored)


def ppo_losses(config: LanguageConfig, population: Population, episode: Record,
               advantage: torch.Tensor, returns: torch.Tensor, envs: torch.Tensor,
               decisions: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """PPO losses of both roles on the steps of worlds ``envs`` and the speaker decisions
    ``decisions`` (indices into ``episode.decisions``).

    Each role runs once: the speaker on its step inputs, its decisions and its distinct
    goals (for the signalling bias) together, the listener on its plain and relaxed
    inboxes together.
    """
    alive = episode.alive.index_select(1, envs)
    step, env = alive.nonzero(as_tuple=True)  # live steps, step-major

    def pick(value: torch.Tensor) -> torch.Tensor:
        return value.index_select(1, envs)[step, env]

    members = episode.members[:, envs.numpy()][step.numpy(), env.numpy()]  # [N, 2]
    live = {k: pick(v) for k, v in episode.listener.items()}
    speaker_in = {k: pick(v) for k, v in episode.speaker.items()}
    moves = pick(episode.moves)
    talking = bool(config.world.message_length)
    relaxing = config.channel == "gumbel" and talking
    signalling_on = bool(config.signalling_weight) and talking
    decided = decisions is not None and len(decisions) > 0
    # The speaker's batch: [steps (gumbel) | decisions | distinct goals x members].
    parts = []
    if relaxing:
        parts.append((speaker_in, members[:, SPEAKER]))
    if decided:
        decision = episode.decisions
        parts.append(({k: v[decisions] for k, v in decision.inputs.items()},
                      decision.members[decisions.numpy()]))
    if signalling_on:
        goals, goal_members = signalling_batch(config, speaker_in,
                                               np.unique(members[:, SPEAKER]))
        parts.append((goals, goal_members))
    said = split_run(population, "speaker", parts)
    listener_parts = [(live, members[:, LISTENER])]
    if relaxing:
        # The PPO surrogate alone reaches the speaker: it runs on the relaxed message (equal
        # in value to what was heard). The value and entropy terms use the plain run, or
        # their gradients (the value's is far larger) would train the speaker too.
        relaxed = relaxed_inbox(config, said.pop(0)["token_logits"].log_softmax(-1), pick(
            episode.tokens), pick(episode.noise), live["inbox"])
        plain_inbox = nn.functional.one_hot(live["inbox"].long(),
                                            config.world.vocab_size + 1).float()
        listener_parts = [(dict(live, inbox=plain_inbox), members[:, LISTENER]),
                          (dict(live, inbox=relaxed), members[:, LISTENER])]
    listened = split_run(population, "listener", listener_parts)
    plain, heard = listened[0], listened[-1]
    advantage, returns = pick(advantage), pick(returns)
    losses = {"listener": clipped_surrogate(
        torch.distributions.Categorical(logits=heard["move_logits"]).log_prob(moves),
        pick(episode.move_logp), normalise(advantage), config.clip),
        "move_entropy": -torch.distributions.Categorical(
            logits=plain["move_logits"]).entropy().mean()}
    if config.critic == "central":
        q_values = population.run("critic", critic_inputs(live, speaker_in),
                                  members[:, LISTENER])["move_logits"]
        taken = q_values.gather(-1, moves[:, None]).squeeze(-1)
        losses["value"] = ((taken - returns) ** 2).mean()
    else:
        losses["value"] = ((plain["value"] - returns) ** 2).mean()
    if decided:
        losses.update(speaker_losses(config, episode.decisions, decisions, said.pop(0)))
    if signalling_on:
        losses["signalling"] = -signalling(config, said.pop(0)["token_logits"],
                                           len(goal_members) // len(goals["goal"]))
    return losses


def split_run(population: Population, role: str,
              parts: list[tuple[dict[str, torch.Tensor], np.ndarray]]) -> list[dict]:
    """One ``population.run`` of ``role`` over several batches; their outputs, in order."""
    if not parts:
        return []
    keys = parts[0][0].keys()
    inputs = {key: torch.cat([part[key] for part, _ in parts]) for key in keys}
    outputs = population.run(role, inputs, np.concatenate([m for _, m in parts]))
    sizes = [len(m) for _, m in parts]
    pieces = {key: value.split(sizes) for key, value in outputs.items()}
    return [{key: pieces[key][i] for key in pieces} for i in range(len(parts))]


def speaker_losses(config: LanguageConfig, decision, rows: torch.Tensor,
                   said: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The speaker's own terms on whole-episode decisions ``rows`` (``said``: its outputs
    on them): its value and, with the rl channel, its policy gradient, both from the
    episode's return (lambda = 1)."""
    returns = decision.returns[rows]
    # The speaker's value of its goal is its own baseline, with either critic.
    losses = {"speaker_value": ((said["value"] - returns) ** 2).mean()}
    if config.world.message_length:
        token_logits = said["token_logits"].log_softmax(-1)
        token_entropy = -(token_logits.exp() * token_logits).sum(-1).sum(-1)
        losses["token_entropy"] = -token_entropy.mean()
        if config.channel == "rl":
            new_logp = token_logits.gather(-1, decision.tokens[rows][..., None]).squeeze(
                -1).sum(-1)
            losses["speaker"] = clipped_surrogate(
                new_logp, decision.token_logp[rows],
                normalise(returns - decision.value[rows]), config.clip)
    return losses


def signalling_batch(config: LanguageConfig, speaker: dict[str, torch.Tensor],
                     members: np.ndarray) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """The distinct goals in the speaker inputs ``[N, ...]``, once per member whose
    messages the bias reads (every member with scope 'population'): inputs and members."""
    _, rows = np.unique(speaker["goal"].numpy(), axis=0, return_index=True)
    goals = {key: value[torch.as_tensor(rows)] for key, value in speaker.items()}
    if config.signalling_scope == "population":
        members = np.arange(config.population)
    repeated = {key: value.repeat(len(members), *([1] * (value.dim() - 1)))
                for key, value in goals.items()}
    return repeated, np.repeat(members, len(rows))


def signalling(config: LanguageConfig, token_logits: torch.Tensor,
               members: int) -> torch.Tensor:
    """``I(message; goal)`` in nats with goals uniform, from the speakers' token logits on
    :func:`signalling_batch` ``[members * goals, L, V]``: the mean over members of each
    one's own, or with scope 'population' that of the mixture of all speakers."""
    probabilities = token_logits.softmax(-1).reshape(members, -1, *token_logits.shape[1:])
    messages = probabilities[:, :, 0]
    for position in range(1, probabilities.shape[2]):
        messages = (messages[..., :, None] * probabilities[:, :, position, None, :]).flatten(2)
    if config.signalling_scope == "population":
        messages = messages.mean(0, keepdim=True)  # [1, goals, V ** L]
    return (entropy(messages.mean(1)) - entropy(messages).mean(1)).mean()


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of distributions over the last axis."""
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(-1)


def total_loss(config: LanguageConfig, losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """Weighted sum of the PPO losses."""
    total = losses["listener"] + config.value_weight * (
        losses["value"] + losses.get("speaker_value", 0.0))
    total = total + config.move_entropy * losses["move_entropy"]
    if "token_entropy" in losses and config.channel == "rl":
        # The differentiable speaker explores through its Gumbel noise; a bonus would only
        # pull it back to uniform tokens against the listener's weak early gradient.
        total = total + config.token_entropy * losses["token_entropy"]
    if "speaker" in losses:
        total = total + losses["speaker"]
    if "signalling" in losses:
        total = total + config.signalling_weight * losses["signalling"]
    return total
