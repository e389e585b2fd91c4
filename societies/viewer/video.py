"""Write rendered frames to GIF, MP4 and PNG files atomically (a temporary file, then a
rename): the viewer's and the recorder's output. ``socius.viz`` draws the frames."""

from __future__ import annotations

import os
from collections.abc import Sequence

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np

from socius.societies.runs.files import atomic_write


def _as_frame(frame: np.ndarray) -> np.ndarray:
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [H, W, 3]; got {array.dtype} {array.shape}")
    return array


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 4) -> None:
    """Write uint8 [H, W, 3] frames of one shape to an endlessly looping GIF at ``path``."""
    if len(frames) == 0:
        raise ValueError("save_gif needs at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be > 0; got {fps!r}")
    stack = np.stack([_as_frame(f) for f in frames])
    atomic_write(path, suffix=".gif", write=lambda temporary: iio.imwrite(
        temporary, stack, extension=".gif", duration=1000.0 / fps, loop=0))


def save_png(frame: np.ndarray, path: str | os.PathLike) -> None:
    """Write one uint8 [H, W, 3] frame to a PNG at ``path``."""
    image = _as_frame(frame)
    atomic_write(path, suffix=".png",
                 write=lambda temporary: iio.imwrite(temporary, image, extension=".png"))


def save_video(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 6) -> None:
    """Write frames as a GIF or an MP4 (H.264, needs ``imageio-ffmpeg``), chosen by suffix."""
    suffix = os.fspath(path).rsplit(".", 1)[-1].lower()
    if suffix == "gif":
        save_gif(frames, path, fps=fps)
        return
    if suffix != "mp4":
        raise ValueError(f"out must end in .gif or .mp4; got {os.fspath(path)!r}")
    if len(frames) == 0:
        raise ValueError("save_video needs at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be > 0; got {fps!r}")
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        raise ValueError("writing .mp4 needs imageio-ffmpeg: pip install 'socius[video]' "
                         "(or write a .gif)") from None
    stack = np.stack([_as_frame(f) for f in frames])
    # H.264 wants even sides; pad with the frame's own edge rather than resizing.
    height, width = stack.shape[1:3]
    stack = np.pad(stack, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")

    def write(temporary: str) -> None:
        with imageio.get_writer(temporary, format="FFMPEG", mode="I", fps=fps,
                                codec="libx264", macro_block_size=1,
                                pixelformat="yuv420p") as writer:
            for frame in stack:
                writer.append_data(frame)

    atomic_write(path, write, suffix=".mp4")
