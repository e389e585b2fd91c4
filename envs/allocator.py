"""The C allocator told to keep freed memory, so that batched steps stop page-faulting.

A batched step frees the last step's arrays (megabytes at B = 4096) and allocates new ones.
glibc's malloc hands large blocks back to the operating system, by ``munmap`` or by
trimming the heap, and the next step's arrays fault their pages in again, one minor fault
per 4 KiB. On this project's virtual machine a fault costs about 3 us: with resets inside
the step, whose arrays change size with the number of worlds that ended, B = 4096 took
about 200,000 faults in 3 s, a third of its time (before restarts were written in place;
since then one batch faults in about half the runs, depending on the heap's history, and
two batches of different sizes in every run). ``keep_freed_memory`` raises glibc's
``M_MMAP_THRESHOLD`` (blocks up to 32 MiB come from the heap) and ``M_TRIM_THRESHOLD``
(up to 256 MiB of free heap is kept), so freed blocks are reused without faulting.

It changes the whole process's allocator, once, on the first ``core.reset``. Set
``SOCIUS_MALLOC=system`` to leave the allocator alone. Where there is no glibc
``mallopt`` (macOS, Windows), it does nothing.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest on 64-bit systems
TRIM_THRESHOLD = 256 * 2**20
CHOICES = ("keep", "system")

_done = {"tuned": None}


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process (unless
    ``SOCIUS_MALLOC=system``); whether the allocator is now tuned."""
    if _done["tuned"] is not None:
        return _done["tuned"]
    choice = os.environ.get("SOCIUS_MALLOC", "keep")
    if choice not in CHOICES:
        raise ValueError(f"the environment variable SOCIUS_MALLOC must be one of {CHOICES}; "
                         f"got {choice!r}")
    tuned = False
    mallopt = glibc_mallopt() if choice == "keep" else None
    if mallopt is not None:
        tuned = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _done["tuned"] = tuned
    return tuned


def glibc_mallopt():
    """glibc's ``mallopt`` from this process's C library, or None where there is none."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library in the process, or not glibc's
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt
