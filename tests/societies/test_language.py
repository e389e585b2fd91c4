"""Language trainer: the differentiable channel's gradient, resuming a killed run, errors."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from socius.envs.settings import configure
from socius.societies.language import train as language
from socius.societies.language.config import LanguageConfig

SMALL_ROOM = ["world.room_size=3", "world.view_radius=2", "world.num_objects=2",
              "world.contrast=none"]
"""A 3x3 room with K = 2 objects, seen whole (too few for contrast rooms)."""


def tiny(**fields) -> LanguageConfig:
    """A small config: 2 speakers and 2 listeners on 16 environments in a small room."""
    return configure(LanguageConfig, {"num_envs": 16, "population": 2, "eval_envs": 16,
                                      **fields}, SMALL_ROOM)


def one_round(config, steps=None):
    world = language.make_world(config, "train")
    generator = torch.Generator().manual_seed(0)
    population = language.make_population(config, world, generator)
    pairing = np.random.default_rng(0)
    carry = language.start_stream(config, world, language.schedule(config, pairing))
    episode, _ = language.play(config, population, carry, steps or config.rollout_steps,
                               generator, language.draw_members(config, pairing))
    return population, episode


def gradient(population, role, name=None):
    """Sum of |grad| over a role's stacked tensors (or the one called ``name``)."""
    parameters, _ = population.stacked_state(role)
    return sum(float(p.grad.abs().sum()) for key, p in parameters.items()
               if p.grad is not None and name in (None, key))


def speaker_gradient(config, term="listener"):
    population, episode = one_round(config)
    advantage, returns = language.advantages(config, episode)
    # Rewarded episodes make the listener's advantage non-zero.
    advantage = advantage + torch.randn(advantage.shape, generator=torch.Generator().manual_seed(1))
    losses = language.ppo_losses(config, population, episode, advantage, returns,
                                 torch.arange(config.num_envs), None)
    losses[term].backward()
    return gradient(population, "speaker")


def flat(inputs):
    """Per-step inputs ``[T, B, ...]`` as ``[T * B, ...]``."""
    return {key: value.flatten(0, 1) for key, value in inputs.items()}


def signalling_of(config, population, speaker, members):
    """The signalling bias of ``members`` on the goals in ``speaker`` inputs."""
    inputs, rows = language.signalling_batch(config, speaker, members)
    logits = population.run("speaker", inputs, rows)["token_logits"]
    return language.signalling(config, logits, len(rows) // len(
        np.unique(speaker["goal"].numpy(), axis=0)))


@pytest.mark.parametrize("critic", ["independent", "central"])
def test_listener_loss_reaches_the_speaker_only_through_the_differentiable_channel(critic):
    assert speaker_gradient(tiny(channel="gumbel", critic=critic)) > 0
    assert speaker_gradient(tiny(channel="rl", critic=critic)) == 0


def test_only_the_policy_term_trains_the_speaker_through_the_message():
    config = tiny(channel="gumbel", signalling_weight=0.0)
    assert speaker_gradient(config, "listener") > 0
    assert speaker_gradient(config, "move_entropy") == 0
    assert speaker_gradient(config, "value") == 0


def test_the_speaker_learns_from_its_own_return_once_per_episode():
    config = tiny(channel="rl", signalling_weight=0.0)
    population, episode = one_round(config, steps=3 * config.world.max_cycles)
    decisions = episode.decisions
    # Each finished episode gave one decision; its return is the episode's discounted sum
    # of rewards from its first step (lambda = 1): gamma ** (steps - 1) for a success, 0 for
    # a wrong object, and the timeout cost discounted from the episode's last step.
    assert len(decisions.members) == episode.episodes >= config.num_envs
    successes = decisions.returns > 0
    timeout = -config.world.timeout_cost * config.gamma ** (config.world.max_cycles - 1)
    assert torch.all((decisions.returns == 0) | (decisions.returns > config.gamma ** 10)
                     | torch.isclose(decisions.returns, torch.tensor(timeout)))
    assert float(successes.float().mean()) == pytest.approx(language.success_rate(episode))
    advantage, returns = language.advantages(config, episode)
    losses = language.ppo_losses(config, population, episode, advantage, returns,
                                 torch.arange(config.num_envs), torch.arange(8))
    losses["speaker"].backward()
    assert gradient(population, "speaker", "heads.tokens.weight") > 0
    assert gradient(population, "listener") == 0


