"""Output arrays whose memory is used again once nothing refers to them any more.

The batched adapters hand out megabytes of new arrays every step (a flat float32
observation of 1024 pairs is 3.6 MB). Allocated and freed each step, that memory goes
back to the operating system and returns page by page: a minor page fault each 4 KiB,
about 3 us apiece on a virtual machine, which cost the TorchRL adapter more than its
own bookkeeping. A :class:`Recycler` keeps a few blocks of each shape alive and hands
a block out again only when every array, view and tensor made from its previous
handout is gone, so no output ever shares memory with a later one.
"""

from __future__ import annotations

import weakref

import numpy as np


class Recycler:
    """Uninitialised arrays of a few fixed shapes, their blocks reused once released."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        """Released blocks kept per (shape, dtype); more are freed as usual."""
        self._free: dict[tuple, list[np.ndarray]] = {}

    def empty(self, shape, dtype=np.float64) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` that no live array shares
        memory with (``np.empty``'s contract, minus the page faults)."""
        key = (tuple(int(size) for size in shape), np.dtype(dtype).str)
        free = self._free.setdefault(key, [])
        block = free.pop() if free else np.empty(key[0], key[1])
        # An array over a memoryview is the base of all its views (numpy stops collapsing
        # bases at a non-array), and torch.from_numpy keeps its array alive: the handout
        # dies only when nothing made from it remains.
        handout = np.asarray(memoryview(block))
        finalizer = weakref.finalize(handout, self._release, key, block)
        finalizer.atexit = False
        return handout

    def _release(self, key: tuple, block: np.ndarray) -> None:
        """Keep ``block`` for a later handout (up to ``keep`` of its kind)."""
        free = self._free[key]
        if len(free) < self.keep:
            free.append(block)
