"""The core's size-dependent fast paths agree with its plain ones, and a step stays pure."""

from __future__ import annotations

import numpy as np
import pytest
from configurations import CONFIGURATIONS, config_id

import socius.envs as E
from socius.envs import core, kernels, observe
from socius.envs.settings import configure


@pytest.fixture(autouse=True)
def numpy_backend():
    """These tests check the numpy reference's own paths, so the kernels stay out."""
    previous = kernels.use("numpy")
    yield
    kernels.use(previous)


def _world(name, kwargs):
    """The static world of one configuration."""
    module = E.ENVIRONMENTS[name]
    return module.build_world(configure(module.CONFIG, kwargs))


def _states(world, batch, steps, seed=0):
    """States along a random run of ``steps`` steps with auto-reset."""
    rng = np.random.default_rng(seed)
    high = world.info["action_high"]
    state, _ = core.reset(world, seed, batch)
    states = [state]
    for _ in range(steps):
        actions = (rng.random((batch, world.num_agents, len(high))) * high).astype(np.int64)
        state, _ = core.step(world, state, actions)
        states.append(state)
    return states


@pytest.mark.parametrize("entry", CONFIGURATIONS, ids=config_id)
def test_row_gather_matches_byte_gather(entry, monkeypatch):
    """Views gathered a window row at a time equal views gathered a byte at a time."""
    world = _world(*entry)
    for state in _states(world, batch=observe.ROW_GATHER_FROM + 3, steps=12)[::4]:
        fast = observe.observe(world, state)
        with monkeypatch.context() as patch:
            patch.setattr(observe, "ROW_GATHER_FROM", 10**12)
            plain = observe.observe(world, state)
        for key in plain:
            np.testing.assert_array_equal(fast[key], plain[key], err_msg=key)


def test_view_windows_reads_every_plane_around_the_corner():
    """A window is the block of the grid whose top-left corner is the given cell."""
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 255, (70, 5, 11, 13), dtype=np.uint8)
    row, col = rng.integers(0, 11 - 4, (70, 3)), rng.integers(0, 13 - 4, (70, 3))
    views = observe.view_windows(cells, row, col, 5)
    assert views.shape == (70, 3, 5, 5, 5)
    env, agent = 41, 2
    r, c = row[env, agent], col[env, agent]
    np.testing.assert_array_equal(views[env, agent], cells[env, :, r:r + 5, c:c + 5])
    # A grid that is not contiguous takes the plain path and gives the same windows.
    wide = np.zeros((70, 5, 11, 26), dtype=np.uint8)
    wide[..., ::2] = cells
    np.testing.assert_array_equal(observe.view_windows(wide[..., ::2], row, col, 5), views)


@pytest.mark.parametrize("entry", CONFIGURATIONS, ids=config_id)
def test_step_does_not_mutate_its_input(entry):
    """core.step leaves every array of the state it was given unchanged, resets included."""
    world = _world(*entry)
    rng = np.random.default_rng(2)
    high = world.info["action_high"]
    state, _ = core.reset(world, 0, 9)
    for _ in range(15):
        before = [array.copy() for array in _arrays(state)]
        actions = (rng.random((9, world.num_agents, len(high))) * high).astype(np.int64)
        new_state, _ = core.step(world, state, actions)
        for old, now in zip(before, _arrays(state)):
            np.testing.assert_array_equal(old, now)
        state = new_state


def _arrays(state):
    """Every array of a state, task arrays included, in a fixed order."""
    return [getattr(state, name) for name in state.__dataclass_fields__ if name != "task"] + [
        state.task[key] for key in sorted(state.task)]
