"""Saving the figures ``socius.viz.plots`` draws: atomically, as PNG files."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from socius.societies.runs.files import atomic_write


def save_figure(figure: Figure, path: str | os.PathLike) -> str:
    """Write ``figure`` to ``path`` as a PNG (a temporary file, then a rename); returns the
    path, so a caller can report it."""
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110),
                 suffix=".png")
    return os.fspath(path)
