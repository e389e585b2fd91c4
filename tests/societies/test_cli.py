"""The console script: listing environments, the demo and errors."""

from __future__ import annotations

import imageio.v3 as iio
import pytest

from socius.envs import ENVIRONMENTS
from socius.societies.cli import main


def test_list_shows_every_environment_and_parameter(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ENVIRONMENTS:
        assert name in out
    assert "socius/Referential-v0" in out
    assert "noisy_tv" in out and "message_length" in out and "held_out" in out


def test_demo_writes_a_gif_and_a_benchmark_line(tmp_path, capsys, monkeypatch):
    import socius.societies.viewer.demo as demo

    monkeypatch.setattr(demo, "measure_speed", lambda name: 1234.0)
    out = tmp_path / "demo.gif"
    assert main(["demo", "--out", str(out), "--episodes", "1"]) == 0
    frames = iio.imread(out, index=None)
    assert frames.ndim == 4 and frames.shape[0] >= 3 and frames.shape[-1] == 3
    printed = capsys.readouterr().out
    assert "mean return 4.00" in printed  # both groups of the demo succeed
    assert "1,234 agent-steps/s" in printed


def test_speed_measurement_counts_agent_steps():
    from socius.societies.viewer.demo import measure_speed

    assert measure_speed("maze_v0", num_envs=4, seconds=0.05) > 0


def test_a_bad_value_is_one_line_naming_the_field_not_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "imitation", "--out", str(tmp_path / "run"), "--set", "method=dagger"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("socius: error:") and "method" in error
    assert "Traceback" not in error and not (tmp_path / "run").exists()
    with pytest.raises(SystemExit):
        main(["resume", str(tmp_path / "nowhere")])
    assert "config.json is missing" in capsys.readouterr().err
