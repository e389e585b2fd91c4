"""Markdown tables of means over seeds with 95% bootstrap intervals: the one table writer.

Every experiment summary (the grid, ``summarize`` of collection and navigation, the
example scripts) prints ``mean [low, high]`` per condition and measure; they all call
:func:`interval_table`, or :func:`interval_cell` for a single figure. Intervals come from
:func:`socius.societies.runs.statistics.bootstrap_interval`. Markdown is written by hand:
it is one line per row, and a table library would add a dependency for a join.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from socius.societies.runs.statistics import bootstrap_interval

AUTO = "auto"
"""The default number format: ``.0f`` when ``|mean| >= 100``, else ``.3g``."""

Values = Sequence[float | None] | str | None
"""A cell's input: the per-seed values (None where a seed has no value), or a text."""


def _spec(spec: str, mean: float) -> str:
    if spec != AUTO:
        return spec
    return ".0f" if abs(mean) >= 100 else ".3g"


def interval_cell(values: Sequence[float], generator: np.random.Generator, spec: str = AUTO,
                  scale: float = 1.0, seeds: bool = False) -> str:
    """``mean [low, high]`` of ``values`` times ``scale``; ``seeds`` appends each value."""
    mean, low, high = (scale * v for v in bootstrap_interval(values, generator))
    spec = _spec(spec, mean)
    text = f"{mean:{spec}} [{low:{spec}}, {high:{spec}}]"
    if seeds:
        text += " (" + ", ".join(f"{scale * value:{spec}}" for value in values) + ")"
    return text


def _option(option, column: str, default):
    """A per-column option: one value for every column, or a mapping with a default."""
    if isinstance(option, Mapping):
        return option.get(column, default)
    return option


def interval_table(rows: Mapping[str, Mapping[str, Values]], columns: Sequence[str],
                   generator: np.random.Generator, *, label: str = "condition",
                   formats: str | Mapping[str, str] = AUTO,
                   scale: float | Mapping[str, float] = 1.0,
                   missing: str | Mapping[str, str] = "-", seeds: bool = False,
                   transpose: bool = False) -> str:
    """A markdown table of ``mean [low, high]`` over seeds: one row per ``rows`` entry.

    ``rows[name][column]`` holds the per-seed values, or a text printed as it is (a seed
    count, a step). A column with no values prints '-'; one where a seed has None prints
    ``missing`` (e.g. "never" for a steps-to-threshold that a seed never reached).
    ``formats``, ``scale`` and ``missing`` are one value for all columns or a mapping per
    column; ``seeds`` appends the per-seed values; ``transpose`` puts the measures in rows
    and the conditions in columns, as EXPERIMENTS.md lays out its claims. Cells are drawn
    row by row, so the same generator state gives the same table.
    """
    grid = [[label, *columns]]
    for name, measures in rows.items():
        cells = [name]
        for column in columns:
            values = measures.get(column)
            if isinstance(values, str):
                cells.append(values)
            elif values is None or len(values) == 0:
                cells.append("-")
            elif any(value is None for value in values):
                cells.append(_option(missing, column, "-"))
            else:
                cells.append(interval_cell(values, generator, _option(formats, column, AUTO),
                                           _option(scale, column, 1.0), seeds))
        grid.append(cells)
    if transpose:
        grid = [list(line) for line in zip(*grid)]
    lines = ["| " + " | ".join(grid[0]) + " |", "|---" * len(grid[0]) + "|"]
    lines += ["| " + " | ".join(line) + " |" for line in grid[1:]]
    return "\n".join(lines)
