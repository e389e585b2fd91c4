"""The experiment grid: expansion and parsing, parallel local runs gathered into a table and a
plot, retries from the checkpoint after a failure or a killed worker, determinism, Ray."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from socius.configs import load
from socius.societies.cli import main
from socius.societies.experiments import experiment
from socius.societies.language.train import train as train_language
from socius.societies.runs.executors import InlineExecutor
from socius.societies.runs.grid import expand, run_trials, sweep, table

TINY = ["rounds=3", "eval_every=1", "num_envs=32", "eval_envs=16", "population=2",
        "world.room_size=3", "world.view_radius=2", "world.num_objects=2",
        "world.contrast=none"]
"""A language run of a few seconds that checkpoints after every round."""
CELLS = ("world.message_length=0-seed0", "world.message_length=2-seed0")
LANGUAGE = experiment("language")


def flaky_train(config, out, progress: bool = False) -> list[dict]:
    """The first attempt of a mute run (``message_length=0``) trains one round (a
    checkpoint), then dies: its process is killed when ``vocab_size`` is 8, it raises
    otherwise. Seed 1 with ``vocab_size`` 7 always raises. Other runs are normal."""
    marker = Path(out) / "failed-once"
    if config.seed == 1 and config.world.vocab_size == 7:
        raise RuntimeError("seed 1 always fails")
    if config.world.message_length == 0 and not marker.exists():
        train_language(config, out, progress=False, stop_after=1)
        marker.write_text("")
        if config.world.vocab_size == 8:
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("the first attempt fails after a checkpoint")
    return train_language(config, out, progress=progress)


FLAKY = dataclasses.replace(LANGUAGE, train=flaky_train)
"""The language experiment whose runs fail on purpose (workers unpickle it from here)."""


def metrics(directory: Path) -> list[dict]:
    """A run's metrics rows."""
    return [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]


