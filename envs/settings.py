"""The one way to set a config: a YAML mapping and ``key=value`` strings over frozen
dataclasses, nested configs reached by dotted keys (``world.max_cycles=20``).

Every command uses it: ``--set`` and ``--grid`` of ``socius run``, the viewer's world
settings, the environments' keyword arguments and a run directory's saved
``config.json``. A bad key names itself and the keys it could have been; a bad value names
the key and the type it needed.

Why not OmegaConf or tyro: OmegaConf's structured configs reject the bare ``tuple``
fields these configs hold (held-out pairs, start cells) and cannot build frozen
dataclasses whose ``__post_init__`` checks values; tyro builds a whole argparse CLI from a
dataclass, which would replace ``--set key=value`` and ``--grid`` rather than serve them.
What is needed here is small: walk the dataclass fields, parse by annotation, rebuild.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any

import yaml


class ConfigError(ValueError, TypeError):
    """A bad config key or value (a ValueError, and a TypeError like a bad keyword)."""


def configure(base: Any, settings: Mapping[str, Any] | None = None,
              overrides: Iterable[str] = ()) -> Any:
    """``base`` (a config class or instance) with a mapping of ``settings`` (nested
    mappings for nested configs) and then ``key=value`` ``overrides`` applied."""
    instance = base() if isinstance(base, type) else base
    values = _apply_mapping(instance, dict(settings or {}), prefix="")
    for item in overrides:
        key, separator, text = str(item).partition("=")
        key = key.strip()
        if not separator or not key:
            raise ConfigError(f"setting {item!r} must look like key=value")
        _set_text(instance, values, key.split("."), text, prefix="")
    return _build(type(instance), values)


def _fields(instance: Any) -> dict[str, dataclasses.Field]:
    """The settable fields of a config (``extra`` is a reserved note field, not a setting)."""
    return {f.name: f for f in dataclasses.fields(instance) if f.name != "extra"}


def _annotation(field: dataclasses.Field) -> str:
    """A field's type as a name (``int``), whether annotations are strings or types."""
    return field.type if isinstance(field.type, str) else getattr(field.type, "__name__",
                                                                    str(field.type))


def _values(instance: Any) -> dict[str, Any]:
    """The config's current values, nested configs as dicts of their own values."""
    return {name: _values(getattr(instance, name))
            if dataclasses.is_dataclass(getattr(instance, name)) else getattr(instance, name)
            for name in _fields(instance)}


def _unknown(key: str, prefix: str, instance: Any) -> ConfigError:
    """The error for a key the config does not have, listing the keys it has (and the
    nested config that has it, for a world key given at the top level)."""
    known = sorted(prefix + name for name in _fields(instance))
    nested = [f"{prefix}{name}.{key}" for name in _fields(instance)
              if dataclasses.is_dataclass(getattr(instance, name))
              and key in _fields(getattr(instance, name))]
    hint = f"; did you mean {nested[0]!r}?" if nested else ""
    return ConfigError(f"unknown config key {prefix + key!r} for {type(instance).__name__}"
                       f"{hint}; expected one of {known}")


def _apply_mapping(instance: Any, settings: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The values of ``instance`` with a (possibly nested) mapping applied."""
    values = _values(instance)
    fields = _fields(instance)
    for key, value in settings.items():
        if key == "extra" and any(f.name == "extra" for f in dataclasses.fields(instance)):
            values[key] = dict(value)  # free-form notes a world config carries along
            continue
        if key not in fields:
            raise _unknown(key, prefix, instance)
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key {prefix + key!r} holds settings; give a mapping "
                                  f"such as {{{next(iter(_fields(current)))}: ...}}")
            values[key] = _apply_mapping(current, dict(value), f"{prefix}{key}.")
        else:
            values[key] = _typed(value, _annotation(fields[key]), prefix + key)
    return values


def _set_text(instance: Any, values: dict[str, Any], path: list[str], text: str,
              prefix: str) -> None:
    """Set the dotted ``path`` in ``values`` from a command-line string."""
    head, rest = path[0], path[1:]
    fields = _fields(instance)
    if head not in fields:
        raise _unknown(head, prefix, instance)
    current = getattr(instance, head)
    if dataclasses.is_dataclass(current):
        if not rest:
            raise ConfigError(f"config key {prefix + head!r} holds settings; set one of them, "
                              f"e.g. {prefix}{head}.{next(iter(_fields(current)))}=...")
        _set_text(current, values[head], rest, text, f"{prefix}{head}.")
        return
    if rest:
        raise ConfigError(f"config key {prefix + head!r} is a single value, not settings; "
                          f"got {prefix + '.'.join(path)!r}")
    values[head] = parse_value(text, _annotation(fields[head]), prefix + head)


def parse_value(text: str, annotation: str, key: str) -> Any:
    """``text`` read as the type a config field is annotated with (int, float, bool, str,
    tuple or a YAML value for anything else)."""
    text = text.strip()
    if annotation == "bool":
        if text.lower() not in ("true", "false", "1", "0"):
            raise ConfigError(f"config key {key!r} must be true or false; got {text!r}")
        return text.lower() in ("true", "1")
    if annotation in ("int", "float"):
        kind = int if annotation == "int" else float
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(f"config key {key!r} must be {annotation}; got {text!r}") from None
    if annotation == "str":
        return text
    value = yaml.safe_load(text)
    if annotation == "tuple" and not isinstance(value, list):
        raise ConfigError(f"config key {key!r} must be a list such as [[0, 1], [2, 3]]; "
                          f"got {text!r}")
    return _typed(value, annotation, key)


def _typed(value: Any, annotation: str, key: str) -> Any:
    """A mapping's value checked against the field's annotation (lists become tuples)."""
    if annotation == "tuple":
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} must be a list; got {value!r}")
        return tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in value)
    if annotation == "bool" and not isinstance(value, bool):
        raise ConfigError(f"config key {key!r} must be true or false; got {value!r}")
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise ConfigError(f"config key {key!r} must be int; got {value!r}")
        return int(value)
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ConfigError(f"config key {key!r} must be float; got {value!r}")
        return float(value)
    if annotation == "str" and not isinstance(value, str):
        raise ConfigError(f"config key {key!r} must be str; got {value!r}")
    return value


def _build(config_class: type, values: dict[str, Any], prefix: str = "") -> Any:
    """The frozen config of ``config_class`` holding ``values`` (nested dicts built too);
    errors of a nested config name its field by its dotted key (``world.start``)."""
    probe = config_class()
    built = {name: _build(type(getattr(probe, name)), value, f"{prefix}{name}.")
             if dataclasses.is_dataclass(getattr(probe, name)) else value
             for name, value in values.items()}
    try:
        config = config_class(**built)
        if hasattr(config, "check"):
            config.check()
    except (TypeError, ValueError) as error:
        message = str(error)
        if prefix and not isinstance(error, ConfigError):
            message = message.replace("config field '", f"config field '{prefix}", 1)
        raise ConfigError(message) from None
    return config
