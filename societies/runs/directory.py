"""Run directories: the resolved config, ``metrics.jsonl`` and an atomic checkpoint.

A run that is killed resumes from its last checkpoint. Rows logged after that
checkpoint are dropped on resume and written again, so a resumed run's
``metrics.jsonl`` equals an uninterrupted run's row for row (rows hold no clock times;
those go to ``timing.jsonl``).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from socius.societies.runs.files import atomic_write

CHECKPOINT = "checkpoint.pt"
TIMING = "timing.jsonl"
EXPERIMENT = "experiment.txt"
ENVIRONMENT = "environment.jsonl"


class RunDirectory:
    """One run's files under ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path, config: Any, overwrite: bool = False,
               experiment: str = "language") -> RunDirectory:
        """A fresh run directory holding ``config`` (a dataclass) and the name of the
        experiment that made it. It refuses to start over a run already there unless
        ``overwrite`` (then its metrics start afresh)."""
        run = cls(path)
        if (run.path / "config.json").exists() and not overwrite:
            raise ValueError(f"run directory {run.path} already holds a run; resume it with "
                             f"'socius resume {run.path}' or choose another --out")
        run.path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(dataclasses.asdict(config), indent=2)
        atomic_write(run.path / "config.json", lambda p: Path(p).write_text(text))
        atomic_write(run.path / EXPERIMENT, lambda p: Path(p).write_text(experiment + "\n"))
        (run.path / "metrics.jsonl").write_text("")
        return run

    def experiment(self) -> str:
        """The experiment that made the run (``language`` for runs older than the marker)."""
        self.config()  # a clear error when this is no run directory
        marker = self.path / EXPERIMENT
        return marker.read_text().strip() if marker.exists() else "language"

    def config(self) -> dict:
        """The saved config as a dict."""
        target = self.path / "config.json"
        if not target.exists():
            raise ValueError(f"{self.path} is not a run directory: config.json is missing")
        return json.loads(target.read_text())

    def append(self, row: dict, name: str = "metrics.jsonl") -> None:
        """Append one JSON row to ``name``."""
        with open(self.path / name, "a") as handle:
            handle.write(json.dumps(row) + "\n")

    def rows(self, name: str = "metrics.jsonl") -> list[dict]:
        """Every row of ``name`` (a last line cut short by a kill is left out)."""
        target = self.path / name
        if not target.exists():
            return []
        lines = [line for line in target.read_text().splitlines() if line.strip()]
        rows = []
        for number, line in enumerate(lines):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if number != len(lines) - 1:
                    raise ValueError(f"{target} line {number + 1} is not valid JSON") from None
        return rows

    def log(self, row: dict, key: str, started: float) -> None:
        """Append a metrics row, and to ``timing.jsonl`` the wall time since ``started``
        (a ``time.perf_counter()`` reading) at the row's ``key``: clock times stay out of
        the metrics, which must be the same on every rerun."""
        self.append(row)
        self.append({key: row[key], "seconds": round(time.perf_counter() - started, 2)},
                    TIMING)

    def save_checkpoint(self, payload: dict) -> None:
        """Write the checkpoint atomically (a temporary file, then a rename). Only payloads
        with a ``progress`` entry can be resumed by ``load_checkpoint``."""
        atomic_write(self.path / CHECKPOINT, lambda p: torch.save(payload, p), suffix=".pt")

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint, or None if the run has none yet; a corrupt file is an error."""
        target = self.path / CHECKPOINT
        if not target.exists():
            return None
        try:
            payload = torch.load(target, weights_only=False)
        except Exception as error:  # torch raises several kinds for a damaged file
            raise ValueError(f"checkpoint {target} is corrupt or unreadable: {error}") from None
        if not isinstance(payload, dict) or "progress" not in payload:
            raise ValueError(f"checkpoint {target} is not a socius checkpoint "
                             "(no 'progress' entry)")
        return payload

    def has_checkpoint(self) -> bool:
        """Whether the run has saved a checkpoint yet (without reading it)."""
        return (self.path / CHECKPOINT).exists()

    def require_checkpoint(self) -> dict:
        """The last checkpoint; a clear error when the run has none yet (or it is corrupt)."""
        checkpoint = self.load_checkpoint()
        if checkpoint is None:
            raise ValueError(f"{self.path} has no checkpoint yet")
        return checkpoint

    def truncate(self, progress: int, key: str, name: str = "metrics.jsonl") -> None:
        """Keep only rows whose ``key`` is at most ``progress`` (rows after a checkpoint)."""
        kept = [row for row in self.rows(name) if row.get(key, 0) <= progress]
        text = "".join(json.dumps(row) + "\n" for row in kept)
        atomic_write(self.path / name, lambda p: Path(p).write_text(text))


def open_run(out: str | Path | None, config: Any, experiment: str) -> RunDirectory | None:
    """The run directory ``out`` for ``config``: created when new, reopened to resume when it
    holds the same config, an error when it holds another (None when ``out`` is None).

    Either way torch is pinned to ``config.threads`` threads, so the run's numbers do not
    depend on the machine's OMP_NUM_THREADS; the run directory records that count and the
    package versions in ``environment.jsonl``, one row per start or resume.
    """
    pin_threads(config)
    if out is None:
        return None
    run = RunDirectory(out)
    if (run.path / "config.json").exists():
        saved = run.config()
        current = json.loads(json.dumps(dataclasses.asdict(config)))
        # Fields added after the run was made are not in its file; it ran at their defaults.
        if saved != restricted(current, saved):
            raise ValueError(f"run directory {run.path} holds a run with another config; "
                             "resume it with its own config or choose another --out")
        world = getattr(config, "world", None)
        previous = getattr(type(world), "PREVIOUS_DEFAULTS", {})
        older = [key for key, value in previous.items() if isinstance(saved.get("world"), dict)
                 and key not in saved["world"] and getattr(world, key) != value]
        older_config = [key for key, value in getattr(type(config), "PREVIOUS_DEFAULTS",
                                                      {}).items()
                        if key not in saved and getattr(config, key) != value]
        if older or older_config:
            kind = type(world if older else config).__name__
            raise ValueError(f"run directory {run.path} was trained before it had "
                             f"{older or older_config} (an older {kind}); continue it with "
                             f"'socius resume {run.path}', which keeps its task, or choose "
                             "another --out")
        if run.experiment() != experiment:
            raise ValueError(f"run directory {run.path} holds a {run.experiment()} run, "
                             f"not a {experiment} run; choose another --out")
    else:
        run = RunDirectory.create(out, config, experiment=experiment)
    run.append(environment(), ENVIRONMENT)
    return run


def restricted(values: dict, keys_of: dict) -> dict:
    """``values`` with only the keys ``keys_of`` has, nested dicts alike (a saved config
    lacks the fields added after its run was made)."""
    return {key: restricted(value, keys_of[key])
            if isinstance(value, dict) and isinstance(keys_of[key], dict) else value
            for key, value in values.items() if key in keys_of}


def pin_threads(config: Any) -> None:
    """Set torch's intra-op thread count to the config's ``threads`` (1 when it has none)."""
    threads = getattr(config, "threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"config field 'threads' must be an integer >= 1; got {threads!r}")
    torch.set_num_threads(threads)


def environment() -> dict:
    """What a run ran on: torch threads, Python, platform and package versions."""
    packages = {}
    for name in ("socius", "torch", "numpy", "scipy", "gymnasium", "pettingzoo"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {"threads": torch.get_num_threads(), "python": platform.python_version(),
            "platform": platform.platform(), "packages": packages}
