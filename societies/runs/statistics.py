"""Summaries over seeds: means with 95% bootstrap intervals (``scipy.stats.bootstrap``).

The interval is scipy's percentile bootstrap, which keeps the meaning the tables have
always had. BCa is not used: with the three to five seeds of a table, its jackknife
acceleration rests on as many points and is no better than the percentile interval.
Tables are written by :mod:`socius.societies.runs.tables`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def bootstrap_interval(values, generator: np.random.Generator, resamples: int = 10_000,
                       level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its percentile bootstrap interval."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("bootstrap_interval needs at least one value")
    mean = float(values.mean())
    if (values == values[0]).all() or not np.isfinite(values).all():
        # scipy needs two values, and warns (or gives nan) when the resamples never vary;
        # a NaN (a bucket with no pairs) makes the mean NaN, and the interval with it.
        return mean, mean, mean
    result = stats.bootstrap((values,), np.mean, n_resamples=resamples, vectorized=True,
                             confidence_level=level, method="percentile", rng=generator)
    interval = result.confidence_interval
    return mean, float(interval.low), float(interval.high)