def test_grid_expands_values_by_field_type_and_bad_input_names_the_key(tmp_path):
    base = load("language")
    trials = expand(LANGUAGE, base, ["rounds=3"],
                    ["world.message_length=0,2", "world.held_out=[[0, 1]],[[1, 2], [2, 0]]"],
                    2, tmp_path)
    assert len(trials) == 2 * 2 * 2
    assert {t.config.world.message_length for t in trials} == {0, 2}
    assert {t.config.world.held_out for t in trials} == {((0, 1),), ((1, 2), (2, 0))}
    assert all(t.config.rounds == 3 for t in trials)
    assert Path(trials[0].out) == (tmp_path /
                                   "world.message_length=0,world.held_out=[[0,1]]-seed0")
    assert [t.seed for t in trials[:2]] == [0, 1] and len({t.out for t in trials}) == 8
    plain = expand(LANGUAGE, base, [], [], 3, tmp_path / "run")
    assert [t.out for t in plain] == [f"{tmp_path / 'run'}-seed{s}" for s in range(3)]
    alone = expand(LANGUAGE, base, ["seed=5"], [], 1, tmp_path / "run")
    assert [(t.out, t.seed, t.cell) for t in alone] == [(str(tmp_path / "run"), 5, "")]
    for grid, key in [(["world.mesage_length=1,2"], "world.mesage_length"),
                      (["world.message_length=1,two"], "world.message_length"),
                      (["channel=rl,telepathy"], "channel"), (["seed=1,2"], "seed"),
                      (["rounds=1", "rounds=2"], "rounds"), (["rounds="], "rounds")]:
        with pytest.raises(ValueError, match=f"'{key}'"):
            expand(LANGUAGE, base, [], grid, 1, tmp_path)
    with pytest.raises(ValueError, match="key=value1,value2"):
        expand(LANGUAGE, base, [], ["rounds"], 1, tmp_path)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The same two-trial grid twice: by two local worker processes, the mute run's worker
    killed once after its first checkpoint; and uninterrupted, in this process."""
    import torch

    root = tmp_path_factory.mktemp("grid")
    grid = ["world.message_length=0,2"]
    flaky = expand(FLAKY, load("language"), TINY, grid, 1, root / "pool")
    outcomes = sweep(flaky, root / "pool", workers=2, retries=1)
    clean = expand(LANGUAGE, load("language"), TINY, grid, 1, root / "inline")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    try:
        run_trials(clean, InlineExecutor(), retries=0, echo=lambda text: None)
    finally:
        torch.set_num_threads(threads)
    return root, outcomes


def test_local_workers_run_the_grid_and_write_the_table_and_the_plot(sweeps, capsys):
    pool = sweeps[0] / "pool"
    markdown = (pool / "grid.md").read_text()
    assert "| world.message_length=0 | 1/1 |" in markdown
    assert "| world.message_length=2 | 1/1 |" in markdown
    assert "failed" not in markdown
    assert (pool / "grid.png").stat().st_size > 10_000
    for cell in CELLS:
        assert len(metrics(pool / cell)) == 3 and (pool / cell / "result.json").exists()
    # Run again through the command line: finished trials are read back, not trained again.
    before = (pool / CELLS[1] / "metrics.jsonl").stat().st_mtime_ns
    assert main(["run", "language", "--set", *TINY, "--grid", "world.message_length=0,2",
                 "--out", str(pool)]) == 0
    assert "| world.message_length=2 | 1/1 |" in capsys.readouterr().out
    assert (pool / CELLS[1] / "metrics.jsonl").stat().st_mtime_ns == before


def test_a_killed_worker_is_retried_from_its_checkpoint(sweeps):
    root, outcomes = sweeps
    mute = outcomes[0]
    assert mute.result is not None and mute.attempts == 2
    assert mute.errors[0].startswith("BrokenProcessPool")
    assert (root / "pool" / CELLS[0] / "failed-once").exists()
    # The resumed run equals the one that was never interrupted, row for row.
    assert metrics(root / "pool" / CELLS[0]) == metrics(root / "inline" / CELLS[0])


def test_the_same_seeds_give_the_same_metrics_twice(sweeps):
    root, outcomes = sweeps
    assert metrics(root / "pool" / CELLS[1]) == metrics(root / "inline" / CELLS[1])
    assert outcomes[1].result["final"] == json.loads(
        (root / "inline" / CELLS[1] / "result.json").read_text())["final"]


def test_a_failed_trial_is_retried_and_one_that_keeps_failing_is_reported(tmp_path):
    trials = expand(FLAKY, load("language"),
                    [*TINY, "world.vocab_size=7", "world.message_length=0"], [], 2,
                    tmp_path / "run")
    outcomes = run_trials(trials, InlineExecutor(), retries=2, echo=lambda text: None)
    first, second = outcomes
    assert first.result is not None and first.attempts == 2
    assert first.result["final"]["success"] == json.loads(
        (tmp_path / "run-seed0" / "evaluation.json").read_text())["success"]
    assert second.result is None and second.attempts == 3
    assert second.errors == ["RuntimeError: seed 1 always fails"] * 3
    text = table(LANGUAGE, outcomes)
    assert "| language | 1/2 |" in text
    assert "failed after 3 attempts" in text and "seed 1 always fails" in text


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


HEAD = """
import sys, ray
context = ray.init(address="local", num_cpus=2, include_dashboard=False)
print(context.address_info["gcs_address"], flush=True)
sys.stdin.read()  # the test closes stdin when it is done
ray.shutdown()
"""


def test_ray_runs_the_grid_to_the_same_metrics_as_local_workers(sweeps, tmp_path):
    pytest.importorskip("ray", reason="the Ray executor needs socius[ray] (pip install ray)")
    # A local test cluster without tokens (Ray turns token authentication on by default
    # for clusters that ray.init starts, and a driver must then hold the token).
    environment = dict(os.environ, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0",
                       RAY_AUTH_MODE="disabled")
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=environment)
    try:
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        done = subprocess.run(
            [sys.executable, "-m", "socius.societies.cli", "run", "language", "--set", *TINY,
             "--grid", "world.message_length=0,2", "--ray", address,
             "--out", str(tmp_path / "ray")],
            env=environment, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        head.stdin.close()
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            head.kill()
    for cell in CELLS:
        assert metrics(tmp_path / "ray" / cell) == metrics(sweeps[0] / "pool" / cell)
    assert (tmp_path / "ray" / "grid.md").read_text() == (
        sweeps[0] / "pool" / "grid.md").read_text()
