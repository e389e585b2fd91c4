"""The ``Experiment`` record: everything the CLI, the grid, the viewer and the plots need
of one experiment, so that none of them dispatches on experiment names.

Each experiment sub-package builds its record in its ``experiment.py``; the registry,
``socius.societies.experiments``, lists them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socius.envs.settings import configure
from socius.societies.runs.directory import RunDirectory, pin_threads
from socius.societies.runs.files import atomic_write
from socius.societies.runs.tensorboard import export as export_tensorboard

EVALUATION = "evaluation.json"
"""The full evaluation of a run's last checkpoint, in its run directory."""


@dataclass(frozen=True)
class Experiment:
    """One experiment: its config, how it trains, evaluates, plots and seats its agents."""

    name: str
    """The name on the command line and in a run's ``experiment.txt``."""
    description: str
    """One line for ``socius run --help``."""
    config_class: type
    """A frozen dataclass; its ``world`` field nests the world's config."""
    default_config: str | None
    """The shipped YAML config ``socius run NAME`` starts from (None: the class defaults)."""
    train: Callable[..., list[dict]]
    """``train(config, out, progress=...)``: train, or continue from the checkpoint in
    ``out``; returns every metrics row."""
    evaluate: Callable[[str | Path], dict]
    """``evaluate(run_dir)``: every measure of the run's last checkpoint."""
    plot: Callable[[str | Path], dict]
    """``plot(run_dir)``: the run's own figures; returns their paths by name."""
    progress_key: str
    """The metrics-row key that counts training (``round``, ``env_steps``, ...)."""
    summary_keys: tuple[str, ...]
    """The evaluation figures printed when a run ends."""
    curves: tuple[str, dict[str, str]]
    """What overlays and grids draw: the x key, and panel title -> metric key."""
    final: tuple[str, ...]
    """The ``evaluation.json`` figures a grid tabulates per cell."""
    load_policy: Callable[[str | Path], Any] | None = None
    """``load_policy(run_dir) -> Cast``: the run's world and trained agents for the viewer
    (None: the run has no agents to seat)."""
    report: Callable[[list, str | None], str] | None = field(default=None)
    """``report(run_dirs, figures)``: a markdown table over finished runs (``socius report``)."""
    legacy: Callable[[dict], dict] | None = field(default=None)
    """``legacy(saved)``: a flat ``config.json`` of a run made before configs nested their
    world, with keys that changed meaning translated (keys that only moved need nothing)."""
    last_row_evaluates: bool = False
    """The last metrics row holds every figure ``evaluate`` gives for the final checkpoint
    (the same seeded evaluation), so ``run`` saves it instead of evaluating again."""

    def config_from(self, settings: Mapping[str, Any] | None = None,
                    overrides: list[str] | tuple[str, ...] = ()) -> Any:
        """The experiment's config from a YAML mapping and ``key=value`` overrides."""
        return configure(self.config_class, settings, overrides)

    def config_of(self, run_dir: str | Path) -> Any:
        """The config saved in a run directory (flat configs of older runs are read too)."""
        saved = RunDirectory(run_dir).config()
        if self.legacy is not None and "world" not in saved:
            saved = self.legacy(saved)
        saved = nest_world_keys(self.config_class, saved)
        # Fields the config gained after the run was made: what the run trained with.
        previous_run = getattr(self.config_class, "PREVIOUS_DEFAULTS", {})
        saved = {**{key: value for key, value in previous_run.items() if key not in saved},
                 **saved}
        world = getattr(self.config_class(), "world", None)
        previous = getattr(type(world), "PREVIOUS_DEFAULTS", {})
        if isinstance(saved.get("world"), dict) and previous:
            # Fields the world gained after the run was made: the task the run trained on.
            saved = {**saved, "world": {**{key: value for key, value in previous.items()
                                           if key not in saved["world"]}, **saved["world"]}}
        return configure(self.config_class, saved)

    def run(self, config: Any, out: str | Path, progress: bool = True) -> dict:
        """Train (or continue) the run in ``out``, evaluate it, plot it and export its
        metrics to TensorBoard; returns the summary printed for it."""
        rows = self.train(config, out, progress=progress)
        report = self.save_evaluation(out, rows[-1]) if self.last_row_evaluates and rows \
            else self.evaluate_run(out)
        figures = self.plot(out)
        export_tensorboard(out)
        summary = {key: round(report[key], 3) if isinstance(report[key], float) else report[key]
                   for key in self.summary_keys if key in report}
        return {"run": str(out), self.progress_key: rows[-1][self.progress_key] if rows else 0,
                **summary, **figures}

    def resume(self, run_dir: str | Path, progress: bool = True) -> dict:
        """Continue a killed run from its last checkpoint."""
        return self.run(self.config_of(run_dir), run_dir, progress)

    def evaluate_run(self, run_dir: str | Path) -> dict:
        """Evaluate the run's last checkpoint and save the report as ``evaluation.json``
        (at the run's own torch thread count)."""
        pin_threads(self.config_of(run_dir))
        return self.save_evaluation(run_dir, self.evaluate(run_dir))

    def save_evaluation(self, run_dir: str | Path, report: dict) -> dict:
        """Write ``report`` as the run's ``evaluation.json`` (atomically); returns it."""
        text = json.dumps(report, indent=2)
        atomic_write(Path(run_dir) / EVALUATION, lambda path: Path(path).write_text(text))
        return report


def nest_world_keys(config_class: type, saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` with top-level keys that belong to the nested world config moved into
    ``world``: run directories written before experiment configs nested their world."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    if "world" not in fields:
        return saved
    world_fields = {f.name for f in dataclasses.fields(config_class().world)}
    moved = {key: value for key, value in saved.items()
             if key not in fields and key in world_fields}
    if not moved:
        return saved
    kept = {key: value for key, value in saved.items() if key not in moved}
    return {**kept, "world": {**dict(saved.get("world", {})), **moved}}
