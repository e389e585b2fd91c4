"""The t-maze needs memory: the recurrent clone beats its memoryless control."""

from __future__ import annotations

from socius.envs.settings import configure
from socius.societies.navigation.memory import MemoryRunConfig, train


def test_recurrent_clone_remembers_the_cue_and_the_control_cannot(tmp_path, one_torch_thread):
    config = configure(MemoryRunConfig, {"episodes": 128, "steps": 400, "eval_episodes": 100,
                                         "seed": 1, "world": {"size": 4}})
    (result,) = train(config, tmp_path, progress=False)
    assert result["memory"] >= 0.9, result
    assert 0.3 <= result["no_memory"] <= 0.7, result
