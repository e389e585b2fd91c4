"""``socius.envs`` holds its layer: importing the worlds loads no torch, no display or
plotting library and nothing from the layers above it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("torch", "pygame", "matplotlib", "numba")
ABOVE = ("socius.agents", "socius.societies", "socius.viz")


def loaded_after(statement: str) -> dict[str, bool]:
    """Which of HEAVY and ABOVE a fresh interpreter has loaded after ``statement``."""
    names = HEAVY + ABOVE
    report = f"print(json.dumps({{n: n in sys.modules for n in {names!r}}}))"
    code = f"import sys, json; {statement}; {report}"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    return json.loads(output.splitlines()[-1])


def test_importing_the_worlds_loads_no_torch_display_or_upper_layer():
    loaded = loaded_after("import socius.envs")
    assert not any(loaded.values()), {name for name, is_loaded in loaded.items() if is_loaded}


def test_building_and_stepping_a_world_loads_no_torch_or_pygame():
    statement = ("import numpy as np; from socius.envs import core, maze_v0; "
                 "world = maze_v0.build_world(maze_v0.MazeConfig()); "
                 "state, _ = core.reset(world, 0, 2); "
                 "core.step(world, state, np.zeros((2, world.num_agents, "
                 "1 + world.config.message_length), np.int64))")
    loaded = loaded_after(statement)
    loaded.pop("numba")  # the compiled kernels, where installed, come with the first step
    assert not any(loaded.values()), {name for name, is_loaded in loaded.items() if is_loaded}


def test_the_kernels_load_numba_on_the_first_step_and_fall_back_without_it():
    """numba arrives with the first step, not the import; without it the numpy path runs."""
    step = ("import numpy as np; from socius.envs import core, kernels, referential_v0; "
            "world = referential_v0.build_world(referential_v0.ReferentialConfig()); "
            "state, _ = core.reset(world, 0, 1); "
            "core.step(world, state, np.zeros((1, 2, 3), np.int64)); "
            "print(kernels.active_backend())")
    hide_numba = "import sys; sys.modules['numba'] = None; "
    for prefix, backend in (("", "numba"), (hide_numba, "numpy")):
        done = subprocess.run([sys.executable, "-c", prefix + step], capture_output=True,
                              text=True, check=True,
                              env={**os.environ, "SOCIUS_KERNELS": "numba"})
        assert done.stdout.split() == [backend], done.stdout
    assert loaded_after("import socius.envs.kernels")["numba"] is False


def test_the_vector_facade_brings_torch_only_when_made():
    assert loaded_after("from socius.envs import make_vector")["torch"] is False
    assert loaded_after("from socius.envs import make_vector; make_vector('maze_v0', 2)")["torch"]


def test_the_training_layers_name_the_extra_when_torch_is_missing():
    hide_torch = ("import importlib.util as util; found = util.find_spec; "
                  "util.find_spec = lambda name, *rest: None if name == 'torch' "
                  "else found(name, *rest)")
    for layer in ("socius.societies", "socius.agents"):
        done = subprocess.run([sys.executable, "-c", f"{hide_torch}; import {layer}"],
                              capture_output=True, text=True)
        assert done.returncode != 0
        assert "pip install 'socius[train]'" in done.stderr, done.stderr[-500:]
