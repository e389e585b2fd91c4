"""The switch between the core's compiled kernels and its numpy reference, and the moves'
call into them.

The kernels cover the step's hot spots: the action check, the moves, the observation and
the agents of restarted worlds (``_numba_kernels.py``), the random draws of new episodes
(``_numba_random.py``), and the referential game's outcome and rooms
(``_numba_referential.py``), which it also writes straight into a batch's own arrays when
worlds restart (``Task.start_into``). The TorchRL adapter presents a step's observations
through one more (``_numba_present.py``). The numpy versions in ``validate.py``, ``core.py``,
``observe.py``, ``random.py`` and ``referential_v0.py`` stay the reference, and the kernels
reproduce them to the byte (``tests/envs/test_kernels.py`` compares every output over
random runs of every task). Why compile: a step at B = 1 was about a hundred
numpy calls of about a microsecond each, whatever the array size; a kernel does the work
of dozens of them in one call. At large B a kernel passes over each world's memory once
instead of once per numpy operation.

numba is optional (``pip install 'socius[fast]'``, and Tianshou brings it). It is
imported on the first step, not with ``socius.envs``, so the worlds still import in a
fraction of a second; kernels are cached on disk after their first compilation. numba's
cache checks only the file of the kernel it caches, not the helpers and constants it
inlines from other files; the tests key their cache to every kernel source
(``tests/conftest.py``), and after editing those files by hand, delete
``envs/__pycache__/*.nb[ic]``. ``SOCIUS_KERNELS=numpy`` in the environment, or
``use("numpy")``, selects the numpy path.
"""

from __future__ import annotations

import os

import numpy as np

from socius.envs.state import WorldState

BACKENDS = ("numba", "numpy")


def _backend_from_environment() -> str:
    """``SOCIUS_KERNELS`` if set (checked), else 'numba'."""
    backend = os.environ.get("SOCIUS_KERNELS", "numba")
    if backend not in BACKENDS:
        raise ValueError(f"the environment variable SOCIUS_KERNELS must be one of {BACKENDS}; "
                         f"got {backend!r}")
    return backend


_choice = {"backend": _backend_from_environment(), "compiled": None}


def use(backend: str) -> str:
    """Select the kernels' backend, 'numba' (compiled when numba imports) or 'numpy', and
    return the one selected before."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    previous, _choice["backend"] = _choice["backend"], backend
    return previous


def compiled():
    """The compiled kernels (a module-like namespace), or None on the numpy path."""
    if _choice["backend"] != "numba":
        return None
    if _choice["compiled"] is None:
        try:
            import numba  # noqa: F401
        except (ImportError, OSError):  # not installed, or refuses this numpy/llvmlite
            _choice["compiled"] = False
        else:  # numba works: a failure from here on is a bug of ours, so it is raised
            from socius.envs import _numba_kernels

            _choice["compiled"] = _numba_kernels
    return _choice["compiled"] or None


def active_backend() -> str:
    """The backend steps actually run on: 'numba' or 'numpy'."""
    return "numba" if compiled() is not None else "numpy"


def agent_constants(world) -> tuple:
    """Each agent's (embodied, role) in the dtypes the kernels take, made once per world."""
    tables = world.info.get("_agent_constants")
    if tables is None:
        tables = world.info["_agent_constants"] = (
            np.ascontiguousarray(world.embodied, dtype=np.bool_),
            np.ascontiguousarray(world.agent_role, dtype=np.int32))
    return tables


def move_agents(world, state: WorldState, actions: np.ndarray, kernels):
    """The moves part of ``core.step`` through the compiled kernel: the moves made (int8,
    0 for agents that may not act), then row, col, moved, occupant and cells."""
    embodied, role = agent_constants(world)
    last_move = np.empty(state.row.shape, dtype=np.int8)
    row = np.empty_like(state.row)
    col = np.empty_like(state.col)
    moved = np.empty(state.row.shape, dtype=bool)
    # The step is pure: the grids it changes are new arrays.
    occupant, cells = state.occupant.copy(), state.cells.copy()
    kernels.move_into(state.cells, state.occupant, state.row, state.col, state.finished,
                      state.step_count, actions, embodied, world.opening_steps, role, world.pad,
                      last_move, row, col, moved, occupant, cells)
    return last_move, row, col, moved, occupant, cells
