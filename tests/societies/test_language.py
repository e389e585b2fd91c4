"""Language trainer: the differentiable channel's gradient, resuming a killed run, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from socius.societies import language
from socius.societies.language import LanguageConfig
from socius.societies.runs import apply_overrides

TINY = dict(num_envs=16, population=2, room_size=3, num_objects=2, eval_envs=16)


def one_round(config):
    world = language.make_world(config, "train")
    generator = torch.Generator().manual_seed(0)
    population = language.make_population(config, world, generator)
    members = language.schedule(config, np.random.default_rng(0))
    episode = language.play_round(config, world, population, 0, members, generator)
    return population, episode


def speaker_gradient(config):
    population, episode = one_round(config)
    advantage, returns = language.advantages(config, episode)
    # Rewarded episodes make the listener's advantage non-zero.
    advantage = advantage + torch.randn(advantage.shape, generator=torch.Generator().manual_seed(1))
    losses = language.ppo_losses(config, population, episode, advantage, returns,
                                 torch.arange(config.num_envs))
    losses["listener"].backward()
    return sum(float(p.grad.abs().sum()) for role_index in range(config.population)
               for p in population.member("speaker", role_index).parameters()
               if p.grad is not None)


def test_listener_loss_reaches_the_speaker_only_through_the_differentiable_channel():
    assert speaker_gradient(LanguageConfig(**TINY, channel="gumbel")) > 0
    assert speaker_gradient(LanguageConfig(**TINY, channel="rl")) == 0


def test_relaxed_inbox_has_the_value_the_listener_heard():
    config = LanguageConfig(**TINY)
    population, episode = one_round(config)
    logits = torch.randn(*episode.tokens.shape, config.vocab_size, requires_grad=True)
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
        apply_overrides(LanguageConfig, {}, ["rouns=3"])
    with pytest.raises(ValueError, match="'rounds' must be int"):
        apply_overrides(LanguageConfig, {}, ["rounds=many"])
    config = apply_overrides(LanguageConfig, {"channel": "rl"},
                             ["held_out=[[0, 0]]", "rounds=7"])
    assert config.held_out == ((0, 0),) and config.rounds == 7 and config.channel == "rl"


def _run(out, extra=()):
    settings = ["rounds=8", "eval_every=2", "num_envs=32", "eval_envs=16", "population=2",
                "room_size=3", "num_objects=2"]
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
    from socius.societies.runs import RunDirectory

    run = RunDirectory.create(tmp_path / "run", LanguageConfig())
    (run.path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint .* is corrupt"):
        run.load_checkpoint()
    assert (run.path / "checkpoint.pt").read_bytes() == b"not a checkpoint"
    with pytest.raises(ValueError, match="already holds a run"):
        RunDirectory.create(tmp_path / "run", LanguageConfig())
