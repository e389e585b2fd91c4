"""Bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from socius.societies.runs.statistics import bootstrap_interval, format_interval


def test_interval_brackets_the_mean_and_shrinks_with_agreement():
    generator = np.random.default_rng(0)
    mean, low, high = bootstrap_interval([0.8, 0.9, 1.0], generator)
    assert low <= mean <= high and mean == pytest.approx(0.9)
    same = bootstrap_interval([0.5, 0.5, 0.5], generator)
    assert same == (0.5, 0.5, 0.5)
    assert high - low > 0.05


def test_format_and_errors():
    assert format_interval([1.0, 1.0], np.random.default_rng(0)) == "100.0 [100.0, 100.0]"
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_interval([], np.random.default_rng(0))
