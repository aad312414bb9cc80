"""What every run's frozen config shares: checks, nested configs, resume comparison.

Where this sits: `agents.continual.config.ContinualConfig` and
`agents.lifelong.config.LifelongConfig` validate their fields with `check` and
`is_int`, read nested settings with `as_config`, and a resumed run compares its
config with the saved config.json through `first_difference`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def check(ok: bool, expected: str, received: str) -> None:
    """Raises ValueError("Expected {expected}. Received: {received}") unless ok."""
    if not ok:
        raise ValueError(f"Expected {expected}. Received: {received}")


def is_int(value: Any, minimum: int) -> bool:
    """Whether value is an int (not a bool) of at least minimum."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_number(value: Any) -> bool:
    """Whether value is an int or a float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_config(value: Any, config_class: type[T]) -> T:
    """value as a config_class: None -> its defaults, a mapping -> its fields.

    Raises:
        ValueError: a mapping with a field config_class lacks, or another type.
    """
    if value is None:
        return config_class()
    if isinstance(value, config_class):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
        unknown = sorted(set(value) - known)
        check(
            not unknown,
            f"settings of {config_class.__name__} among {sorted(known)}",
            f"unknown {unknown}",
        )
        return config_class(**value)
    raise ValueError(f"Expected a {config_class.__name__} or a mapping. Received: {value!r}")


def first_difference(
    config: Any, saved: Mapping[str, Any], ignore: tuple[str, ...] = ()
) -> str | None:
    """'name: this != other' for the first setting where config differs from saved.

    Args:
        config: a frozen dataclass config with `to_dict()`.
        saved: a `to_dict()` of an earlier config (a run's config.json).
        ignore: settings that may differ (how a run runs, not what it computes).

    A setting that saved lacks (a run written before the setting existed) is no
    difference while config leaves it at its default.
    """
    mine = flatten(config.to_dict())
    theirs = flatten(dict(saved))
    for key in sorted(set(mine) | set(theirs)):
        if key in ignore:
            continue
        if key not in theirs and mine[key] == _default(config, key):
            continue
        if mine.get(key) != theirs.get(key):
            return f"{key}: {mine.get(key)!r} here, {theirs.get(key)!r} there"
    return None


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys ("agent.learning_rate")."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _default(config: Any, key: str) -> Any:
    """The default of a flattened setting (`budget`, `store_config.codec_init`)."""
    owner: Any = type(config)
    name = key
    if "." in key:
        part, name = key.split(".", 1)
        owner = type(getattr(config, part, None))
    if not dataclasses.is_dataclass(owner):
        return dataclasses.MISSING
    fields = {f.name: f for f in dataclasses.fields(owner)}
    field = fields.get(name)
    if field is None:
        return dataclasses.MISSING
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return _plain(field.default_factory())
    return dataclasses.MISSING


def _plain(value: Any) -> Any:
    """A default as to_dict writes it: tuples as lists."""
    return list(value) if isinstance(value, tuple) else value
