"""Evaluation of a language population: success, interventions, CIC, structure, cross-play.

Every evaluation plays greedy episodes in fresh environments (seeds apart from training)
and hands the records to the pure functions of ``socius.societies.language.metrics``.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from socius.agents.scripted import RandomPolicy
from socius.agents.subgoal_cells import room_cells
from socius.envs.referential_v0 import OUTCOMES
from socius.societies.engine.population import Population, pairing_schedule
from socius.societies.engine.rollout import PolicySeat
from socius.societies.engine.stream import Arena, Record, Stream
from socius.societies.engine.stream import play as play_stream
from socius.societies.language import metrics
from socius.societies.language.agents import LISTENER
from socius.societies.language.config import LanguageConfig, make_world
from socius.societies.language.rollout import outcome_rates, play, start, success_rate
from socius.societies.language.subgoals import room_maps

# Evaluation episodes use episode numbers far from any training round.
EVALUATION_EPISODE = 1_000_000


def play_evaluation(config: LanguageConfig, population: Population, split: str,
                    members: np.ndarray, seed: int, intervention: str = "true") -> Record:
    """Greedy episodes on ``split`` with the messages left ``true``, ``shuffled`` across
    episodes, or ``random``; ``members [B, 2]`` says who plays where."""
    world = make_world(config, split)
    generator = np.random.default_rng(seed)
    batch, length = len(members), config.world.message_length
    fixed = {"shuffled": generator.permutation(batch),
             "random": generator.integers(0, config.world.vocab_size, (batch, length))}

    def intervene(tokens):
        if intervention == "shuffled":
            return tokens[fixed["shuffled"]]
        if intervention == "random":
            return fixed["random"]
        return tokens

    if intervention not in ("true", "shuffled", "random"):
        raise ValueError(f"intervention must be true, shuffled or random; got {intervention!r}")
    stream = start(config, world, batch, EVALUATION_EPISODE + seed, members)
    episode, _ = play(config, population, stream, world.config.max_cycles,
                      torch.Generator().manual_seed(seed), auto_reset=False, greedy=True,
                      intervene=intervene)
    return episode


def random_policy(config: LanguageConfig, split: str, seed: int, batch: int) -> dict:
    """A uniformly random speaker and listener on the evaluation episodes of ``split``:
    its mean return per episode and its rate of each outcome (chance, 1/K, assumes a
    listener that always commits; a random one often times out)."""
    world = make_world(config, split)
    arena = Arena.open(world, config.seed, batch, EVALUATION_EPISODE + seed)
    seat = PolicySeat(RandomPolicy(config.world.vocab_size, config.world.message_length),
                      np.random.default_rng([seed, 11]))
    record, _ = play_stream(Stream([arena], np.full((batch, 1), -1)), (seat,),
                            config.world.max_cycles, None, auto_reset=False)
    listener = int(world.info["listeners"][0])
    report = {"return": float(record.steps["reward"][..., listener].sum(axis=0).mean())}
    for key in OUTCOMES:
        report[key] = float(record.steps["info"][key][..., listener].sum(axis=0).mean())
    return report


def random_pairs(config: LanguageConfig, seed: int) -> np.ndarray:
    """Evaluation pairs ``[eval_envs, 2]``, every speaker meeting every listener."""
    return pairing_schedule(np.random.default_rng(seed), config.population, 2, config.eval_envs)


def listener_probabilities(config: LanguageConfig, population: Population,
                           episode: Record) -> np.ndarray:
    """``p(a | do(m))`` ``[S, M, A]``: each listener's move distribution at step 1 (the first
    step that hears the speaker) with every possible message ``m`` put in its inbox; a
    hierarchical listener's action there is its subgoal, so ``A`` is then its room cells."""
    messages = np.array(list(itertools.product(range(config.world.vocab_size),
                                               repeat=config.world.message_length)))
    inputs = {k: v[1] for k, v in episode.listener.items()}  # [S, ...] at step 1
    states = inputs["view"].shape[0]
    if config.agent != "flat":  # the cells a subgoal may be: the room's, not its own
        world, position = make_world(config, "train"), episode.position[1].numpy()
        maps = room_maps(inputs["view"].numpy(), position, (world.height, world.width))
        rooms = torch.as_tensor(room_cells(maps, position, inputs["view"].shape[-1]))
    probabilities = []
    with torch.no_grad():
        for message in messages:
            inbox = torch.as_tensor(message + 1, dtype=inputs["inbox"].dtype)
            trial = dict(inputs, inbox=inbox.expand(states, 1, len(message)).contiguous())
            out = population.run("listener", trial, episode.members[1, :, LISTENER])
            if config.agent == "flat":
                probabilities.append(out["move_logits"].softmax(-1))
            else:
                probabilities.append(out["cell_logits"].masked_fill(
                    ~rooms, float("-inf")).softmax(-1))
    return torch.stack(probabilities, 1).numpy()


