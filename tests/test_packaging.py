"""The wheel holds every subpackage under the one ``socius`` namespace, and the configs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(ROOT)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{done.stderr[-2000:]}")
    (wheel,) = out.glob("socius-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_every_subpackage_is_in_the_wheel(wheel_names):
    for folder in ("envs", "agents", "societies", "viz", "configs", "benchmarks"):
        for source in (ROOT / folder).rglob("*.py"):
            relative = source.relative_to(ROOT).as_posix()
            assert f"socius/{relative}" in wheel_names, f"{relative} missing from the wheel"
    for source in (ROOT / "configs").glob("*.yaml"):
        assert f"socius/configs/{source.name}" in wheel_names


def test_nothing_outside_the_namespace(wheel_names):
    top = {name.split("/")[0] for name in wheel_names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"socius"}


def test_shipped_yaml_configs_load():
    from socius import configs

    demo = configs.load("demo")
    assert demo["maze_v0"]["layout"] == "four_rooms"
    with pytest.raises(ValueError, match="unknown config 'nope'.*demo"):
        configs.load("nope")
