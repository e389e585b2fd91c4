"""The one timing loop the client benchmarks share."""

from __future__ import annotations

import time


def rate(step, duration: float, warmup: int = 3) -> float:
    """Calls of ``step() -> world-steps`` per second over ``duration`` seconds."""
    for _ in range(warmup):
        step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < duration:
        done += step()
    return done / (time.perf_counter() - start)
