"""Write rendered frames to GIF and PNG files atomically (temp file, then ``os.replace``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from socius.envs.files import atomic_write


def _as_frame(frame: np.ndarray) -> np.ndarray:
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [H, W, 3]; got {array.dtype} {array.shape}")
    return array


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 4) -> None:
    """Write uint8 [H, W, 3] frames of one shape to an endlessly looping GIF at ``path``."""
    import imageio.v3 as iio

    if len(frames) == 0:
        raise ValueError("save_gif needs at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be > 0; got {fps!r}")
    stack = np.stack([_as_frame(f) for f in frames])
    atomic_write(path, suffix=".gif", write=lambda temporary: iio.imwrite(
        temporary, stack, extension=".gif", duration=1000.0 / fps, loop=0))


def save_png(frame: np.ndarray, path: str | os.PathLike) -> None:
    """Write one uint8 [H, W, 3] frame to a PNG at ``path``."""
    import imageio.v3 as iio

    image = _as_frame(frame)
    atomic_write(path, suffix=".png",
                 write=lambda temporary: iio.imwrite(temporary, image, extension=".png"))
