"""Emergent language in ``referential_v0``, top to bottom: a population of speakers and
listeners trained by multi-agent PPO, with the message channel learned one of two ways.

    socius run language --set channel=gumbel rounds=1000

1. **Population.** ``population`` speakers and as many listeners, each with its own
   network. Every round a seeded schedule pairs them at random, one pair per environment.
2. **Round.** Every environment plays one whole episode (``max_cycles`` steps) through the
   pure core. The speaker sees the target ``(colour, shape)`` and decides once per episode:
   one message, repeated every step. The listener sees the room and, from step 1 on, that
   message.
3. **Update.** PPO on the round's episodes (independent learners, shared reward, GAE).
   - ``channel=rl``: the message is an action, trained by the policy gradient.
   - ``channel=gumbel`` (DIAL-style): during the update the message is rebuilt as a
     straight-through Gumbel-Softmax sample with the noise that drew it, so its value is
     exactly what the listener heard, and the listener's loss backpropagates into the
     speaker. The speaker gets no policy-gradient term.
   - ``signalling_weight``: a positive-signalling bias (after Eccles et al. 2019) makes each
     speaker's messages tell its goals apart; it says nothing about which message means
     what, which the pair must still settle through play.
   - ``critic=central``: centralised training with one critic per listener seat that reads
     the room and the target (what ``state()`` holds); decentralised acting is unchanged.
4. **Evaluation** (``socius.societies.language.evaluate``): success on training and held-out
   targets, interventions, CIC, topographic similarity, cross-play.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from socius.agents.modules import pad_silence
from socius.agents.ppo import clipped_surrogate, gae, gradient_step, minibatches, normalise
from socius.societies.engine.population import Population, pairing_schedule
from socius.societies.language.agents import (
    CRITIC,
    LISTENER,
    ROLES,
    SPEAKER,
    critic_inputs,
    make_population,
    run_members,
)
from socius.societies.language.config import LanguageConfig, make_world
from socius.societies.language.evaluate import evaluate
from socius.societies.language.rollout import Round, play_round
from socius.societies.runs.directory import open_run


def advantages(config: LanguageConfig, episode: Round) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and returns ``[T, B, 2]`` per role (one episode per env, no bootstrap)."""
    reward = episode.rewards[..., None].expand_as(episode.values)
    alive = episode.alive[..., None].expand_as(episode.values)
    return gae(reward, episode.values, alive, config.gamma, config.gae_lambda)


def relaxed_inbox(config: LanguageConfig, token_logits: torch.Tensor, tokens: torch.Tensor,
                  noise: torch.Tensor, stored_inbox: torch.Tensor) -> torch.Tensor:
    """The listener's inbox ``[T, b, 1, L, V+1]`` rebuilt from the speaker's straight-through
    Gumbel-Softmax samples: equal in value to what was heard, differentiable in the logits."""
    soft = ((token_logits + noise) / config.temperature).softmax(-1)
    hard = nn.functional.one_hot(tokens, config.world.vocab_size).float()
    message = pad_silence(hard + soft - soft.detach())  # [T, b, L, V+1]
    silence = nn.functional.one_hot(stored_inbox[:1].long(), config.world.vocab_size + 1).float()
    # Step t hears the speaker's step t - 1; step 0 hears silence (the stored inbox).
    return torch.cat([silence, message[:-1, :, None]], dim=0)


