"""`--flagfile` paths that work from the repository and from an installed package.

absl reads a nested `--flagfile=runners/configs/base.flags` line relative to the
working directory, so the shipped flagfiles (which build on each other) would only
work from the repository root. `expand` inlines every flagfile into the argument
list instead, resolving each path first as given and then against the directory
the `runners` package is installed under.

```
argv: --flagfile=runners/configs/table1/gem_real_100.flags --seeds=0
  ->  --stream=mnist_rotations ... --learner=gem --storage=real ... --seeds=0
```
"""

from __future__ import annotations

import os

_PREFIX = "--flagfile="
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS_DIR = os.path.join(_PACKAGE_ROOT, "runners", "configs")


def resolve(path: str) -> str:
    """path itself if it exists, else the installed package's copy of it."""
    if os.path.exists(path) or os.path.isabs(path):
        return path
    installed = os.path.join(_PACKAGE_ROOT, path)
    return installed if os.path.exists(installed) else path


def expand(argv: list[str], _depth: int = 0) -> list[str]:
    """argv with each `--flagfile=PATH` replaced by the flags in that file, recursively.

    Raises:
        ValueError: a flagfile that cannot be read, or nesting deeper than 20.
    """
    if _depth > 20:
        raise ValueError("Expected --flagfile nesting of at most 20. Received: a cycle?")
    out = []
    for arg in argv:
        if not arg.startswith(_PREFIX):
            out.append(arg)
            continue
        path = resolve(arg[len(_PREFIX) :])
        try:
            with open(path, encoding="utf-8") as f:
                lines = [line.strip() for line in f]
        except OSError as error:
            raise ValueError(
                f"Expected a readable --flagfile. Received: {path} ({error})"
            ) from error
        flags_in_file = [line for line in lines if line and not line.startswith("#")]
        out.extend(expand(flags_in_file, _depth + 1))
    return out
