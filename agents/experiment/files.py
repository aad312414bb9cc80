"""JSON files of a run, written atomically.

Where this sits: every file a run writes beside its checkpoints (config.json,
progress.json, result.json, results.json) goes through `write_json`, so a kill
while writing leaves the previous version, never half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np


def write_json(path: str, value: Any) -> None:
    """Writes value as JSON atomically (numpy scalars and arrays included)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, default=_json_default)
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    """The JSON value in path."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_texts(directory: str, files: Mapping[str, str] | None) -> None:
    """Writes each name -> text of files into directory (the runner's flags.txt)."""
    for name, text in (files or {}).items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
