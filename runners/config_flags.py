"""Runner flags made from config fields, so a new learner, store or stream needs no flag code.

Where this sits: `runners/continual.py` defines one flag per field of every
config class in the registries (`LEARNERS`, `STORES`, `recollect.datasets.STREAMS`)
and per keyword argument of the model builders, then reads back the values that
apply to the parts a run chose.

```
ConfigField(name, type, default, doc)   from a dataclass field or a keyword argument
define({"replay": ReplayConfig, "gem": GemConfig, ...}, family="learner")
    -> one absl flag per distinct field name, default None ("the part's default");
       help: the field's docstring line, the parts that use it, their defaults
values(holders, fields) -> {name: value} for the flags that were set
```
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from absl import flags

from runners import flagfiles

_DEFINE: dict[type, Callable[..., flags.FlagHolder[Any]]] = {
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    bool: flags.DEFINE_bool,
    str: flags.DEFINE_string,
}


@dataclasses.dataclass(frozen=True)
class ConfigField:
    """One setting: its name, scalar type, default and one-line description."""

    name: str
    type: type
    default: Any
    doc: str


def dataclass_fields(config_class: type) -> list[ConfigField]:
    """The fields of a config dataclass, documented from its `Attributes:` docstring."""
    hints = typing.get_type_hints(config_class)
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        docs.update(_attribute_docs(klass.__doc__ or ""))
    return [
        ConfigField(f.name, _scalar(hints[f.name], f.name), f.default, docs.get(f.name, ""))
        for f in dataclasses.fields(config_class)
    ]


def keyword_fields(builder: Callable[..., Any]) -> list[ConfigField]:
    """The keyword-only arguments of a builder, documented from its `Args:` docstring."""
    hints = typing.get_type_hints(builder)
    docs = _attribute_docs(builder.__doc__ or "", section="Args")
    return [
        ConfigField(p.name, _scalar(hints[p.name], p.name), p.default, docs.get(p.name, ""))
        for p in inspect.signature(builder).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]


def define(
    parts: Mapping[str, list[ConfigField]], family: str, flag_values: flags.FlagValues
) -> dict[str, flags.FlagHolder]:
    """Defines one flag (default None) per distinct field name across the parts.

    Args:
        parts: part name -> its fields, e.g. {"replay": dataclass_fields(ReplayConfig)}.
        family: the flag that chooses the part (for the help text), e.g. "learner".
        flag_values: where to define them.

    Returns:
        field name -> its flag holder.

    Raises:
        TypeError: if two parts give one field name different types.
    """
    merged: dict[str, tuple[ConfigField, list[str], list[Any]]] = {}
    for part, fields in parts.items():
        for field in fields:
            first, users, defaults = merged.setdefault(field.name, (field, [], []))
            if first.type is not field.type:
                raise TypeError(
                    f"{field.name} is a {first.type} in one part, {field.type} in {part}"
                )
            users.append(part)
            if field.default not in defaults:
                defaults.append(field.default)
    holders = {}
    for name, (field, users, defaults) in merged.items():
        shown = ", ".join(repr(d) for d in defaults)
        text = f"{field.doc} [--{family}={'|'.join(users)}; default {shown}]".strip()
        holders[name] = _DEFINE[field.type](name, None, text, flag_values=flag_values)
    return holders


def values(holders: Mapping[str, flags.FlagHolder], fields: Iterable[ConfigField]) -> dict:
    """{field name: flag value} for the fields whose flags were set (not None)."""
    out = {}
    for field in fields:
        value = holders[field.name].value
        if value is not None:
            out[field.name] = value
    return out


def set_elsewhere(
    holders: Mapping[str, flags.FlagHolder],
    parts: Mapping[str, list[ConfigField]],
    chosen: str,
) -> list[str]:
    """Names of the set flags that belong to other parts of a family, not to `chosen`."""
    mine = {field.name for field in parts[chosen]}
    theirs = {field.name for fields in parts.values() for field in fields} - mine
    return sorted(name for name in theirs if holders[name].value is not None)


def _scalar(hint: Any, name: str) -> type:
    """int, float, bool or str out of a hint such as `int | None`."""
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = options[0] if len(options) == 1 else hint
    if hint not in _DEFINE:
        raise TypeError(f"Expected an int, float, bool or str setting. Received: {name}: {hint}")
    return hint


def _attribute_docs(docstring: str, section: str = "Attributes") -> dict[str, str]:
    """name -> first sentence-ish line of its entry in a Google-style docstring section."""
    lines = inspect.cleandoc(docstring).splitlines()
    docs: dict[str, str] = {}
    inside, current = False, None
    for line in lines:
        if line.strip() == f"{section}:":
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            break
        match = re.match(r"^ {4}(\w+)(?: \([^)]*\))?: (.*)$", line) if inside else None
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif inside and current and line.startswith("        "):
            docs[current] += " " + line.strip()
    return docs


def flagfile_config(
    flag_values: flags.FlagValues,
    program: str,
    path: str,
    extra: Iterable[str],
    build: Callable[[], Any],
) -> Any:
    """Parses `--flagfile=path` and extra into flag_values, builds a config, unparses.

    For scripts and tests that build a run from a flagfile without running `main`.

    Args:
        flag_values: the program's flags (absl's FLAGS or its own namespace).
        program: argv[0].
        path: the flagfile.
        extra: more flags.
        build: makes the config from the parsed flags.

    Returns:
        What build returns.
    """
    flag_values.unparse_flags()
    try:
        flag_values(flagfiles.expand([program, f"--flagfile={path}", "--workdir=unused", *extra]))
        return build()
    finally:
        flag_values.unparse_flags()


def given_flags(flag_values: flags.FlagValues, holders: Iterable[flags.FlagHolder]) -> str:
    """The holders' flags that are set, one `--name=value` a line."""
    lines = [flag_values[h.name].serialize() for h in holders if h.value is not None]
    return "\n".join(lines) + "\n"
