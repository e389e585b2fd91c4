"""YAML configs shipped with socius, read with :func:`load`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml


def load(name_or_path: str | Path) -> dict[str, Any]:
    """A shipped config by name (``"demo"``) or any YAML file by path, as a dict."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text = path.read_text()
    else:
        resource = resources.files("socius.configs").joinpath(f"{name_or_path}.yaml")
        if not resource.is_file():
            shipped = sorted(p.name[:-5] for p in resources.files("socius.configs").iterdir()
                             if p.name.endswith(".yaml"))
            raise ValueError(f"unknown config {name_or_path!r}; shipped configs are {shipped}"
                             " (or give a path to a .yaml file)")
        text = resource.read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config {name_or_path!r} must hold a mapping at the top level")
    return _tuples(data)


def _tuples(value: Any) -> Any:
    # YAML has no tuples; frozen configs want hashable values such as held_out pairs.
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
