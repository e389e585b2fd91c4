"""Shared test setup: headless pygame, the tests folder importable, and numba's cache
keyed to the kernels' sources."""

import hashlib
import os
import sys
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "envs"))


def _kernel_cache_dir() -> str:
    """A numba cache folder named by a hash of every file the kernels compile in: numba
    checks only each kernel's own file, so an edited helper or constant would otherwise
    leave the tests running stale compiled code."""
    envs = Path(__file__).resolve().parent.parent / "envs"
    digest = hashlib.sha256()
    for path in sorted([*envs.glob("_numba_*.py"), envs / "state.py", envs / "moves.py"]):
        digest.update(path.name.encode() + path.read_bytes())
    return str(envs.parent / ".numba_cache" / digest.hexdigest()[:16])


os.environ.setdefault("NUMBA_CACHE_DIR", _kernel_cache_dir())


import pytest  # noqa: E402


@pytest.fixture
def one_torch_thread():
    """Pin torch to one thread: learning tests then give the same numbers on every machine
    (reductions split over threads round differently)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