def ppo_losses(config: LanguageConfig, population: Population, episode: Round,
               advantage: torch.Tensor, returns: torch.Tensor,
               envs: torch.Tensor) -> dict[str, torch.Tensor]:
    """PPO losses of both roles on the environments ``envs`` (whole episodes).

    The speaker's input is its goal, the same at every step, so it runs once per episode;
    the listener runs only on the steps before its episode ended (the rest are masked).
    """
    pick = {k: v.index_select(1, envs) for k, v in (
        ("tokens", episode.tokens), ("noise", episode.noise), ("token_logp", episode.token_logp),
        ("moves", episode.moves), ("move_logp", episode.move_logp), ("alive", episode.alive))}
    members = episode.members[envs.numpy()]
    step, env = pick["alive"].nonzero(as_tuple=True)  # live steps, step-major
    speaker_in = {k: v[0].index_select(0, envs) for k, v in episode.speaker.items()}
    listener_in = {k: v.index_select(1, envs) for k, v in episode.listener.items()}
    said = run_members(population, SPEAKER, speaker_in, members[:, SPEAKER], 0)
    token_logits = said["token_logits"].log_softmax(-1)  # [b, L, V]
    live = {k: v[step, env] for k, v in listener_in.items()}
    plain = run_members(population, LISTENER, live, members[env.numpy(), LISTENER], 0)
    heard = plain
    if config.channel == "gumbel" and config.world.message_length:
        # The PPO surrogate alone reaches the speaker: it runs on the relaxed message (equal
        # in value to what was heard). The value and entropy terms use the plain run, or
        # their gradients (the value's is far larger) would train the speaker too.
        relaxed = relaxed_inbox(config, token_logits.expand(pick["alive"].shape[0],
                                                            *token_logits.shape),
                                pick["tokens"], pick["noise"], listener_in["inbox"])
        heard = run_members(population, LISTENER, dict(live, inbox=relaxed[step, env]),
                            members[env.numpy(), LISTENER], 0)
    advantage, returns = advantage.index_select(1, envs)[step, env], returns.index_select(
        1, envs)[step, env]  # [N, 2]

    def clipped(new_logp, old_logp, adv):
        return clipped_surrogate(new_logp, old_logp, adv, config.clip)

    losses = {"listener": clipped(
        torch.distributions.Categorical(logits=heard["move_logits"]).log_prob(
            pick["moves"][step, env]), pick["move_logp"][step, env],
        normalise(advantage[:, LISTENER])),
        "move_entropy": -torch.distributions.Categorical(
            logits=plain["move_logits"]).entropy().mean()}
    if config.world.message_length:
        token_entropy = -(token_logits.exp() * token_logits).sum(-1).sum(-1)
        losses["token_entropy"] = -token_entropy.mean()
        if config.channel == "rl":
            # The message is one decision per episode, taken at step 0 and repeated.
            first = step == 0  # every episode is alive at step 0, in env order
            new_logp = token_logits.gather(-1, pick["tokens"][0, ..., None]).squeeze(-1).sum(-1)
            losses["speaker"] = clipped(new_logp, pick["token_logp"][0],
                                        normalise(advantage[first, SPEAKER]))
    if config.signalling_weight and config.world.message_length:
        losses["signalling"] = -signalling(config, population, episode.speaker,
                                           np.unique(members[:, SPEAKER]))
    if config.critic == "central":
        critic_in = critic_inputs(live, {k: v[env] for k, v in speaker_in.items()})
        q_values = run_members(population, CRITIC, critic_in, members[env.numpy(), LISTENER],
                               0)["move_logits"]
        taken = q_values.gather(-1, pick["moves"][step, env][:, None]).squeeze(-1)
        losses["value"] = ((taken - returns[:, LISTENER]) ** 2).mean()
    else:
        values = torch.stack([said["value"][env], plain["value"]], -1)
        losses["value"] = ((values - returns) ** 2).sum(-1).mean()
    return losses



def signalling(config: LanguageConfig, population: Population,
               speaker: dict[str, torch.Tensor], members: np.ndarray) -> torch.Tensor:
    """``I(message; goal)`` in nats with goals uniform over the distinct goals in the speaker
    inputs ``[T, B, ...]``: the mean over ``members`` of each one's own, or with scope
    'population' that of the mixture of all speakers."""
    _, rows = np.unique(speaker["goal"][0].numpy(), axis=0, return_index=True)
    inputs = {key: value[0, torch.as_tensor(rows)] for key, value in speaker.items()}
    if config.signalling_scope == "population":
        members = np.arange(config.population)
    messages = []
    for index in members:
        probabilities = population.member(ROLES[SPEAKER], int(index))(inputs)[0][
            "token_logits"].softmax(-1)  # [goals, L, V]
        message = probabilities[:, 0]
        for position in range(1, probabilities.shape[1]):
            message = (message[:, :, None] * probabilities[:, position, None, :]).flatten(1)
        messages.append(message)  # [goals, V ** L]
    if config.signalling_scope == "population":
        messages = [torch.stack(messages).mean(0)]
    return sum(entropy(m.mean(0)) - entropy(m).mean(0) for m in messages) / len(messages)


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of distributions over the last axis."""
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(-1)


def total_loss(config: LanguageConfig, losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """Weighted sum of the PPO losses."""
    total = losses["listener"] + config.value_weight * losses["value"]
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


def update(config: LanguageConfig, population: Population, optimizer: torch.optim.Optimizer,
           episode: Round, generator: torch.Generator) -> dict[str, float]:
    """PPO epochs over one round; returns the last minibatch's losses."""
    advantage, returns = advantages(config, episode)
    report: dict[str, float] = {}
    for envs in minibatches(episode.rewards.shape[1], config.minibatches, config.epochs,
                            generator):
        losses = ppo_losses(config, population, episode, advantage, returns, envs)
        gradient_step(optimizer, total_loss(config, losses), population.parameters(), 1.0)
        report = {k: float(v.detach()) for k, v in losses.items()}
    return report


