"""Matplotlib figures of experiment results. They only draw: each function returns a
``Figure`` and the caller saves it (``socius.societies.runs.figures.save_figure``).

Every figure comes from :func:`new_figure`, the one matplotlib setup: the object-oriented
API (``matplotlib.figure.Figure``) with no pyplot state and no backend to switch, so
figures can be drawn in worker processes and threads without a display.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def new_figure(panels: int = 1, size: tuple[float, float] = (4.2, 3.4)):
    """A figure with ``panels`` axes side by side: ``(figure, axes[panels])``."""
    figure = Figure(figsize=size)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, axes


def grouped_bars(groups: dict[str, dict[str, tuple[float, float, float]]], title: str,
                 ylabel: str) -> Figure:
    """Bars of ``mean`` with ``[low, high]`` error bars: one bar group per column, one colour
    per name (``groups[name][column] = (mean, low, high)``)."""
    names = list(groups)
    columns = list(next(iter(groups.values())))
    width = 0.8 / len(names)
    figure, (axes,) = new_figure(1, (1.6 * len(columns) + 3.5, 3.6))
    for i, name in enumerate(names):
        stats = np.array([groups[name][c] for c in columns])
        positions = np.arange(len(columns)) + (i - (len(names) - 1) / 2) * width
        axes.bar(positions, stats[:, 0], width, label=name,
                 yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]], capsize=3)
    axes.set_xticks(np.arange(len(columns)), columns)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    return figure


def training_curves(rows: list[dict], x: str, panels: dict[str, list[str]], title: str,
                    reference: dict[str, float] | None = None) -> Figure:
    """One panel per entry of ``panels`` (panel title -> row keys), each key drawn against
    ``x`` over the rows; ``reference`` adds dashed horizontal lines (e.g. chance)."""
    figure, axes = new_figure(len(panels), (4.2 * len(panels), 3.4))
    steps = [row[x] for row in rows]
    for axis, (panel, keys) in zip(axes, panels.items()):
        for key in keys:
            axis.plot(steps, [row.get(key, float("nan")) for row in rows], marker="o",
                      markersize=3, label=key)
        for name, level in (reference or {}).items():
            if name in keys:
                axis.axhline(level, linestyle="--", color="grey", linewidth=1)
        axis.set_title(panel)
        axis.set_xlabel(x)
        axis.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def seed_bands(runs: dict[str, list[list[dict]]], x: str, panels: dict[str, str],
               title: str = "", reference: dict[str, float] | None = None) -> Figure:
    """Learning curves with seed bands: for each condition (``runs[name]`` = one list of
    metric rows per seed), the mean over seeds of ``row[key]`` against ``row[x]``, shaded
    from the lowest to the highest seed; one panel per entry of ``panels`` (title -> key),
    ``reference`` adds a dashed line to a panel (title -> level)."""
    figure, axes = new_figure(len(panels), (4.6 * len(panels), 3.6))
    for axis, (panel, key) in zip(axes, panels.items()):
        for index, (name, tables) in enumerate(runs.items()):
            # Rows without the key (e.g. rounds without an evaluation) are left out.
            tables = [kept for kept in ([row for row in rows if key in row] for rows in tables)
                      if kept]
            if not tables:
                continue
            length = min(len(rows) for rows in tables)
            steps = np.array([row[x] for row in tables[0][:length]])
            values = np.array([[row[key] for row in rows[:length]] for rows in tables])
            # A condition keeps its colour in every panel, even where another lacks a key.
            colour = f"C{index % 10}"
            axis.plot(steps, values.mean(0), label=f"{name} ({len(tables)})", color=colour)
            axis.fill_between(steps, values.min(0), values.max(0), alpha=0.2, color=colour)
        if reference and panel in reference:
            axis.axhline(reference[panel], linestyle="--", color="grey", linewidth=1)
        axis.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
        axis.set(title=panel, xlabel=x)
        axis.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def heatmaps(grids: dict[str, np.ndarray], title: str, blocked: np.ndarray | None = None,
             label: str = "") -> Figure:
    """One heatmap panel per entry of ``grids`` (name -> ``[H, W]`` values) on a shared
    colour scale, ``blocked`` cells (e.g. walls) drawn black."""
    names = list(grids)
    figure, axes = new_figure(len(names), (3.2 * len(names) + 0.8, 3.4))
    high = max(float(np.nanmax(grid)) for grid in grids.values())
    image = None
    for axis, name in zip(axes, names):
        grid = np.ma.masked_where(blocked, grids[name]) if blocked is not None else grids[name]
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="black")
        image = axis.imshow(grid, cmap=cmap, vmin=0, vmax=high)
        axis.set_title(name, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(image, ax=axes.tolist(), shrink=0.8, label=label)
    figure.suptitle(title)
    return figure


def matrix_heatmap(matrix: np.ndarray, title: str, xlabel: str, ylabel: str,
                   xticks: list[str] | None = None, yticks: list[str] | None = None,
                   label: str = "", vmin: float | None = None,
                   vmax: float | None = None) -> Figure:
    """One annotated heatmap of ``matrix [R, C]`` (e.g. cross-play success, token usage),
    NaN cells left blank."""
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"matrix must be 2-D [rows, columns]; got shape {values.shape}")
    rows, columns = values.shape
    figure, (axis,) = new_figure(1, (min(12, 1.2 + 0.55 * columns + 1.5),
                                     min(10, 1.4 + 0.45 * rows)))
    image = axis.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=vmin, vmax=vmax,
                        aspect="auto")
    if rows * columns <= 400:
        middle = np.nanmean(values) if np.isfinite(values).any() else 0.0
        for r in range(rows):
            for c in range(columns):
                if np.isfinite(values[r, c]):
                    axis.text(c, r, f"{values[r, c]:.2f}", ha="center", va="center", fontsize=7,
                              color="black" if values[r, c] > middle else "white")
    axis.set_xticks(np.arange(columns), xticks or [str(c) for c in range(columns)], fontsize=8)
    axis.set_yticks(np.arange(rows), yticks or [str(r) for r in range(rows)], fontsize=8)
    axis.set(xlabel=xlabel, ylabel=ylabel, title=title)
    figure.colorbar(image, ax=axis, shrink=0.85, label=label)
    figure.tight_layout()
    return figure
