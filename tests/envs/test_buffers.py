"""The recycler hands a block out again only once nothing made from it remains."""

from __future__ import annotations

import gc

import numpy as np

from socius.envs import spaces
from socius.envs.buffers import Recycler


def test_a_block_returns_only_when_every_view_is_gone():
    recycler = Recycler()
    first = recycler.empty((4, 3), np.float32)
    view = first[:, 1:]
    del first
    gc.collect()
    second = recycler.empty((4, 3), np.float32)
    assert not np.shares_memory(second, view)  # a view keeps its block out of the pool
    address = view.__array_interface__["data"][0] - 4
    del view, second
    gc.collect()
    third, fourth = (recycler.empty((4, 3), np.float32) for _ in range(2))
    addresses = {array.__array_interface__["data"][0] for array in (third, fourth)}
    assert address in addresses  # both blocks came back
    assert not np.shares_memory(third, fourth)


def test_shapes_dtypes_and_the_pool_bound():
    recycler = Recycler(keep=2)
    for dtype in (np.float32, np.int8, bool, np.int64):
        array = recycler.empty((2, 3, 5), dtype)
        assert array.shape == (2, 3, 5) and array.dtype == np.dtype(dtype)
        assert array.flags.c_contiguous and array.flags.writeable
    held = [recycler.empty((8,), np.int8) for _ in range(5)]
    del held
    gc.collect()
    assert len(recycler._free[((8,), "|i1")]) == 2


def test_present_into_recycled_memory_is_present():
    from socius.envs import referential_v0
    from socius.envs.settings import configure

    settings = dict(flatten=True, flat_dtype="float32", joint_actions=True,
                    action_mask="full", mask_in="info")
    world = referential_v0.build_world(configure(referential_v0.CONFIG, settings))
    from socius.envs import core

    _, observation = core.reset(world, 0, 3, episode=0)
    shown, mask = spaces.present(world, observation)
    recycled, recycled_mask = spaces.present(world, observation, empty=Recycler().empty)
    np.testing.assert_array_equal(shown, recycled)
    np.testing.assert_array_equal(mask, recycled_mask)
    assert mask.dtype == recycled_mask.dtype
