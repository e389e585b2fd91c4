"""TensorBoard view of a run's ``metrics.jsonl``, written by ``torch.utils.tensorboard``.

    socius tensorboard RUN_DIR     # then: tensorboard --logdir RUN_DIR/tensorboard

torch's ``SummaryWriter`` is used rather than tensorboardX: torch is already a core
dependency, and its writer needs only the ``tensorboard`` package, which a user needs
anyway to read the events; tensorboardX would add a second writer of the same format.
Scalars are stored as TensorBoard's classic 32-bit ``simple_value``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from socius.societies.runs.directory import RunDirectory

STEP_KEYS = ("env_steps", "steps", "episodes", "round", "step")
"""Row keys that can serve as the step, in order of preference."""

EVENTS_GLOB = "events.out.tfevents.*"
"""The name pattern of the event file ``SummaryWriter`` writes."""


def scalars(row: dict, step_key: str) -> dict[str, float]:
    """The finite numbers of a metrics row (booleans, texts and the step key left out)."""
    return {key: float(value) for key, value in row.items()
            if key != step_key and isinstance(value, (int, float))
            and not isinstance(value, bool) and math.isfinite(value)}


def write_events(rows: list[dict], step_key: str, log_dir: str | Path) -> Path:
    """Write every row's scalars at step ``row[step_key]`` into ``log_dir``; the event file."""
    wall_time = time.time()
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for row in rows:
            if step_key not in row:
                raise ValueError(f"metrics row has no {step_key!r} to use as the step: {row}")
            for tag, value in scalars(row, step_key).items():
                writer.add_scalar(tag, value, int(row[step_key]), walltime=wall_time)
    finally:
        writer.close()
    return next(Path(log_dir).glob(EVENTS_GLOB))


def export(run_dir: str | Path, step_key: str | None = None) -> Path:
    """Write ``RUN_DIR/tensorboard/`` from ``metrics.jsonl`` (reruns replace it); the event file.

    The step is ``step_key``, or else the first of :data:`STEP_KEYS` the rows hold.
    """
    path = Path(run_dir)
    rows = RunDirectory(path).rows()
    if not rows:
        raise ValueError(f"{path} has no metrics rows to export")
    if step_key is None:
        step_key = next((key for key in STEP_KEYS if key in rows[0]), STEP_KEYS[0])
    target = path / "tensorboard"
    # Written beside the target and renamed into place: a reader never sees half a
    # directory, and a failed export leaves the previous one as it was.
    fresh = Path(tempfile.mkdtemp(dir=path, prefix=".tensorboard-new-"))
    stale = None
    try:
        # mkdtemp makes a 0700 directory; give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(fresh, 0o777 & ~umask)
        name = write_events(rows, step_key, fresh).name
        if target.exists():
            # A directory cannot be renamed onto a non-empty one: move the old one aside.
            stale = Path(tempfile.mkdtemp(dir=path, prefix=".tensorboard-old-")) / "tensorboard"
            os.replace(target, stale)
        os.replace(fresh, target)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        if stale is not None and not target.exists():
            os.replace(stale, target)
        raise
    finally:
        if stale is not None:
            shutil.rmtree(stale.parent, ignore_errors=True)
    return target / name
