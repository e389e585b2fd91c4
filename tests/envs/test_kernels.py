"""The compiled kernels give the numpy core's results to the byte, for every task."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from configurations import CONFIGURATIONS, config_id

import socius.envs as E
from socius.envs import core, kernels
from socius.envs.settings import configure

pytest.importorskip("numba")


@pytest.fixture
def backend():
    """A switch between the backends that puts the selected one back afterwards."""
    previous = kernels.use("numba")
    yield kernels.use
    kernels.use(previous)


def _world(name, kwargs):
    """The static world of one configuration."""
    module = E.ENVIRONMENTS[name]
    return module.build_world(configure(module.CONFIG, kwargs))


def _flat(value, prefix=""):
    """Every array in a state, a result or a nested dict, by dotted name."""
    if value is None:
        return {prefix: None}
    if isinstance(value, np.ndarray):
        return {prefix: value}
    if isinstance(value, dict):
        items = value.items()
    else:
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    out = {}
    for key, item in items:
        out.update(_flat(item, f"{prefix}.{key}" if prefix else key))
    return out


def _assert_same(numpy_value, compiled_value, where):
    """Equal arrays with equal dtypes and shapes, key by key."""
    expected, got = _flat(numpy_value), _flat(compiled_value)
    assert expected.keys() == got.keys(), where
    for key, array in expected.items():
        if array is None:
            assert got[key] is None, f"{where}: {key}"
            continue
        assert got[key].dtype == array.dtype, f"{where}: {key}"
        np.testing.assert_array_equal(got[key], array, err_msg=f"{where}: {key}")


def _run_both(world, backend, batch, steps, seed, auto_reset=True):
    """Step the same random actions through both backends and compare everything."""
    rng = np.random.default_rng(seed)
    high = world.info["action_high"]
    states, observations = {}, {}
    for name in kernels.BACKENDS:
        backend(name)
        states[name], observations[name] = core.reset(world, seed, batch)
    _assert_same(observations["numpy"], observations["numba"], "reset")
    for step in range(steps):
        actions = (rng.random((batch, world.num_agents, len(high))) * high).astype(np.int64)
        results = {}
        for name in kernels.BACKENDS:
            backend(name)
            states[name], results[name] = core.step(world, states[name], actions, auto_reset)
        _assert_same(results["numpy"], results["numba"], f"step {step}")
        _assert_same(states["numpy"], states["numba"], f"state after step {step}")


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("entry", CONFIGURATIONS, ids=config_id)
def test_compiled_step_matches_numpy(entry, batch, backend):
    """Observations, outcomes and states agree over a random run with restarts."""
    _run_both(_world(*entry), backend, batch, steps=25, seed=3)


def test_compiled_moves_resolve_crowds_like_numpy(backend):
    """Many agents contesting few cells: the same winners, stand-offs and grids."""
    world = _world("maze_v0", {"layout": "open", "size": 6, "num_agents": 8,
                               "max_cycles": 40})
    _run_both(world, backend, batch=9, steps=40, seed=5, auto_reset=False)


def test_compiled_observation_matches_numpy_at_large_batch(backend):
    """Where the numpy path gathers views by rows, the two still agree."""
    _run_both(_world("referential_v0", {}), backend, batch=200, steps=12, seed=7)


@pytest.mark.parametrize("settings, compiled_rooms", [
    ({"num_agents": 8, "num_objects": 3}, True),  # more groups than objects: targets repeat
    ({"held_out": ((0, 0), (2, 1)), "split": "train", "room_size": 3}, True),
    ({"contrast": "all", "num_objects": 4}, False),  # numpy's rooms, the compiled rest
])
def test_compiled_referential_rooms_match_numpy(settings, compiled_rooms, backend,
                                                monkeypatch):
    """The referential reset kernel draws the numpy path's rooms in its other settings, and
    it is the kernel that drew them where it applies."""
    from socius.envs import referential_v0

    calls = []
    drawn = referential_v0._reset_compiled
    monkeypatch.setattr(referential_v0, "_reset_compiled",
                        lambda *args: calls.append(1) or drawn(*args))
    _run_both(_world("referential_v0", settings), backend, batch=7, steps=30, seed=11)
    assert bool(calls) == compiled_rooms


def _spied(world, calls):
    """``world`` whose task's ``start_into`` counts its calls in ``calls``."""
    hook = world.task.start_into
    task = dataclasses.replace(world.task, start_into=lambda *args: calls.append(1) or hook(*args))
    return dataclasses.replace(world, task=task)


