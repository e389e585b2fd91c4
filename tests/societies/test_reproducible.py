"""A run's numbers depend on its config, not on the machine's thread settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from socius.societies.language.config import LanguageConfig
from socius.societies.runs.directory import ENVIRONMENT, open_run

SMALL = ["rounds=4", "eval_every=2", "num_envs=32", "minibatches=2", "eval_envs=32",
         "population=2"]


def run_language(out: Path, omp_threads: str) -> list[dict]:
    """The CLI's language command in a fresh process with ``OMP_NUM_THREADS`` set."""
    env = dict(os.environ, OMP_NUM_THREADS=omp_threads, MKL_NUM_THREADS=omp_threads)
    subprocess.run([sys.executable, "-m", "socius.societies.cli", "run", "language",
                    "--out", str(out), "--set", *SMALL], check=True, env=env,
                   capture_output=True, timeout=600)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_the_same_command_writes_the_same_rows_at_one_and_two_omp_threads(tmp_path):
    one = run_language(tmp_path / "one", "1")
    two = run_language(tmp_path / "two", "2")
    assert len(one) == 2
    assert one == two
    recorded = [json.loads(line) for line in
                (tmp_path / "two" / ENVIRONMENT).read_text().splitlines()]
    assert recorded[0]["threads"] == 1
    assert recorded[0]["packages"]["torch"]


def test_a_run_records_its_thread_count_and_versions_on_every_start(tmp_path):
    config = LanguageConfig(threads=2, rounds=2)
    open_run(tmp_path, config, "language")
    open_run(tmp_path, config, "language")  # a resume
    rows = [json.loads(line) for line in (tmp_path / ENVIRONMENT).read_text().splitlines()]
    assert [row["threads"] for row in rows] == [2, 2]
    assert {"torch", "numpy", "socius"} <= set(rows[0]["packages"])


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_a_bad_thread_count_names_the_field(threads):
    with pytest.raises(ValueError, match="threads"):
        LanguageConfig(threads=threads)
