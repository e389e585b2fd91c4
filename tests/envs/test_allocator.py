"""The allocator setting: batched steps with resets stop faulting pages in."""

from __future__ import annotations

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
sizes = (4096, 3000)  # two batches, as a trainer's and an evaluator's
pools = {b: [(rng.random((b, 2, len(high))) * high).astype(np.int64) for _ in range(8)]
         for b in sizes}
states = {b: core.reset(world, 0, b)[0] for b in sizes}
def run(steps):
    for k in range(steps):
        for b in sizes:
            states[b], _ = core.step(world, states[b], pools[b][k % 8])
run(20)  # the heap grows to its working size first
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
run(40)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(setting: str) -> int:
    """Minor page faults over 40 steps of two batches (4,096 and 3,000 worlds, resets
    inside), in a fresh process. One batch alone settled into a heap that did not fault
    in about half the runs with the system's setting, so that test could not tell."""
    done = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True,
                          env={**os.environ, "SOCIUS_MALLOC": setting})
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(allocator.glibc_mallopt() is None, reason="glibc's mallopt is needed")
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
