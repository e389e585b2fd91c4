"""Small runs of every experiment write the saved ``metrics.jsonl``, bit for bit, at one
torch thread: refactors change no behaviour.

The files in ``tests/societies/before/`` were written by the code before the house move
(commit "Saved the metrics of small runs..."); each test here runs the same config through
today's code and compares the rows exactly (wall-clock keys, which were never
reproducible, aside). Where an issue changed an experiment's maths on purpose, its rows
were saved again by the commit that changed them: ``language-engine.jsonl`` (the engine
issue: worlds that reset themselves, the speaker's own return, per-member clipping); the
language test pins the referential task as it was then (the fair-tasks issue changed it).
The imitation learner's memory runs as one fused GRU since that issue: the same maths,
summed in another order, so its losses match the saved ones to float rounding only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

BEFORE = Path(__file__).parent / "before"
CLOCK_KEYS = {"seconds"}
ACROSS_MACHINES = (1e-4, 1e-6)
"""Relative and absolute tolerance of rows saved on another machine (read on an AMD EPYC,
whose float kernels round differently: by 1.4e-7 on a loss of 1.6e-4, by 3e-5 on a
gcrl loss of 11.7; the old code reads the same on it)."""


def saved(name: str) -> list[dict]:
    """The rows the code wrote before the move."""
    return [json.loads(line) for line in (BEFORE / f"{name}.jsonl").read_text().splitlines()]


def written(run_dir: Path) -> list[dict]:
    """The rows a run wrote now, without wall-clock keys."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    return [{k: v for k, v in row.items() if k not in CLOCK_KEYS} for row in rows]


def same_to_rounding(rows: list[dict], expected: list[dict], rel: float = 1e-6,
                     absolute: float = 1e-7) -> bool:
    """Equal rows, floats equal up to float32 rounding (a fused kernel's sum order, or
    another CPU's kernels: rows saved on one machine differ in their last digits on
    another, and a loss that cancels to near zero differs in more of them)."""
    if len(rows) != len(expected):
        return False
    for row, want in zip(rows, expected):
        if row.keys() != want.keys():
            return False
        for key, value in row.items():
            if isinstance(value, float) and isinstance(want[key], float):
                if math.isnan(value) and math.isnan(want[key]):  # an empty bucket both times
                    continue
                if value != pytest.approx(want[key], rel=rel, abs=absolute):
                    return False
            elif value != want[key]:
                return False
    return True


def test_language_rows_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.language.config import LanguageConfig
    from socius.societies.language.train import train

    config = configure(LanguageConfig, {"num_envs": 16, "population": 2, "eval_envs": 16,
                                        "rounds": 4, "eval_every": 2},
                       ["world.room_size=3", "world.view_radius=2", "world.num_objects=2",
                        # The task the rows were saved on: before the fair-tasks issue.
                        "world.max_cycles=10", "world.speak_first=false",
                        "world.contrast=none", "world.timeout_cost=0"])
    train(config, tmp_path, progress=False)
    rows, expected = written(tmp_path), saved("language-engine")
    # Evaluations gained outcome and random-policy figures since; the rest is unchanged.
    assert same_to_rounding([{key: row[key] for key in want if key in row} for row, want in
                             zip(rows, expected)], expected, *ACROSS_MACHINES)
    assert {"wrong_object", "timeout_heldout", "random_policy_return"} <= rows[-1].keys()


def test_imitation_rows_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.imitation.config import ImitationConfig
    from socius.societies.imitation.train import train

    # The task the rows were saved on: goal_cycle_v0 with 3 tiles and a penalty of 1.
    config = configure(ImitationConfig, {"num_envs": 32, "minibatches": 2, "hidden": 32,
                                         "env_steps": 32 * 40 * 4, "eval_every": 32 * 40 * 2,
                                         "eval_envs": 32, "task": "goal_cycle_v0",
                                         "world": {"max_cycles": 40, "num_tiles": 3,
                                                   "penalty": 1.0}})
    train(config, tmp_path, progress=False)
    rows = written(tmp_path)
    # Normalised returns took the better of the random walker and standing still as their
    # base since the move to goal_cycle_v1 (SCIENCE.md); the rest is unchanged.
    expected = [{key: value for key, value in row.items() if not key.startswith("normalised")}
                for row in saved("imitation")]
    assert same_to_rounding([{key: row[key] for key in want} for row, want in
                             zip(rows, expected)], expected)
    assert len(rows) == len(expected)
    assert rows[-1]["return_with"] == saved("imitation")[-1]["return_with"]
    for row in rows:
        base = max(row["random_with"], row["still_with"])
        assert row["normalised_with"] == pytest.approx(
            (row["return_with"] - base) / (row["expert_with"] - base))


def test_collection_rows_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.collection.config import CollectConfig
    from socius.societies.collection.train import train

    config = configure(CollectConfig, {"num_envs": 2, "steps": 400, "checkpoint_every": 120,
                                       "model_hidden": 32, "eval_model_steps": 50,
                                       "eval_repeats": 1, "hier_steps": 0,
                                       "world": {"size": 9, "max_cycles": 20}})
    train(config, tmp_path, progress=False)
    assert same_to_rounding(written(tmp_path), saved("collect"), *ACROSS_MACHINES)


@pytest.mark.parametrize("agent", ["hier", "hiql"])
def test_gcrl_rows_unchanged(tmp_path, one_torch_thread, agent):
    from socius.envs.settings import configure
    from socius.societies.navigation.gcrl import GCRLRunConfig, train

    config = configure(GCRLRunConfig, {"data_steps": 4000, "data_envs": 16, "eval_pairs": 50,
                                       "steps": 200, "eval_every": 100},
                       ["world.layout=maze", "world.size=11", f"learner.agent={agent}"])
    train(config, tmp_path, progress=False)
    assert same_to_rounding(written(tmp_path), saved(f"gcrl-{agent}"), *ACROSS_MACHINES)


def test_memory_result_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.navigation.memory import MemoryRunConfig, train

    config = configure(MemoryRunConfig, {"episodes": 64, "steps": 60, "eval_episodes": 50,
                                         "seed": 1, "world": {"size": 4}})
    (row,) = train(config, tmp_path, progress=False)
    # The same successes; the mean is now taken in float64 (the engine's rollout), not
    # float32, so 22 of 50 reads 0.44 instead of 0.4399999976.
    (want,) = saved("memory")
    for key in ("memory", "no_memory"):
        assert row[key] == pytest.approx(want[key], abs=1e-6)
