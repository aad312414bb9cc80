"""The data layer's two errors, and the file checksums that detect a damaged file.

Where this sits: each format module (`idx.py`, `cifar_pickle.py`, `image_folder.py`,
`omniglot.py`, `tfds_source.py`) raises `CorruptDataError` naming the file;
`sources.py` re-raises it with the data set, the folders looked at and the files
expected, and raises `DataNotFoundError` when no usable copy is found:

```
FileNotFoundError
└── DataNotFoundError      a data set is missing, incomplete or unreadable
    └── CorruptDataError   a file exists but is truncated, malformed or altered
```

A `<file>.sha256` beside a data file holds its hex digest (the `sha256sum` output
format); `sources.py` checks it with `verify_sidecar_sha256` before decoding.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class DataNotFoundError(FileNotFoundError):
    """A data set's files are missing, incomplete or unreadable.

    The message names the data set, the folders looked at and the exact files
    expected there, and says how to point the library at a data root.
    """


class CorruptDataError(DataNotFoundError):
    """A data file exists but is truncated, malformed or fails its checksum."""


def corrupt(path: str | os.PathLike, reason: str) -> CorruptDataError:
    """Returns the error for a damaged file: `"<path>: <reason>"`.

    Args:
        path: the file (or `archive:member`).
        reason: what is wrong with it.

    Returns:
        The error, to raise.
    """
    return CorruptDataError(f"{os.fspath(path)}: {reason}")


def file_sha256(path: str | os.PathLike) -> str:
    """Returns the hex sha256 of a file's bytes, read in 1 MiB chunks.

    Args:
        path: the file.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sidecar_sha256(path: str | os.PathLike, actual: str) -> None:
    """Checks `actual` against a `<path>.sha256` file, when one sits beside `path`.

    The side file holds the hex digest, optionally followed by the file name (the
    `sha256sum` output format).

    Args:
        path: the data file.
        actual: the hex sha256 of the data file's bytes.

    Raises:
        CorruptDataError: the side file exists and its digest differs from `actual`.
    """
    sidecar = Path(os.fspath(path) + ".sha256")
    if not sidecar.is_file():
        return
    fields = sidecar.read_text(encoding="utf-8").split()
    expected = fields[0].lower() if fields else ""
    if expected != actual:
        raise corrupt(
            path,
            f"sha256 is {actual} but {sidecar.name} says {expected or '(empty)'}; "
            "the file is truncated or altered",
        )