def schedule(config: LanguageConfig, generator: np.random.Generator) -> np.ndarray:
    """Members ``[num_envs, 2]`` (speaker, listener) for one round."""
    return pairing_schedule(generator, config.population, len(ROLES), config.num_envs)


def make_optimizer(config: LanguageConfig, population: Population) -> torch.optim.Optimizer:
    """Adam over every member (foreach: one batched step over all of them, also on a CPU)."""
    return torch.optim.Adam(population.parameters(), lr=config.learning_rate, foreach=True)


def reset_optimizer_state(optimizer: torch.optim.Optimizer, module: nn.Module) -> None:
    """Forget the optimizer's moments for ``module``'s parameters (after a replacement)."""
    for parameter in module.parameters():
        optimizer.state.pop(parameter, None)


def train(config: LanguageConfig, out: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None) -> list[dict]:
    """Train a population, evaluating every ``eval_every`` rounds; returns the metric rows.

    With ``out`` the run is logged and checkpointed there, and a run already in ``out``
    resumes from its checkpoint. ``stop_after`` ends the call after that many rounds
    (tests use it to interrupt a run).
    """
    run = open_run(out, config, "language")
    world = make_world(config, config.world.split)
    generator = torch.Generator().manual_seed(config.seed)
    population = make_population(config, world, generator)
    optimizer = make_optimizer(config, population)
    pairing = np.random.default_rng(config.seed)
    start = 0
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is not None:
        population.load_state_dict(checkpoint["population"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        pairing.bit_generator.state = checkpoint["pairing"]
        generator.set_state(checkpoint["generator"])
        start = checkpoint["progress"]
        run.truncate(start, "round")
    rows = run.rows() if run is not None else []
    bar = tqdm(range(start, config.rounds), disable=not progress, desc=f"language {config.channel}",
               initial=start, total=config.rounds)
    started = time.perf_counter()
    for round_index in bar:
        if stop_after is not None and round_index - start >= stop_after:
            break
        if config.replace_every and round_index and round_index % config.replace_every == 0:
            seat = (round_index // config.replace_every - 1) % config.population
            for role in population.config.roles:
                reset_optimizer_state(optimizer, population.replace(role, seat, generator))
        episode = play_round(config, world, population, round_index, schedule(config, pairing),
                             generator)
        losses = update(config, population, optimizer, episode, generator)
        done = round_index + 1
        if done % config.eval_every == 0 or done == config.rounds:
            report = evaluate(config, population, seed=config.seed, permutations=200,
                              cross_play=False)
            row = {"round": done, "episodes": done * config.num_envs,
                   "train_success": episode.success, **losses, **report}
            rows.append(row)
            bar.set_postfix(success=f"{report['success']:.2f}",
                            heldout=f"{report['success_heldout']:.2f}",
                            topsim=f"{report.get('topsim', float('nan')):.2f}")
            if run is not None:
                run.log(row, "round", started)
                run.save_checkpoint({
                    "progress": done, "population": population.state_dict(),
                    "optimizer": optimizer.state_dict(), "pairing": pairing.bit_generator.state,
                    "generator": generator.get_state()})
    return rows

