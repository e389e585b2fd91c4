"""The bound tables of the fair tasks: scripted policies that lack the capability under
test must stay below the targets, and those that have it must clear them."""

from __future__ import annotations

import pytest

from socius.envs.goal_cycle_v1 import GoalCycleV1Config
from socius.societies.imitation import bounds as cycle_bounds
from socius.societies.language import bounds as code_bounds


def test_only_a_code_that_names_both_attributes_wins_held_out_rooms():
    table = code_bounds.bound_table(seeds=(0,), episodes=300)
    assert table["compositional"]["success_low"] >= 0.95
    assert table["colour"]["success_high"] <= 0.60 and table["colour"]["success"] <= 0.55
    assert table["shape"]["success_high"] <= 0.60 and table["shape"]["success"] <= 0.55
    chance = table["chance"]["success"]
    assert table["mute"]["success_low"] <= chance <= table["mute"]["success_high"]
    # Failures are wrong picks, not timeouts: the scripted listeners always commit.
    assert all(table[code]["timeout"] < 0.02 for code in ("compositional", "colour", "mute"))


def test_a_colour_code_wins_most_rooms_with_random_distractors():
    # Why the held-out rooms were changed: random distractors rarely share the colour.
    config = code_bounds.BOUND_WORLD.__class__(**{**code_bounds.BOUND_WORLD.__dict__,
                                                  "contrast": "none"})
    table = code_bounds.bound_table(config, seeds=(0,), episodes=300)
    assert table["colour"]["success"] > 0.8


def test_following_the_experts_beats_the_best_solo_policy_at_the_defaults():
    config = GoalCycleV1Config()
    table = cycle_bounds.bound_table(config, seeds=(0, 1, 2), episodes=60)
    summary = table["summary"]
    assert summary["solo_ceiling"] == "elimination searcher"
    assert summary["margin"] >= 0.25 and summary["apart"]
    # Neither random walking nor searching alone comes near the experts.
    assert table["random walker"]["high"] < 0 < table["elimination searcher"]["low"]


def test_without_experts_in_the_world_following_is_impossible():
    config = GoalCycleV1Config(num_agents=1)
    assert "follower" not in cycle_bounds.seat_policies(config)


def test_the_bounds_command_prints_the_table_and_refuses_bad_settings(capsys):
    from socius.societies.cli import main

    assert main(["bounds", "referential_v0", "--episodes", "40", "--seeds", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| compositional |" in printed and "chance (1/K): 0.333" in printed
    with pytest.raises(SystemExit):
        main(["bounds", "goal_cycle_v1", "--set", "num_tiles=1"])
    assert "num_tiles" in capsys.readouterr().err