def test_worlds_reset_themselves_so_no_step_is_wasted():
    config = tiny()
    population, episode = one_round(config, steps=2 * config.world.max_cycles)
    assert bool(episode.alive.all())  # every recorded step is a live step
    ended = episode.ends.sum(0)  # [B] episodes each world finished
    assert int(ended.min()) >= 2  # at least two whole episodes of max_cycles each
    assert int(episode.ends.sum()) == episode.episodes
    # After an episode ends, the next step starts another with silence in the inbox and
    # a fresh speaker decision (the speaker's inputs may change at that step only).
    step, env = episode.ends[:-1].nonzero(as_tuple=True)
    assert bool((episode.listener["inbox"][step + 1, env] == 0).all())
    same_episode = ~episode.ends[:-1]
    assert torch.equal(episode.speaker["goal"][1:][same_episode],
                       episode.speaker["goal"][:-1][same_episode])


def test_central_critic_reads_the_target_and_learns_from_the_value_loss():
    config = tiny(critic="central")
    population, episode = one_round(config)
    assert len(population.config.roles) == 3
    advantage, returns = language.advantages(config, episode)
    losses = language.ppo_losses(config, population, episode, advantage, returns,
                                 torch.arange(config.num_envs), None)
    losses["value"].backward()
    assert gradient(population, "critic") > 0 and gradient(population, "listener") == 0


def test_positive_signalling_makes_each_speaker_name_its_goals_apart():
    config = tiny(population=1, signalling_scope="member")
    population, episode = one_round(config)
    speaker = flat(episode.speaker)
    optimizer = torch.optim.Adam(population.stacked_state("speaker")[0].values(), lr=1e-3)
    before = float(signalling_of(config, population, speaker, np.array([0])).detach())
    for _ in range(200):
        optimizer.zero_grad()
        (-signalling_of(config, population, speaker, np.array([0]))).backward()
        optimizer.step()
    after = float(signalling_of(config, population, speaker, np.array([0])).detach())
    goals = len(np.unique(speaker["goal"].numpy(), axis=0))
    # A code that tells every goal apart reaches log(goals); a gradient-trained speaker
    # saturates a little short of it, with a few goals sharing a message.
    assert after > before + 1.0
    assert after > 0.7 * np.log(goals)


def test_relaxed_inbox_has_the_value_the_listener_heard():
    config = tiny()
    population, episode = one_round(config)
    tokens, noise = episode.tokens.flatten(0, 1), episode.noise.flatten(0, 1)
    stored = episode.listener["inbox"].flatten(0, 1)
    logits = torch.randn(*tokens.shape, config.world.vocab_size, requires_grad=True)
    relaxed = language.relaxed_inbox(config, logits.log_softmax(-1), tokens, noise, stored)
    assert torch.equal(relaxed.argmax(-1), stored.long())
    assert torch.allclose(relaxed.sum(-1), torch.ones_like(relaxed.sum(-1)))
    relaxed.sum().backward()
    assert logits.grad.abs().sum() > 0
    heard = (stored > 0).all(-1).squeeze(-1)
    assert bool(heard.any()) and bool((~heard).any())  # first steps hear silence
    assert float(logits.grad[~heard].abs().sum()) == 0


def test_bad_config_values_name_the_key():
    with pytest.raises(ValueError, match="'channel'"):
        LanguageConfig(channel="telepathy")
    with pytest.raises(ValueError, match="'num_envs'"):
        LanguageConfig(num_envs=10, minibatches=4)
    with pytest.raises(ValueError, match="'rollout_steps' must be an integer >= 1"):
        configure(LanguageConfig, {}, ["rollout_steps=0"])
    with pytest.raises(ValueError, match="unknown config key 'rouns'"):
        configure(LanguageConfig, {}, ["rouns=3"])
    with pytest.raises(ValueError, match=r"unknown config key 'world.rom_size'.*'world.room_size'"):
        configure(LanguageConfig, {}, ["world.rom_size=3"])
    with pytest.raises(ValueError, match="'rounds' must be int"):
        configure(LanguageConfig, {}, ["rounds=many"])
    with pytest.raises(ValueError, match="'world.view_radius' must be at least"):
        configure(LanguageConfig, {}, ["world.room_size=7"])
    with pytest.raises(ValueError, match="'world' holds settings"):
        configure(LanguageConfig, {}, ["world=3"])
    config = configure(LanguageConfig, {"channel": "rl"},
                       ["world.held_out=[[0, 0]]", "rounds=7"])
    assert config.world.held_out == ((0, 0),) and config.rounds == 7 and config.channel == "rl"


