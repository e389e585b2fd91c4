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


def test_the_worlds_need_no_torch_and_the_extras_say_where_it_goes(tmp_path):
    """torch (and the training stack) is only in the ``train`` extra, and the BenchMARL
    extra pins the torchrl that BenchMARL 1.5.2 imports."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("socius-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in
                    archive.read(metadata).decode().splitlines()
                    if line.startswith("Requires-Dist:")]
        assert "socius/configs/benchmarl/language_pair.yaml" in archive.namelist()
    base = [r for r in requires if "extra ==" not in r]
    assert not any(r.startswith(("torch", "tensorboard", "scipy")) for r in base), base
    extra = {r.split(";")[0].strip() for r in requires if 'extra == "train"' in r}
    assert any(r.startswith("torch") for r in extra), requires
    assert not any(r.startswith("numba") for r in base), base  # the kernels are optional
    assert any(r.startswith("numba") for r in requires if 'extra == "fast"' in r), requires
    benchmarl = {r.split(";")[0].replace(" ", "") for r in requires
                 if 'extra == "benchmarl"' in r}
    assert benchmarl == {"benchmarl==1.5.2", "torchrl<0.12,>=0.11"}, benchmarl
