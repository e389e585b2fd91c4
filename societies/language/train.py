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
   - ``agent=hierarchical`` or ``walker``: the listener chooses a subgoal cell (from the
     same encoders, memory and channel) and a low level walks there
     (``subgoals``); PPO then runs on those decisions, and a hierarchical listener's low
     level learns online from the round's steps (``hierarchical``).
4. **Evaluation** (``socius.societies.language.evaluate``): success on training and held-out
   targets, interventions, CIC, topographic similarity, cross-play.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from socius.agents.ppo import gae, gradient_step, minibatches
from socius.agents.subgoal_cells import Replay, train_skill
from socius.societies.engine.population import MemberAdam, Population, pairing_schedule
from socius.societies.engine.stream import Record, Stream
from socius.societies.language.agents import ROLES, make_population
from socius.societies.language.config import LanguageConfig, make_world
from socius.societies.language.evaluate import evaluate
from socius.societies.language.hierarchical import update_cells
from socius.societies.language.losses import (  # noqa: F401 (tests read them here)
    ppo_losses,
    relaxed_inbox,
    signalling,
    signalling_batch,
    total_loss,
)
from socius.societies.language.rollout import play, start, stream_from_carry, success_rate
from socius.societies.runs.directory import open_run


def advantages(config: LanguageConfig, episode: Record) -> tuple[torch.Tensor, torch.Tensor]:
    """The listener's GAE advantages and returns ``[T, B]`` over streams of episodes
    (bootstrapped from its value where an episode runs on past the round)."""
    return gae(episode.rewards, episode.values, episode.alive, config.gamma,
               config.gae_lambda, ends=episode.ends, bootstrap=episode.bootstrap)


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
    return MemberAdam(population.weights.parameters(), population.stacked,
                      lr=config.learning_rate)


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
    # The hierarchical listener's low level learns from a replay of the listeners' steps.
    replay, skill_draws = Replay.empty((world.height, world.width)), np.random.default_rng(
        [config.seed, 7])
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
        if "skill" in checkpoint:
            replay = Replay.restore(checkpoint["skill"]["replay"])
            population.skill.optimizer.load_state_dict(checkpoint["skill"]["optimizer"])
            skill_draws.bit_generator.state = checkpoint["skill"]["draws"]
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
        if config.agent == "flat":
            losses = update(config, population, optimizer, episode, generator)
        else:
            losses = update_cells(config, population, optimizer, episode, generator)
        if config.agent == "hierarchical":
            replay = replay.add(episode.room, episode.position, episode.walking, config.replay)
            losses.update(train_skill(config, population.skill, replay, skill_draws))
        episodes += episode.episodes
        done = round_index + 1
        if done % config.eval_every == 0 or done == config.rounds:
            report = evaluate(config, population, seed=config.seed, permutations=200,
                              cross_play=False)
            row = {"round": done, "episodes": episodes,
                   "env_steps": done * config.num_envs * config.rollout_steps,
                   "updates": done * config.epochs * config.minibatches,
                   **({"skill_updates": done * config.skill_updates}
                      if config.agent == "hierarchical" else {}),
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
                    "generator": generator.get_state(), "carry": stream, "episodes": episodes,
                    **({"skill": {"replay": replay.arrays(),
                                  "draws": skill_draws.bit_generator.state,
                                  "optimizer": population.skill.optimizer.state_dict()}}
                       if config.agent == "hierarchical" else {})})
    return rows