def message_index(config: LanguageConfig, tokens: np.ndarray) -> np.ndarray:
    """Messages ``[n, L]`` as integers in ``[0, V ** L)`` (the order of listener_probabilities)."""
    weights = config.world.vocab_size ** np.arange(config.world.message_length - 1, -1, -1)
    return (tokens * weights).sum(-1)


def evaluate(config: LanguageConfig, population: Population, seed: int = 0,
             permutations: int = 1000, cross_play: bool = True) -> dict:
    """Every language figure of a population (see module doc); plain floats and lists."""
    pairs = random_pairs(config, seed)
    report: dict = {}
    train = play_evaluation(config, population, "train", pairs, seed)
    heldout = play_evaluation(config, population, "test", pairs, seed)
    for suffix, record, split in (("", train, "train"), ("_heldout", heldout, "test")):
        for key, rate in outcome_rates(record).items():
            report[key + suffix] = rate
        for key, value in random_policy(config, split, seed, len(pairs)).items():
            report[f"random_policy_{key}{suffix}"] = value
    report["chance"] = 1 / config.world.num_objects
    if not config.world.message_length:
        return report
    for mode in ("shuffled", "random"):
        report[f"success_{mode}"] = success_rate(play_evaluation(config, population, "train",
                                                                 pairs, seed, mode))
    meanings = train.speaker["goal"][0].numpy()  # [B, 2] the target each speaker saw
    messages = train.tokens[0].numpy()  # [B, L] the first utterance
    generator = np.random.default_rng(seed)
    report["topsim"] = metrics.topographic_similarity(meanings, messages)
    unique, frequent = metrics.most_frequent_messages(meanings, messages)
    structure = metrics.permutation_baseline(metrics.topographic_similarity, unique, frequent,
                                             generator, permutations)
    report.update({"topsim_unique": structure["value"], "topsim_null_p99": structure["null_p99"],
                   "topsim_percentile": structure["percentile"]})
    report["posdis"] = metrics.positional_disentanglement(meanings, messages)
    report["bosdis"] = metrics.bag_of_symbols_disentanglement(meanings, messages,
                                                              config.world.vocab_size)
    report["message_entropy"] = metrics.message_entropy(messages)["whole"]
    report["vocabulary"] = metrics.vocabulary_use(messages, config.world.vocab_size)
    goal_code = meanings[:, 0] * 100 + meanings[:, 1]
    report["signalling"] = metrics.positive_signalling(messages, goal_code)
    report["signalling_permuted"] = metrics.positive_signalling(
        messages[generator.permutation(len(messages))], goal_code)
    probabilities = listener_probabilities(config, population, train)
    count = config.world.vocab_size ** config.world.message_length
    marginal = np.bincount(message_index(config, messages), minlength=count) / len(messages)
    report["cic"] = metrics.causal_influence(probabilities, marginal)
    report["cic_uniform"] = metrics.causal_influence(probabilities, np.full(count, 1 / count))
    if cross_play:
        report["cross_play"] = cross_play_matrix(config, population, population, seed).tolist()
    return report


def cross_play_matrix(config: LanguageConfig, speakers: Population, listeners: Population,
                      seed: int) -> np.ndarray:
    """``S[i, j]``: success of speaker i (of ``speakers``) with listener j (of ``listeners``)."""
    size = config.population
    joined = _Joined(speakers, listeners)

    def success(i: int, j: int) -> float:
        members = np.tile([[i, j]], (config.eval_envs // (size * size) or 1, 1))
        return success_rate(play_evaluation(config, joined, "train", members, seed))

    return metrics.cross_play(success, size, size)


class _Joined:
    """Speakers of one population with listeners of another, for cross-play."""

    def __init__(self, speakers: Population, listeners: Population):
        self.parts = {"speaker": speakers, "listener": listeners}
        self.skill = getattr(listeners, "skill", None)  # a hierarchical listener's low level

    def run(self, role: str, inputs: dict, members) -> dict:
        """``Population.run`` of the population that supplies ``role``."""
        return self.parts[role].run(role, inputs, members)

