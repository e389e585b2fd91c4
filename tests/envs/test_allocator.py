"""The allocator setting: batched steps with resets stop faulting pages in."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from socius.envs import allocator

_FAULTS = """
import resource
import numpy as np
from socius.envs import core, referential_v0
world = referential_v0.build_world(referential_v0.CONFIG())
rng = np.random.default_rng(0)
high = world.info["action_high"]
pool = [(rng.random((4096, 2, len(high))) * high).astype(np.int64) for _ in range(8)]
state, _ = core.reset(world, 0, 4096)
for k in range(20):  # the heap grows to its working size first
    state, _ = core.step(world, state, pool[k % 8])
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for k in range(40):
    state, _ = core.step(world, state, pool[k % 8])
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(setting: str) -> int:
    """Minor page faults over 40 steps of 4,096 worlds with resets, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True,
                          env={**os.environ, "SOCIUS_MALLOC": setting})
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def _has_mallopt() -> bool:
    """Whether this process's C library is one with glibc's ``mallopt``."""
    try:
        return hasattr(ctypes.CDLL(None), "mallopt") and sys.platform.startswith("linux")
    except OSError:
        return False


@pytest.mark.skipif(not _has_mallopt(), reason="glibc's mallopt is needed")
def test_kept_memory_spares_the_page_faults_of_freed_blocks():
    """With the allocator left alone, freed megabyte blocks go back to the system and fault
    in again; with freed memory kept, almost none do."""
    kept, system = _page_faults("keep"), _page_faults("system")
    assert kept * 4 < system, (kept, system)


def test_a_misspelt_allocator_setting_is_named(monkeypatch):
    """SOCIUS_MALLOC=kep fails with the variable's name and its choices."""
    monkeypatch.setitem(allocator._done, "tuned", None)
    monkeypatch.setenv("SOCIUS_MALLOC", "kep")
    with pytest.raises(ValueError, match="SOCIUS_MALLOC must be one of"):
        allocator.keep_freed_memory()
