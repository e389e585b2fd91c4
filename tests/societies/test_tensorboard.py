"""TensorBoard export, read back with TensorBoard's own event reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from socius.societies.runs import tensorboard


def write_run(path, rows):
    path.mkdir(exist_ok=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in ``log_dir`` as (step, value) pairs."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def float32(value: float) -> float:
    """TensorBoard keeps scalars as 32-bit floats."""
    return float(np.float32(value))


def test_every_finite_number_of_a_row_is_a_scalar_at_its_step(tmp_path):
    rows = [{"episodes": 100, "success": 0.25, "label": "x", "solved": True, "loss": 1.1},
            {"episodes": 200, "success": 0.5, "cic": float("nan"), "loss": 0.3},
            {"episodes": 300, "success": 0.75, "per_position": [1.0, 2.0], "loss": 1e-7}]
    write_run(tmp_path / "run", rows)
    events = tensorboard.export(tmp_path / "run")
    assert events.parent == tmp_path / "run" / "tensorboard" and events.is_file()
    scalars = read_scalars(events.parent)
    assert set(scalars) == {"success", "loss"}
    for tag in scalars:
        assert scalars[tag] == [(row["episodes"], float32(row[tag])) for row in rows]


def test_step_key_is_the_first_present_or_the_one_asked_for(tmp_path):
    rows = [{"round": 1, "steps": 512, "coverage": 0.1}, {"round": 2, "steps": 1024,
                                                         "coverage": 0.2}]
    write_run(tmp_path / "run", rows)
    scalars = read_scalars(tensorboard.export(tmp_path / "run").parent)
    assert scalars["coverage"] == [(512, float32(0.1)), (1024, float32(0.2))]
    assert scalars["round"] == [(512, 1.0), (1024, 2.0)]
    scalars = read_scalars(tensorboard.export(tmp_path / "run", step_key="round").parent)
    assert scalars["steps"] == [(1, 512.0), (2, 1024.0)]


def test_a_rerun_replaces_the_export_and_a_failed_one_keeps_it(tmp_path):
    run = tmp_path / "run"
    write_run(run, [{"episodes": 1, "success": 0.1}])
    tensorboard.export(run)
    write_run(run, [{"episodes": 1, "success": 0.1}, {"episodes": 2, "success": 0.2}])
    events = tensorboard.export(run)
    assert list(events.parent.iterdir()) == [events]
    assert read_scalars(events.parent)["success"] == [(1, float32(0.1)), (2, float32(0.2))]
    write_run(run, [{"episodes": 1, "success": 0.1}, {"success": 0.3}])
    with pytest.raises(ValueError, match="no 'episodes' to use as the step"):
        tensorboard.export(run)
    assert list(events.parent.iterdir()) == [events]
    assert sorted(path.name for path in run.iterdir()) == ["metrics.jsonl", "tensorboard"]


def test_export_without_rows_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no metrics rows"):
        tensorboard.export(tmp_path / "empty")
