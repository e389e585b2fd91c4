"""Result plots are drawn as figures and saved as readable PNGs."""

from __future__ import annotations

import imageio.v3 as iio

from socius.societies.runs.figures import save_figure
from socius.viz.plots import grouped_bars, training_curves


def test_grouped_bars_writes_a_png(tmp_path):
    path = tmp_path / "bars.png"
    groups = {"a": {"x": (50.0, 40.0, 60.0), "y": (80.0, 70.0, 90.0)},
              "b": {"x": (20.0, 10.0, 30.0), "y": (10.0, 5.0, 15.0)}}
    figure = grouped_bars(groups, "title", "success %")
    assert [bar.get_height() for bar in figure.axes[0].patches] == [50.0, 80.0, 20.0, 10.0]
    assert save_figure(figure, path) == str(path)
    image = iio.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["bars.png"]


def test_training_curves_draw_one_panel_per_entry_with_one_line_per_key():
    rows = [{"step": step, "a": step / 10, "b": 1 - step / 10} for step in range(5)]
    figure = training_curves(rows, "step", {"first": ["a", "b"], "second": ["a"]}, "title",
                             reference={"a": 0.5})
    first, second = figure.axes
    assert [line.get_label() for line in first.lines[:2]] == ["a", "b"]
    assert list(first.lines[0].get_xdata()) == [0, 1, 2, 3, 4]
    assert len(second.lines) == 2  # the curve and its dashed reference line
