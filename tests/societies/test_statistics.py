"""Bootstrap intervals and the markdown tables built on them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from socius.societies.runs.statistics import bootstrap_interval
from socius.societies.runs.tables import interval_cell, interval_table


def test_interval_brackets_the_mean_and_shrinks_with_agreement():
    generator = np.random.default_rng(0)
    mean, low, high = bootstrap_interval([0.8, 0.9, 1.0], generator)
    assert low <= mean <= high and mean == pytest.approx(0.9)
    assert high - low > 0.05
    narrow = bootstrap_interval([0.89, 0.9, 0.91], generator)
    assert narrow[2] - narrow[1] < (high - low) / 5


def test_interval_is_a_percentile_of_resampled_means():
    # Seven values: the 2.5% and 97.5% points of 10,000 resampled means lie strictly
    # inside the range and near mean -/+ 1.96 standard errors.
    values = np.array([0.1, 0.4, 0.35, 0.8, 0.55, 0.6, 0.2])
    mean, low, high = bootstrap_interval(values, np.random.default_rng(1))
    error = values.std() / np.sqrt(len(values))
    assert values.min() < low < mean < high < values.max()
    assert low == pytest.approx(mean - 1.96 * error, abs=0.03)
    assert high == pytest.approx(mean + 1.96 * error, abs=0.03)
    again = bootstrap_interval(values, np.random.default_rng(1))
    assert again == (mean, low, high)


def test_one_value_or_equal_values_give_a_point_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_interval([0.5, 0.5, 0.5], np.random.default_rng(0)) == (0.5, 0.5, 0.5)
        assert bootstrap_interval([3.0], np.random.default_rng(0)) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_interval([], np.random.default_rng(0))


def test_cells_scale_and_format():
    generator = np.random.default_rng(0)
    assert interval_cell([1.0, 1.0], generator, ".1f", scale=100) == "100.0 [100.0, 100.0]"
    assert interval_cell([0.25, 0.25], generator, seeds=True) == "0.25 [0.25, 0.25] (0.25, 0.25)"
    assert interval_cell([1234.0, 1234.0], generator) == "1234 [1234, 1234]"


def test_table_layout_text_cells_and_missing_values():
    rows = {"hier": {"seeds": "2/3", "coverage": [0.5, 0.5], "steps_to_90": [1200.0, 1200.0]},
            "random": {"seeds": "3/3", "coverage": [0.25, 0.25, 0.25],
                       "steps_to_90": [1000.0, None, 800.0]},
            "none": {"seeds": "0/3"}}
    table = interval_table(rows, ["seeds", "coverage", "steps_to_90"],
                           np.random.default_rng(0), label="collector",
                           missing={"steps_to_90": "never"})
    assert table.splitlines() == [
        "| collector | seeds | coverage | steps_to_90 |",
        "|---|---|---|---|",
        "| hier | 2/3 | 0.5 [0.5, 0.5] | 1200 [1200, 1200] |",
        "| random | 3/3 | 0.25 [0.25, 0.25] | never |",
        "| none | 0/3 | - | - |"]
    percent = interval_table({"a": {"success": [0.5, 0.5]}, "b": {"success": [1.0, 1.0]}},
                             ["success"], np.random.default_rng(0), label="measure",
                             formats=".1f", scale=100, transpose=True)
    assert percent.splitlines() == ["| measure | a | b |", "|---|---|---|",
                                    "| success | 50.0 [50.0, 50.0] | 100.0 [100.0, 100.0] |"]


def test_tables_are_reproducible_from_the_generator_state():
    # Twelve values: with fewer, the resampled means take so few values that their
    # percentiles rarely depend on the draws.
    rows = {name: {"x": list(np.random.default_rng(k).random(12))} for k, name in
            enumerate("abc")}
    first = interval_table(rows, ["x"], np.random.default_rng(3), formats=".6f")
    assert first == interval_table(rows, ["x"], np.random.default_rng(3), formats=".6f")
    assert first != interval_table(rows, ["x"], np.random.default_rng(4), formats=".6f")


def test_a_nan_value_gives_a_nan_interval_not_an_error():
    # A distance bucket without pairs logs NaN; the table shows nan rather than failing.
    mean, low, high = bootstrap_interval([0.5, float("nan"), 0.7], np.random.default_rng(0))
    assert np.isnan(mean) and np.isnan(low) and np.isnan(high)
