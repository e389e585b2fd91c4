"""``random.py``'s counter-based draws as numba kernels, the same numbers to the bit.

Other kernel files inline these helpers: see ``kernels.py`` on numba's cache.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# SplitMix64's constants as uint64: numba would turn uint64 op int64 into float64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL_1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL_2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 1.0 / float(1 << 53)
# Above this many indices to keep, a full sort beats insertion into a short list.
SHORT_LIST = 64


@njit(inline="always")
def _mix(x):
    """``random.mix`` of one uint64."""
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _MUL_1
    x = (x ^ (x >> _S27)) * _MUL_2
    return x ^ (x >> _S31)


@njit(inline="always")
def unit_draw(key, counter):
    """``random.uniform``'s draw for an episode key and an element's counter."""
    return np.float64(_mix(key ^ counter) >> _S11) * _UNIT


@njit(inline="always")
def counters_of(purpose_key, size):
    """Each element's counter in a purpose's stream: uint64 ``[size]``."""
    counters = np.empty(size, dtype=np.uint64)
    for c in range(size):
        counters[c] = _mix(np.uint64(c) ^ purpose_key)
    return counters


@njit(cache=True, nogil=True)
def smallest_draws_into(keys, purpose_key, allowed, out):
    """``random.sample_cells`` (and, with every cell allowed, ``random.permutations``): per
    row b, the ``out.shape[1]`` indices of smallest uniform draw (2.0 where not allowed),
    in increasing order of (draw, index), as numpy's stable argsort gives them."""
    counters = counters_of(purpose_key, allowed.shape[1])
    score = np.empty(allowed.shape[1], dtype=np.float64)
    for b in range(keys.shape[0]):
        smallest_of_row(np.uint64(keys[b]), counters, allowed[b], score, out[b])


@njit(inline="always")
def smallest_of_row(key, counters, allowed, score, out):
    """One row of ``smallest_draws_into`` (0 < count <= size): ``score`` is scratch space
    of at least the row's size."""
    size, count = counters.shape[0], out.shape[0]
    for c in range(size):
        score[c] = unit_draw(key, counters[c]) if allowed[c] else 2.0
    if count > SHORT_LIST:
        order = np.argsort(score[:size], kind="mergesort")
        for s in range(count):
            out[s] = order[s]
        return
    # Few to keep: insert each index into a sorted short list. Indices arrive in increasing
    # order and only a strictly smaller draw moves ahead, so ties keep index order, as a
    # stable sort does.
    kept = 0
    for c in range(size):
        value = score[c]
        if kept == count and value >= score[out[count - 1]]:
            continue
        s = kept if kept < count else count - 1
        while s > 0 and score[out[s - 1]] > value:
            out[s] = out[s - 1]
            s -= 1
        out[s] = c
        kept = min(kept + 1, count)

