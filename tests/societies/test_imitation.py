"""The imitation experiment: metrics on known inputs, the episode records the learner is
trained on, resume, bad configs, and a short run whose auxiliary head learns."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from socius.envs.settings import configure
from socius.societies.imitation import train as imitation
from socius.societies.imitation.config import ImitationConfig, make_arenas
from socius.societies.imitation.evaluate import play_setting
from socius.societies.imitation.metrics import (
    action_agreement,
    following_fraction,
    normalised_return,
    prediction_accuracy,
    transmission_score,
)
from socius.societies.imitation.rollout import play_episodes

SMALL = dict(num_envs=32, minibatches=2, hidden=32, env_steps=32 * 40 * 4,
             eval_every=32 * 40 * 2, eval_envs=32, world={"max_cycles": 40})


def small(*overrides: str, **fields) -> ImitationConfig:
    """The small config with ``fields`` and ``key=value`` overrides applied."""
    return configure(ImitationConfig, {**SMALL, **fields}, overrides)


def test_normalised_return_and_transmission_on_known_values():
    assert normalised_return(-2.0, -2.0, 8.0) == 0.0
    assert normalised_return(8.0, -2.0, 8.0) == 1.0
    assert normalised_return(3.0, -2.0, 8.0) == pytest.approx(0.5)
    assert normalised_return(-4.0, -2.0, 8.0) == pytest.approx(-0.2)  # worse than chance
    with pytest.raises(ValueError, match="expert_return must exceed base_return"):
        normalised_return(1.0, 2.0, 2.0)
    assert transmission_score(6.0, 1.0, 10.0) == pytest.approx(0.5)
    assert transmission_score(1.0, 1.0, 10.0) == 0.0
    with pytest.raises(ValueError, match="expert_return must be > 0"):
        transmission_score(1.0, 0.0, 0.0)


def test_following_and_agreement_on_known_steps():
    distance = np.array([[1, 5], [4, 4], [3, 0], [6, 6]])  # [T=4, E=2]
    visible = np.array([[False, False], [True, False], [False, False], [False, False]])
    assert following_fraction(distance, visible, within=1) == 0.75  # steps 0, 1, 2
    assert following_fraction(distance, visible, within=1,
                              alive=np.array([True, True, False, False])) == 1.0
    with pytest.raises(ValueError, match="must match"):
        following_fraction(distance, visible[:, :1], within=1)
    assert action_agreement([1, 2, 3, 4], [1, 0, 3, 0]) == 0.5
    assert action_agreement([1, 2, 3, 4], [1, 0, 3, 0], alive=[True, False, True, False]) == 1
    logits = np.eye(5)[[1, 2, 3]]  # predicts moves 1, 2, 3
    assert prediction_accuracy(logits, np.array([1, 0, 3]), np.array([True, True, False])) == 0.5


def test_with_and_without_experts_share_layouts_and_the_expert_beats_chance():
    config = small()
    together = play_setting(config, "with", "expert", seed=3)
    alone = play_setting(config, "alone", "expert", seed=3)
    walker = play_setting(config, "with", "random", seed=3)
    # Same start cells and the same tile layout: only the experts are taken away.
    assert torch.equal(together.observation["position"][0], alone.observation["position"][0])
    tiles = 3  # channel of goal tiles in the view
    assert torch.equal(together.observation["view"][0][:, tiles],
                       alone.observation["view"][0][:, tiles])
    assert together.expert_distance.shape[-1] == 2 and alone.expert_distance.shape[-1] == 0
    assert together.rewards.sum(0).mean() > walker.rewards.sum(0).mean() + 3
    assert action_agreement(together.moves, together.expert_moves) == 1.0


def test_peer_targets_are_the_moves_the_agents_in_view_make_next():
    config = small()
    episodes = play_episodes(make_arenas(config, 16), "random", episode_seed=5)
    others = episodes.observation["others"]  # [T, B, M, 6]
    checked = 0
    for t in range(others.shape[0] - 1):
        for b in range(others.shape[1]):
            for slot in np.flatnonzero(episodes.peer_present[t, b].numpy()):
                agent = others[t, b, slot, 3]
                later = (others[t + 1, b, :, 3] == agent) & (others[t + 1, b, :, 0] > 0)
                if later.any():  # still in view: its "previous move" column is that move
                    assert others[t + 1, b, later.nonzero()[0, 0], 5] == \
                        episodes.peer_moves[t, b, slot] + 1
                    checked += 1
    assert checked > 100


def test_bad_config_values_name_the_field():
    for field, value, message in [("method", "dagger", "method"),
                                  ("world.num_agents", 0, "num_agents"),
                                  ("expert_dropout", 1.0, "expert_dropout"),
                                  ("aux_weight", -0.5, "aux_weight"),
                                  ("num_envs", 31, "num_envs"),
                                  ("env_steps", 10, "env_steps")]:
        with pytest.raises(ValueError, match=message):
            small(f"{field}={value}")
    with pytest.raises(ValueError, match="world.num_agents"):
        small("world.num_agents=1", "method=bc")


def test_expert_dropout_trains_in_worlds_with_and_without_experts():
    config = small(expert_dropout=0.25)
    arenas = make_arenas(config, config.num_envs, dropout=config.expert_dropout)
    assert [(count, world.num_agents) for world, count in arenas] == [(24, 3), (8, 1)]


def test_same_seed_same_rows_and_a_killed_run_resumes_row_for_row(tmp_path):
    config = small()
    whole = imitation.train(config, tmp_path / "whole", progress=False)
    imitation.train(config, tmp_path / "cut", progress=False, stop_after=2)
    assert len((tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()) == 1
    resumed = imitation.train(config, tmp_path / "cut", progress=False)
    assert len(whole) == 2 and resumed == whole
    again = imitation.train(config, progress=False)
    assert again == whole
    with pytest.raises(ValueError, match="another config"):
        imitation.train(dataclasses.replace(config, seed=1), tmp_path / "whole",
                        progress=False)


def test_cli_runs_resumes_and_plots_by_the_run_s_experiment(tmp_path, capsys):
    from socius.societies.cli import main

    out = tmp_path / "run"
    settings = [f"{k}={v}" for k, v in SMALL.items() if k != "world"] + ["world.max_cycles=40"]
    assert main(["run", "imitation", "--out", str(out), "--set", *settings]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["env_steps"] == SMALL["env_steps"]
    assert (out / "experiment.txt").read_text().strip() == "imitation"
    for name in ("curves.png", "evaluation.json", "checkpoint.pt"):
        assert (out / name).exists()
    assert main(["plot", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["plot"].endswith("curves.png")


def test_the_auxiliary_head_learns_to_predict_the_experts_moves():
    """The issue's CI claim: after a short run the head predicts the experts' next moves
    well above the majority-move baseline, while the same learner without the loss
    (an untrained head) does not."""
    config = configure(ImitationConfig, {"num_envs": 64, "minibatches": 2, "hidden": 64,
                                         "env_steps": 64 * 50 * 12, "eval_every": 64 * 50 * 12,
                                         "eval_envs": 128, "world": {"max_cycles": 50}})
    trained = imitation.train(config, progress=False)[-1]
    control = imitation.train(dataclasses.replace(config, aux_weight=0.0), progress=False)[-1]
    # Measured at this budget on goal_cycle_v1: 0.33 against a majority baseline of 0.23;
    # the control 0.17. (Predicting a repeat of the previous move scores 0.44: the head
    # does not read previous moves, on purpose, so it can only learn from the memory.)
    assert trained["peer_accuracy_with"] >= trained["peer_majority_with"] + 0.06
    assert trained["peer_accuracy_with"] >= control["peer_accuracy_with"] + 0.1
    assert control["peer_accuracy_with"] <= control["peer_majority_with"] + 0.05


def test_reward_input_lets_the_memory_read_the_previous_reward():
    config = small("reward_input=true")
    assert config.reward_input is True
    with pytest.raises(ValueError, match="reward_input"):
        small("reward_input=maybe")
    episodes = play_episodes(make_arenas(config, 4), "random", episode_seed=1)
    observation = {k: v[0] for k, v in episodes.observation.items()}
    scored = dict(observation, previous_reward=torch.ones(4))
    for reads, learner in ((True, imitation.make_learner(config, torch.Generator())),
                           (False, imitation.make_learner(SMALL_CONFIG, torch.Generator()))):
        plain, _ = learner(observation)
        after_a_point, _ = learner(scored)
        assert reads != torch.equal(plain["move_logits"], after_a_point["move_logits"])


SMALL_CONFIG = small()


def test_penalty_warm_up_scales_only_the_penalties():
    config = small(env_steps=32 * 40 * 10, penalty_warmup=0.5)
    assert [imitation.penalty_scale(config, r) for r in (0, 1, 4, 5, 9)] == [0, 0.2, 0.8, 1, 1]
    episodes = play_episodes(make_arenas(config, 8), "random", episode_seed=2)
    scaled = imitation.scale_penalty(episodes, 0.25)
    wrong, right = episodes.rewards < 0, episodes.rewards > 0
    assert wrong.any() and right.any()
    assert torch.equal(scaled.rewards[wrong], episodes.rewards[wrong] * 0.25)
    assert torch.equal(scaled.rewards[~wrong], episodes.rewards[~wrong])


def test_bptt_chunks_start_from_the_state_the_whole_episode_reaches():
    config = small("bptt=10")
    generator = torch.Generator().manual_seed(0)
    learner = imitation.make_learner(config, generator)
    arenas = make_arenas(config, config.num_envs)
    episodes = play_episodes(arenas, "learner", 0, learner, generator)
    steps, batch = episodes.rewards.shape
    chunked = imitation.chunks(episodes, 10)
    assert chunked.rewards.shape == (10, steps // 10 * batch)
    # Column c * B + b is chunk c of episode b.
    assert torch.equal(chunked.rewards[:, 2 * batch + 5], episodes.rewards[20:30, 5])
    states = imitation.chunk_states(learner, episodes, 10)
    with torch.no_grad():
        _, reached = learner.forward_sequence(
            {k: v[:20] for k, v in episodes.observation.items()},
            learner.initial_state((batch,)))
    torch.testing.assert_close(states[2 * batch:3 * batch], reached)
    assert float(states[:batch].abs().sum()) == 0  # every episode starts from zero memory
    # An update over chunks runs and moves the weights.
    before = [p.detach().clone() for p in learner.parameters()]
    optimizer = torch.optim.Adam(learner.parameters(), lr=1e-3)
    report = imitation.update(config, learner, optimizer, episodes, generator)
    assert np.isfinite(list(report.values())).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.parameters()))
    with pytest.raises(ValueError, match="'bptt'"):
        small("bptt=7")
