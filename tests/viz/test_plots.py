"""Result plots are written as readable PNGs."""

from __future__ import annotations

import imageio.v3 as iio

from socius.viz.plots import grouped_bars


def test_grouped_bars_writes_a_png(tmp_path):
    path = tmp_path / "bars.png"
    groups = {"a": {"x": (50.0, 40.0, 60.0), "y": (80.0, 70.0, 90.0)},
              "b": {"x": (20.0, 10.0, 30.0), "y": (10.0, 5.0, 15.0)}}
    grouped_bars(groups, path, "title", "success %")
    image = iio.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["bars.png"]
