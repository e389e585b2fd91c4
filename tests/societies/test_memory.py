"""The t-maze needs memory: the recurrent clone beats its memoryless control."""

from __future__ import annotations

from socius.societies.navigation.memory import MemoryRunConfig, run


def test_recurrent_clone_remembers_the_cue_and_the_control_cannot(one_torch_thread):
    result = run(MemoryRunConfig(length=4, episodes=128, steps=400, eval_episodes=100, seed=1))
    assert result["memory"] >= 0.9, result
    assert 0.3 <= result["no_memory"] <= 0.7, result
