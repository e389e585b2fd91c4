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

SMALL_ROOM = ["world.room_size=3", "world.view_radius=2", "world.num_objects=2"]
"""A 3x3 room with K = 2 objects, seen whole."""


def tiny(**fields) -> LanguageConfig:
    """A small config: 2 speakers and 2 listeners on 16 environments in a small room."""
    return configure(LanguageConfig, {"num_envs": 16, "population": 2, "eval_envs": 16,
                                      **fields}, SMALL_ROOM)


def one_round(config):
    world = language.make_world(config, "train")
    generator = torch.Generator().manual_seed(0)
    population = language.make_population(config, world, generator)
    members = language.schedule(config, np.random.default_rng(0))
    episode = language.play_round(config, world, population, 0, members, generator)
    return population, episode


def speaker_gradient(config, term="listener"):
    population, episode = one_round(config)
    advantage, returns = language.advantages(config, episode)
    # Rewarded episodes make the listener's advantage non-zero.
    advantage = advantage + torch.randn(advantage.shape, generator=torch.Generator().manual_seed(1))
    losses = language.ppo_losses(config, population, episode, advantage, returns,
                                 torch.arange(config.num_envs))
    losses[term].backward()
    return sum(float(p.grad.abs().sum()) for role_index in range(config.population)
               for p in population.member("speaker", role_index).parameters()
               if p.grad is not None)


@pytest.mark.parametrize("critic", ["independent", "central"])
def test_listener_loss_reaches_the_speaker_only_through_the_differentiable_channel(critic):
    assert speaker_gradient(tiny(channel="gumbel", critic=critic)) > 0
    assert speaker_gradient(tiny(channel="rl", critic=critic)) == 0


def test_only_the_policy_term_trains_the_speaker_through_the_message():
    config = tiny(channel="gumbel", signalling_weight=0.0)
    assert speaker_gradient(config, "listener") > 0
    assert speaker_gradient(config, "move_entropy") == 0
    # The speaker's own value head still learns from the value loss; nothing else of it.
    population, episode = one_round(config)
    advantage, returns = language.advantages(config, episode)
    losses = language.ppo_losses(config, population, episode, advantage, returns,
                                 torch.arange(config.num_envs))
    losses["value"].backward()
    speaker = population.member("speaker", 0)
    assert speaker.heads.tokens.weight.grad is None or float(
        speaker.heads.tokens.weight.grad.abs().sum()) == 0


def test_central_critic_reads_the_target_and_learns_from_the_value_loss():
    config = tiny(critic="central")
    population, episode = one_round(config)
    assert len(population.config.roles) == 3
    advantage, returns = language.advantages(config, episode)
    losses = language.ppo_losses(config, population, episode, advantage, returns,
                                 torch.arange(config.num_envs))
    losses["value"].backward()
    critic_gradient = sum(float(p.grad.abs().sum()) for p in
                          population.member("critic", 0).parameters() if p.grad is not None)
    listener_gradient = sum(float(p.grad.abs().sum()) for p in
                            population.member("listener", 0).parameters() if p.grad is not None)
    assert critic_gradient > 0 and listener_gradient == 0


def test_positive_signalling_makes_each_speaker_name_its_goals_apart():
    config = tiny(population=1, signalling_scope="member")
    population, episode = one_round(config)
    speaker = population.member("speaker", 0)
    optimizer = torch.optim.Adam(speaker.parameters(), lr=1e-3)
    before = float(language.signalling(config, population, episode.speaker, np.array([0])).detach())
    for _ in range(200):
        optimizer.zero_grad()
        (-language.signalling(config, population, episode.speaker, np.array([0]))).backward()
        optimizer.step()
    after = float(language.signalling(config, population, episode.speaker, np.array([0])).detach())
    goals = len(np.unique(episode.speaker["goal"][0].numpy(), axis=0))
    # A code that tells every goal apart reaches log(goals); a gradient-trained speaker
    # saturates a little short of it, with a few goals sharing a message.
    assert after > before + 1.0
    assert after > 0.7 * np.log(goals)


def test_relaxed_inbox_has_the_value_the_listener_heard():
    config = tiny()
    population, episode = one_round(config)
    logits = torch.randn(*episode.tokens.shape, config.world.vocab_size, requires_grad=True)
    relaxed = language.relaxed_inbox(config, logits.log_softmax(-1), episode.tokens,
                                     episode.noise, episode.listener["inbox"])
    heard = episode.listener["inbox"].long()
    # Steps after the listener finished still carry the speaker's messages, so compare all.
    assert torch.equal(relaxed.argmax(-1), heard)
    assert torch.allclose(relaxed.sum(-1), torch.ones_like(relaxed.sum(-1)))
    relaxed[1:].sum().backward()
    assert logits.grad.abs().sum() > 0


def test_bad_config_values_name_the_key():
    with pytest.raises(ValueError, match="'channel'"):
        LanguageConfig(channel="telepathy")
    with pytest.raises(ValueError, match="'num_envs'"):
        LanguageConfig(num_envs=10, minibatches=4)
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
    first, second = population.member("speaker", 0), population.member("speaker", 1)
    optimizer = torch.optim.Adam(first.parameters(), lr=1e-2)
    for _ in range(100):  # the first speaker learns a code of its own
        optimizer.zero_grad()
        (-language.signalling(member, population, episode.speaker, np.array([0]))).backward()
        optimizer.step()

    def both_scopes():
        with torch.no_grad():
            return [float(language.signalling(config, population, episode.speaker,
                                              np.array([0, 1]))) for config in (member, pooled)]

    second.load_state_dict(first.state_dict())
    alike = both_scopes()
    # The same code with colours 0 and 1 (and shapes 0 and 1) swapped: the same messages,
    # naming other goals, so a listener who does not know its speaker is confused.
    values = second.encoders["goal"].values.weight
    with torch.no_grad():
        values[[0, 1]] = values[[1, 0]].clone()
    conflicting = both_scopes()
    assert alike[1] == pytest.approx(alike[0], abs=1e-4)
    assert conflicting[0] == pytest.approx(alike[0], abs=1e-4)  # each code is as good alone
    assert conflicting[1] < conflicting[0] - 0.3
