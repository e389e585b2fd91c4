"""Summaries over seeds: means with 95% bootstrap intervals."""

from __future__ import annotations

import numpy as np


def bootstrap_interval(values, generator: np.random.Generator, resamples: int = 10_000,
                       level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its percentile bootstrap interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("bootstrap_interval needs at least one value")
    draws = generator.integers(0, values.size, (resamples, values.size))
    means = values[draws].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(values.mean()), float(low), float(high)


def format_interval(values, generator: np.random.Generator, scale: float = 100.0) -> str:
    """``mean [low, high]`` scaled (percentages by default), for tables."""
    mean, low, high = bootstrap_interval(values, generator)
    return f"{mean * scale:.1f} [{low * scale:.1f}, {high * scale:.1f}]"
