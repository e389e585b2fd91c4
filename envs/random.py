"""Counter-based random streams: one per environment, with no hidden state.

Every random number in a world is a pure function of
``(seed, environment index, episode, step, purpose, element)``. An environment
therefore plays the same episodes whatever the batch size, resets of one
environment never disturb another, and nothing global is ever touched.

The mixing function is the SplitMix64 finaliser (Steele et al. 2014), applied to
uint64 arrays so that a whole batch is hashed in a few vectorised operations. With numba,
``permutations`` and ``sample_cells`` run as kernels (``_numba_random.py``) that draw the
same numbers and return the same indices.
"""

from __future__ import annotations

import numpy as np

from socius.envs import kernels

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL_1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL_2 = np.uint64(0x94D049BB133111EB)
_SHIFT_30 = np.uint64(30)
_SHIFT_27 = np.uint64(27)
_SHIFT_31 = np.uint64(31)
_SHIFT_11 = np.uint64(11)
_UNIT = 1.0 / float(1 << 53)

# Purposes keep the streams of different random decisions apart.
PURPOSE_LAYOUT = 1
PURPOSE_AGENTS = 2
PURPOSE_OBJECTS = 3
PURPOSE_GOALS = 4
PURPOSE_ORDER = 5
PURPOSE_CHANNEL = 6
PURPOSE_NOISY_TV = 7
PURPOSE_TILES = 8


def mix(value: np.ndarray) -> np.ndarray:
    """Hash uint64 values with the SplitMix64 finaliser (wrapping); scalars become ``[1]``."""
    x = np.array(value, dtype=np.uint64, ndmin=1) + _GOLDEN
    x = (x ^ (x >> _SHIFT_30)) * _MUL_1
    x = (x ^ (x >> _SHIFT_27)) * _MUL_2
    return x ^ (x >> _SHIFT_31)


def episode_keys(seed: np.ndarray, env_index: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """Key of each environment's episode: uint64 ``[B]`` from (seed, index, episode)."""
    seed_key = mix(np.asarray(seed, dtype=np.int64).astype(np.uint64))
    index_key = mix(seed_key ^ np.asarray(env_index, dtype=np.uint64))
    return mix(index_key ^ mix(np.asarray(episode, dtype=np.uint64)))


def step_keys(keys: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Key of each environment's current step: uint64 ``[B]``."""
    return mix(keys ^ mix(np.asarray(step, dtype=np.uint64) + np.uint64(0x5851F42D4C957F2D)))


def purpose_key(purpose: int) -> np.ndarray:
    """The uint64 ``[1]`` that keeps a purpose's stream apart from the others."""
    return mix((int(purpose) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF)


def uniform(keys: np.ndarray, purpose: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform floats in [0, 1): ``[B, *shape]``, one independent draw per element."""
    count = int(np.prod(shape, dtype=np.int64))
    counters = mix(np.arange(count, dtype=np.uint64) ^ purpose_key(purpose))
    bits = mix(np.asarray(keys, dtype=np.uint64)[:, None] ^ counters[None, :])
    return ((bits >> _SHIFT_11).astype(np.float64) * _UNIT).reshape((len(keys), *shape))


def integers(keys: np.ndarray, purpose: int, shape: tuple[int, ...], high: int) -> np.ndarray:
    """Uniform integers in [0, high): ``[B, *shape]`` int64."""
    return np.minimum((uniform(keys, purpose, shape) * high).astype(np.int64), high - 1)


def permutations(keys: np.ndarray, purpose: int, size: int) -> np.ndarray:
    """A uniformly random permutation of ``range(size)`` per environment: ``[B, size]``."""
    compiled = kernels.compiled()
    if compiled is not None:
        return _smallest_compiled(compiled, keys, purpose, np.ones((1, size), dtype=bool),
                                  size)
    return np.argsort(uniform(keys, purpose, (size,)), axis=1, kind="stable")


def sample_cells(keys: np.ndarray, purpose: int, free: np.ndarray, count: int) -> np.ndarray:
    """Pick ``count`` distinct cells where ``free[B, C]`` is true: flat indices ``[B, count]``.

    The caller guarantees at least ``count`` free cells per environment.
    """
    compiled = kernels.compiled()
    if compiled is not None:
        return _smallest_compiled(compiled, keys, purpose, free, count)
    scores = np.where(free, uniform(keys, purpose, (free.shape[1],)), 2.0)
    if count < free.shape[1]:
        chosen = np.argpartition(scores, count - 1, axis=1)[:, :count]
        order = np.argsort(np.take_along_axis(scores, chosen, axis=1), axis=1, kind="stable")
        return np.take_along_axis(chosen, order, axis=1)
    return np.argsort(scores, axis=1, kind="stable")


def _smallest_compiled(compiled, keys: np.ndarray, purpose: int, allowed: np.ndarray,
                       count: int) -> np.ndarray:
    """``sample_cells`` and ``permutations`` through their kernel: the same indices, but
    for exact ties of two 53-bit draws, which numpy's partition may order either way."""
    keys = np.asarray(keys, dtype=np.uint64)
    allowed = np.broadcast_to(allowed, (len(keys), np.shape(allowed)[-1]))
    if not 0 <= count <= allowed.shape[1]:
        raise ValueError(f"count must be in [0, {allowed.shape[1]}] (the cells to draw "
                         f"from); got {count}")
    out = np.empty((len(keys), count), dtype=np.int64)
    if count:
        compiled.smallest_draws_into(keys, purpose_key(purpose)[0], allowed, out)
    return out