@pytest.mark.parametrize("settings", [{}, {"num_agents": 8, "num_objects": 3}])
def test_restart_in_place_matches_numpy(settings, backend):
    """Worlds restarted in place by the referential kernel equal numpy's put of fresh
    episodes, field for field, through the step's auto-reset and through core.restart."""
    calls = []
    world = _spied(_world("referential_v0", settings), calls)
    _run_both(world, backend, batch=64, steps=30, seed=17)
    assert calls, "the step never took the in-place restart"
    calls.clear()
    states = {}
    for name in kernels.BACKENDS:
        backend(name)
        state, _ = core.reset(world, 4, 10)
        states[name] = core.restart(world, state, np.array([7, 2, 9]))
    _assert_same(states["numpy"], states["numba"], "core.restart")
    assert calls == [1]


def test_restart_in_place_keeps_every_step_pure(backend):
    """The in-place restart writes into no array the caller's state, a step's result or its
    final state shares, however many steps later."""
    calls = []
    world = _spied(_world("referential_v0", {"max_cycles": 3}), calls)
    backend("numba")
    rng = np.random.default_rng(19)
    high = world.info["action_high"]
    state, _ = core.reset(world, 0, 40)
    kept = []  # every state and result so far, with copies of their arrays then
    for _ in range(12):
        actions = (rng.random((40, world.num_agents, len(high))) * high).astype(np.int64)
        new_state, result = core.step(world, state, actions)
        arrays = _flat({"state": state, "result": result})
        kept.append((arrays, {key: None if array is None else array.copy()
                              for key, array in arrays.items()}))
        state = new_state
    state = core.restart(world, state, np.arange(0, 40, 3))
    assert len(calls) > 5
    for arrays, copies in kept:
        for key, array in copies.items():
            if array is not None:
                np.testing.assert_array_equal(arrays[key], array, err_msg=key)


@pytest.mark.parametrize("name, settings", [
    ("maze_v0", {"view_radius": 3}),  # a window side of 7
    ("maze_v0", {"view_radius": 5, "num_agents": 20, "layout": "open", "size": 12}),  # 11
    ("goal_cycle_v0", {"view_radius": 3, "num_agents": 3}),
])
def test_compiled_views_of_every_window_side_match_numpy(name, settings, backend):
    """Views through each compiled window-side branch and the generic one."""
    _run_both(_world(name, settings), backend, batch=6, steps=20, seed=13)


@pytest.mark.parametrize("cells, count", [(49, 4), (16, 16), (300, 70), (4096, 2000)])
def test_compiled_draws_match_numpy(cells, count, backend):
    """Cell samples and permutations: the same indices in the same order, through both the
    kernel's short list and its full sort, with every cell allowed or about half."""
    from socius.envs import random

    keys = random.episode_keys(np.arange(60), np.arange(60), np.zeros(60))
    free = np.random.default_rng(cells).random((60, cells)) < 0.5
    free[:, :count] = True  # at least `count` free cells, as callers guarantee
    for allowed in (free, np.ones((60, cells), dtype=bool)):
        drawn = {}
        for name in kernels.BACKENDS:
            backend(name)
            drawn[name] = (random.sample_cells(keys, 2, allowed, count),
                           random.permutations(keys, 5, cells))
        for expected, got in zip(drawn["numpy"], drawn["numba"]):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
    # One row of cells for every environment, as numpy broadcasts it; nothing to draw.
    for count_drawn in (count, 0):
        drawn = {}
        for name in kernels.BACKENDS:
            backend(name)
            drawn[name] = random.sample_cells(keys, 2, free[:1], count_drawn)
        np.testing.assert_array_equal(drawn["numba"], drawn["numpy"])
        assert drawn["numba"].shape == (60, count_drawn)


def test_backend_selection_is_checked_and_reported(backend):
    """Unknown backends are refused by name; the selected one is the one that runs."""
    with pytest.raises(ValueError, match="backend must be one of"):
        kernels.use("cuda")
    backend("numpy")
    assert kernels.active_backend() == "numpy"
    backend("numba")
    assert kernels.active_backend() == "numba"


def test_a_misspelt_backend_in_the_environment_is_named():
    """SOCIUS_KERNELS=nunba fails on import with the variable's name, not silently."""
    done = subprocess.run([sys.executable, "-c", "import socius.envs"], capture_output=True,
                          text=True, env={**os.environ, "SOCIUS_KERNELS": "nunba"})
    assert done.returncode != 0
    assert "SOCIUS_KERNELS must be one of ('numba', 'numpy'); got 'nunba'" in done.stderr


def test_a_numba_that_refuses_to_import_leaves_the_numpy_path(tmp_path):
    """numba raising its own ImportError (e.g. a numpy it does not support) is a missing
    numba: worlds still step, on numpy."""
    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('Numba needs NumPy 2.5 or less')\n")
    code = ("import socius.envs as E; from socius.envs import kernels; "
            "env = E.make_vector('referential_v0', 2, seed=0); env.reset(); "
            "print(kernels.active_backend())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "numpy"
