"""TensorBoard view of a run's ``metrics.jsonl``, written without TensorBoard installed.

    socius tensorboard RUN_DIR     # then: tensorboard --logdir RUN_DIR/tensorboard

A TensorBoard event file is a TFRecord stream of ``Event`` protocol buffers. Only scalars
are needed here, so this module encodes the few protobuf fields involved by hand
(``Event.wall_time``, ``step``, ``file_version``, ``summary.value[].tag/simple_value``)
and frames each record with TFRecord's masked CRC-32C checksums.
"""

from __future__ import annotations

import math
import struct
import time
from pathlib import Path

from socius.societies.runs.files import atomic_write
from socius.societies.runs.directory import RunDirectory

EVENTS_NAME = "events.out.tfevents.socius"


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, the checksum TFRecord uses."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, version: str | None = None,
           scalars: dict[str, float] | None = None) -> bytes:
    """One ``Event`` message: a file version, or scalars at ``step``."""
    message = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3) + _varint(step)
    if version is not None:
        message += _field(3, version.encode())
    for tag, value in (scalars or {}).items():
        entry = _field(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)
        message += _field(5, _field(1, entry))
    return message


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _masked(crc32c(length))) + data
            + struct.pack("<I", _masked(crc32c(data))))


def event_bytes(rows: list[dict], step_key: str, wall_time: float | None = None) -> bytes:
    """The event stream of ``rows``: every finite number in a row becomes a scalar."""
    wall_time = time.time() if wall_time is None else wall_time
    stream = [_record(_event(wall_time, 0, version="brain.Event:2"))]
    for row in rows:
        if step_key not in row:
            raise ValueError(f"metrics row has no {step_key!r} to use as the step: {row}")
        scalars = {key: float(value) for key, value in row.items()
                   if key != step_key and isinstance(value, (int, float))
                   and not isinstance(value, bool) and math.isfinite(value)}
        stream.append(_record(_event(wall_time, int(row[step_key]), scalars=scalars)))
    return b"".join(stream)


STEP_KEYS = ("env_steps", "steps", "episodes", "round")
"""Row keys that can serve as the step, in order of preference."""


def export(run_dir: str | Path, step_key: str | None = None) -> Path:
    """Write ``RUN_DIR/tensorboard/`` from ``metrics.jsonl`` (atomically; reruns replace it).
    The step is ``step_key``, or else the first of :data:`STEP_KEYS` the rows hold."""
    path = Path(run_dir)
    rows = RunDirectory(path).rows()
    if not rows:
        raise ValueError(f"{path} has no metrics rows to export")
    if step_key is None:
        step_key = next((key for key in STEP_KEYS if key in rows[0]), STEP_KEYS[0])
    target = path / "tensorboard" / EVENTS_NAME
    target.parent.mkdir(exist_ok=True)
    data = event_bytes(rows, step_key)
    atomic_write(target, lambda temporary: Path(temporary).write_bytes(data))
    return target