def _run(out, extra=()):
    settings = ["rounds=8", "eval_every=2", "num_envs=32", "eval_envs=16", "population=2",
                *SMALL_ROOM]
    command = [sys.executable, "-m", "socius.societies.cli", "run", "language", "--out",
               str(out), "--set", *settings, *extra]
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_killed_run_resumes_to_the_same_metrics_row_for_row(tmp_path):
    whole = _run(tmp_path / "whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    killed = _run(tmp_path / "killed")
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.time() + 600
    while not checkpoint.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    rows_at_kill = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    assert 1 <= len(rows_at_kill) < 4
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "socius.societies.cli", "resume",
                    str(tmp_path / "killed")], check=True, env=environment,
                   stdout=subprocess.DEVNULL, timeout=600)
    expected = [json.loads(line) for line in
                (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(line) for line in
               (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert len(expected) == 4 and resumed == expected
    for name in ("evaluation.json", "curves.png", "episodes.json"):
        assert (tmp_path / "killed" / name).exists()


def test_corrupt_checkpoint_is_a_clear_error_and_is_left_in_place(tmp_path):
    from socius.societies.runs.directory import RunDirectory

    run = RunDirectory.create(tmp_path / "run", LanguageConfig())
    (run.path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint .* is corrupt"):
        run.load_checkpoint()
    assert (run.path / "checkpoint.pt").read_bytes() == b"not a checkpoint"
    with pytest.raises(ValueError, match="already holds a run"):
        RunDirectory.create(tmp_path / "run", LanguageConfig())


@pytest.mark.slow  # about a minute of training; the walker listener's test guards the channel
def test_a_pair_learns_to_talk_well_above_chance():
    """The issue's CI version: one pair, K = 2, a small budget. Greedy success must clear
    chance (50%) by 25 points, and shuffling the messages must undo most of the gain."""
    config = configure(LanguageConfig, {"population": 1, "num_envs": 256, "rounds": 150,
                                        "eval_every": 150, "eval_envs": 256,
                                        "move_entropy": 0.01, "seed": 0}, SMALL_ROOM)
    report = language.train(config, progress=False)[-1]
    assert report["success"] >= 0.5 + 0.25
    assert report["success_shuffled"] <= report["success"] - 0.2
    assert report["cic"] > 0.1


def test_population_signalling_penalises_a_message_that_means_different_goals():
    member = tiny(signalling_scope="member")
    pooled = dataclasses.replace(member, signalling_scope="population")
    population, episode = one_round(member)
    speaker = flat(episode.speaker)
    # Keep the goals whose swap (values 0 <-> 1 in colour and shape) is also a goal, so
    # the swapped code below names the same set of goals.
    swap = torch.tensor([1, 0, 2, 3])
    goals = {tuple(goal) for goal in speaker["goal"].tolist()}
    closed = torch.tensor([tuple(swap[torch.tensor(goal)].tolist()) in goals
                           for goal in speaker["goal"].tolist()])
    speaker = {key: value[closed] for key, value in speaker.items()}
    assert len({tuple(goal) for goal in speaker["goal"].tolist()}) >= 4
    weights = population.stacked_state("speaker")[0]
    optimizer = torch.optim.Adam(weights.values(), lr=1e-2)
    for _ in range(100):  # the first speaker learns a code of its own
        optimizer.zero_grad()
        (-signalling_of(member, population, speaker, np.array([0]))).backward()
        optimizer.step()

    def both_scopes():
        with torch.no_grad():
            return [float(signalling_of(config, population, speaker, np.array([0, 1])))
                    for config in (member, pooled)]

    with torch.no_grad():
        for value in weights.values():
            value[1] = value[0]
    alike = both_scopes()
    # The same code with colours 0 and 1 (and shapes 0 and 1) swapped: the same messages,
    # naming other goals, so a listener who does not know its speaker is confused.
    values = weights["encoders.goal.values.weight"]
    with torch.no_grad():
        values[1, [0, 1]] = values[1, [1, 0]].clone()
    conflicting = both_scopes()
    assert alike[1] == pytest.approx(alike[0], abs=1e-4)
    assert conflicting[0] == pytest.approx(alike[0], abs=1e-4)  # each code is as good alone
    assert conflicting[1] < conflicting[0] - 0.3


def test_replacement_refills_a_seat_and_restarts_its_adam_state(tmp_path):
    config = tiny(rounds=4, eval_every=4, replace_every=2, critic="central")
    language.train(config, tmp_path, progress=False)
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    # Round 2 replaced seat 0 of every role (speaker, listener, critic).
    assert checkpoint["population"]["generation"].tolist() == [[1, 0], [1, 0], [1, 0]]
    steps = [state["step"] for state in checkpoint["optimizer"]["state"].values()]
    # Seat 0 restarted its count at round 2 (2 rounds x 16 updates since); seat 1 did not.
    assert all(step.tolist() == [32.0, 64.0] for step in steps)


def test_a_checkpoint_from_before_the_stream_is_refused_and_left_on_disk(tmp_path):
    config = tiny(rounds=2, eval_every=1)
    language.train(config, tmp_path, progress=False, stop_after=1)
    path = tmp_path / "checkpoint.pt"
    old = torch.load(path, weights_only=False)
    del old["carry"]
    torch.save(old, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="carry"):
        language.train(config, tmp_path, progress=False)
    assert path.read_bytes() == before
