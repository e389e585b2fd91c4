"""TensorBoard export: TFRecord framing, and (when TensorBoard is installed) its own reader."""

from __future__ import annotations

import json
import struct

import pytest

from socius.societies.runs import tensorboard


def test_crc32c_matches_the_standard_check_value():
    # The CRC-32C check value of the ASCII digits 1-9 (RFC 3720, appendix B.4).
    assert tensorboard.crc32c(b"123456789") == 0xE3069283


def read_records(data: bytes) -> list[bytes]:
    records, offset = [], 0
    while offset < len(data):
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
        assert header_crc == tensorboard._masked(tensorboard.crc32c(header))
        payload = data[offset + 12:offset + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
        assert payload_crc == tensorboard._masked(tensorboard.crc32c(payload))
        records.append(payload)
        offset += 16 + length
    return records


def write_run(path, rows):
    path.mkdir()
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_export_frames_one_record_per_row_plus_the_version(tmp_path):
    rows = [{"episodes": 100, "success": 0.25, "label": "x"},
            {"episodes": 200, "success": 0.5, "cic": float("nan")}]
    write_run(tmp_path / "run", rows)
    records = read_records(tensorboard.export(tmp_path / "run").read_bytes())
    assert len(records) == 3
    assert b"brain.Event:2" in records[0]
    assert b"success" in records[1] and b"label" not in records[1]
    assert struct.pack("<f", 0.5) in records[2] and b"cic" not in records[2]


def test_export_without_rows_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no metrics rows"):
        tensorboard.export(tmp_path / "empty")


def test_tensorboard_reads_the_scalars_back(tmp_path):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="TensorBoard is not installed; the framing tests above still run")
    write_run(tmp_path / "run", [{"episodes": 100, "success": 0.25},
                                 {"episodes": 200, "success": 0.5}])
    tensorboard.export(tmp_path / "run")
    events = accumulator.EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    scalars = events.Scalars("success")
    assert [s.step for s in scalars] == [100, 200]
    assert [s.value for s in scalars] == pytest.approx([0.25, 0.5])
