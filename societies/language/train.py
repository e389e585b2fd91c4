"""Emergent language in ``referential_v0``, top to bottom: a population of speakers and
listeners trained by multi-agent PPO, with the message channel learned one of two ways.

    socius run language --set channel=gumbel rounds=1000

1. **Population.** ``population`` speakers and as many listeners. The members of a role
   are one network with a leading member axis (``engine.population``): weights stacked
   ``[P, ...]``, one Adam step for all, gradients clipped per member.
2. **Round.** Every world steps ``rollout_steps`` times through the pure core and resets
   itself the step its episode ends, so no world waits (``rollout.play``). A fresh
   episode draws its speaker and listener at random from the population. The speaker
   sees the target ``(colour, shape)`` and decides once per episode: one message,
   repeated every step. The listener sees the room and, from the episode's second step
   on, that message.
3. **Update.** PPO on the round's steps (independent learners, shared reward). The
   listener learns from GAE advantages, bootstrapped where an episode runs on past the
   round; the speaker, which decides once per episode, from the episode's own return
   (lambda = 1), once the episode has ended.
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
from socius.societies.engine.population import MemberAdam, Population, pairing_schedule
from socius.societies.engine.stream import Record, Stream
from socius.societies.language.agents import (
    LISTENER,
    ROLES,
    SPEAKER,
    critic_inputs,
    make_population,
)
from socius.societies.language.config import LanguageConfig, make_world
from socius.societies.language.evaluate import evaluate
from socius.societies.language.rollout import play, start, stream_from_carry, success_rate
from socius.societies.runs.directory import open_run


def advantages(config: LanguageConfig, episode: Record) -> tuple[torch.Tensor, torch.Tensor]:
    """The listener's GAE advantages and returns ``[T, B]`` over streams of episodes
    (bootstrapped from its value where an episode runs on past the round)."""
    return gae(episode.rewards, episode.values, episode.alive, config.gamma,
               config.gae_lambda, ends=episode.ends, bootstrap=episode.bootstrap)


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


def update(config: LanguageConfig, population: Population, optimizer: MemberAdam,
           episode: Record, generator: torch.Generator) -> dict[str, float]:
    """PPO epochs over one round; returns the last minibatch's losses."""
    advantage, returns = advantages(config, episode)
    decided = 0 if episode.decisions is None else len(episode.decisions.members)
    report: dict[str, float] = {}
    chunks: list[torch.Tensor] = []
    for envs in minibatches(episode.rewards.shape[1], config.minibatches, config.epochs,
                            generator):
        if not chunks and decided:
            # The speaker's decisions split into as many minibatches, afresh each epoch.
            chunks = list(torch.randperm(decided, generator=generator).tensor_split(
                config.minibatches))
        losses = ppo_losses(config, population, episode, advantage, returns, envs,
                            chunks.pop(0) if chunks else None)
        gradient_step(optimizer, total_loss(config, losses), None, 1.0,
                      clip=population.clip_gradients)
        report = {k: float(v.detach()) for k, v in losses.items()}
    return report


def schedule(config: LanguageConfig, generator: np.random.Generator) -> np.ndarray:
    """Members ``[num_envs, 2]`` (speaker, listener) of the worlds' first episodes: a
    balanced draw (later episodes draw theirs with :func:`draw_members`)."""
    return pairing_schedule(generator, config.population, len(ROLES), config.num_envs)


def make_optimizer(config: LanguageConfig, population: Population) -> MemberAdam:
    """Adam over the stacked members, with a step count per member (so a replaced
    member restarts its own bias correction)."""
    return MemberAdam(population.parameters(), population.stacked, lr=config.learning_rate)


def draw_members(config: LanguageConfig, pairing: np.random.Generator):
    """Who plays each episode that starts mid-round: a speaker and a listener, uniformly."""
    return lambda count: pairing.integers(0, config.population, (count, len(ROLES)))


def start_stream(config: LanguageConfig, world, members: np.ndarray) -> Stream:
    """The training worlds' first episodes, seated by ``members [num_envs, 2]``."""
    return start(config, world, config.num_envs, 0, members)


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
    stream = start_stream(config, world, schedule(config, pairing))
    start, episodes = 0, 0
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is not None:
        if "carry" not in checkpoint:
            raise ValueError(f"the checkpoint in {run.path} was written before the engine's "
                             "stream (it has no 'carry': the worlds' running episodes), so "
                             "the run cannot resume; start it again in another --out")
        population.load_state_dict(checkpoint["population"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        pairing.bit_generator.state = checkpoint["pairing"]
        generator.set_state(checkpoint["generator"])
        stream = stream_from_carry(config, world, checkpoint["carry"])
        episodes = checkpoint["episodes"]
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
                population.replace(role, seat, generator)
            optimizer.reset_member(seat)
        episode, stream = play(config, population, stream, config.rollout_steps, generator,
                               draw_members(config, pairing))
        losses = update(config, population, optimizer, episode, generator)
        episodes += episode.episodes
        done = round_index + 1
        if done % config.eval_every == 0 or done == config.rounds:
            report = evaluate(config, population, seed=config.seed, permutations=200,
                              cross_play=False)
            row = {"round": done, "episodes": episodes,
                   "env_steps": done * config.num_envs * config.rollout_steps,
                   "updates": done * config.epochs * config.minibatches,
                   "train_success": success_rate(episode), **losses, **report}
            rows.append(row)
            bar.set_postfix(success=f"{report['success']:.2f}",
                            heldout=f"{report['success_heldout']:.2f}",
                            topsim=f"{report.get('topsim', float('nan')):.2f}")
            if run is not None:
                run.log(row, "round", started)
                run.save_checkpoint({
                    "progress": done, "population": population.state_dict(),
                    "optimizer": optimizer.state_dict(), "pairing": pairing.bit_generator.state,
                    "generator": generator.get_state(), "carry": stream, "episodes": episodes})
    return rows

