"""The reorganisation changed no behaviour: small runs of every experiment write the same
``metrics.jsonl`` as before it, bit for bit, at one torch thread.

The files in ``tests/societies/before/`` were written by the code before the move (commit
"Saved the metrics of small runs..."); each test here runs the same config through today's
code and compares the rows exactly (wall-clock keys, which were never reproducible, aside).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BEFORE = Path(__file__).parent / "before"
CLOCK_KEYS = {"seconds"}


def saved(name: str) -> list[dict]:
    """The rows the code wrote before the move."""
    return [json.loads(line) for line in (BEFORE / f"{name}.jsonl").read_text().splitlines()]


def written(run_dir: Path) -> list[dict]:
    """The rows a run wrote now, without wall-clock keys."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    return [{k: v for k, v in row.items() if k not in CLOCK_KEYS} for row in rows]


def test_language_rows_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.language.config import LanguageConfig
    from socius.societies.language.train import train

    config = configure(LanguageConfig, {"num_envs": 16, "population": 2, "eval_envs": 16,
                                        "rounds": 4, "eval_every": 2},
                       ["world.room_size=3", "world.view_radius=2", "world.num_objects=2"])
    train(config, tmp_path, progress=False)
    assert written(tmp_path) == saved("language")


def test_imitation_rows_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.imitation.config import ImitationConfig
    from socius.societies.imitation.train import train

    config = configure(ImitationConfig, {"num_envs": 32, "minibatches": 2, "hidden": 32,
                                         "env_steps": 32 * 40 * 4, "eval_every": 32 * 40 * 2,
                                         "eval_envs": 32, "world": {"max_cycles": 40}})
    train(config, tmp_path, progress=False)
    assert written(tmp_path) == saved("imitation")


def test_collection_rows_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.collection.config import CollectConfig
    from socius.societies.collection.train import train

    config = configure(CollectConfig, {"num_envs": 2, "steps": 400, "checkpoint_every": 120,
                                       "model_hidden": 32, "eval_model_steps": 50,
                                       "eval_repeats": 1, "hier_steps": 0,
                                       "world": {"size": 9, "max_cycles": 20}})
    train(config, tmp_path, progress=False)
    assert written(tmp_path) == saved("collect")


@pytest.mark.parametrize("agent", ["hier", "hiql"])
def test_gcrl_rows_unchanged(tmp_path, one_torch_thread, agent):
    from socius.envs.settings import configure
    from socius.societies.navigation.gcrl import GCRLRunConfig, train

    config = configure(GCRLRunConfig, {"data_steps": 4000, "data_envs": 16, "eval_pairs": 50,
                                       "steps": 200, "eval_every": 100},
                       ["world.layout=maze", "world.size=11", f"learner.agent={agent}"])
    train(config, tmp_path, progress=False)
    assert written(tmp_path) == saved(f"gcrl-{agent}")


def test_memory_result_unchanged(tmp_path, one_torch_thread):
    from socius.envs.settings import configure
    from socius.societies.navigation.memory import MemoryRunConfig, train

    config = configure(MemoryRunConfig, {"episodes": 64, "steps": 60, "eval_episodes": 50,
                                         "seed": 1, "world": {"size": 4}})
    (row,) = train(config, tmp_path, progress=False)
    assert [{key: row[key] for key in ("memory", "no_memory")}] == saved("memory")
