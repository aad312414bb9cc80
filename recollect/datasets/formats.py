"""What a format module gives `sources.py`: its layouts (`Format`) and where data was found.

Where this sits in the data flow:

```
data root --sources.py: for each Format of the data set, find(folder) --> files
          --Located.read() = Format.read(files)  (bytes -> numpy) --> cache.py
          --> stream.py + protocols/ (tasks) --> tf.data per task
```

Each format module (`idx.py`, `cifar_pickle.py`, `image_folder.py`, `omniglot.py`)
has a `formats(name)` returning its `Format`s for one data set: how to find the
files in a folder and how to decode them into uint8 NHWC pixels (grey images keep
C = 1) and int32 labels. `tfds_source.py` returns a `Located` directly.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from recollect.datasets.errors import corrupt

# What a reader returns: (name -> array, JSON-serialisable metadata).
Decoded = tuple[dict[str, np.ndarray], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Format:
    """One on-disk layout of a data set.

    Attributes:
        name: short name recorded in the metadata.
        expected: the exact files, in words, for error messages.
        find: folder -> (files found, names missing); nothing found means absent.
        read: the files found -> (arrays, metadata).
    """

    name: str
    expected: str
    find: Callable[[Path], tuple[list[Path], list[str]]]
    read: Callable[[list[Path]], Decoded]


@dataclasses.dataclass(frozen=True)
class Located:
    """Where a data set will be read from, found before anything is decoded.

    Attributes:
        name: the data set.
        source: `local` or `tfds`.
        location: the folder, or `tfds:<name>`.
        format: the layout's short name.
        fingerprint: a sha256 of the source files' bytes (local), or the tfds name,
            package version and data directory; it keys the caches.
        files: file (relative to the folder) -> sha256, for the metadata.
        read: decodes the data (arrays, metadata); for tfds this is where the data
            is downloaded and loaded, and where a tfds failure raises
            `DataNotFoundError`.
    """

    name: str
    source: str
    location: str
    format: str
    fingerprint: str
    files: Mapping[str, str]
    read: Callable[[], Decoded]


def find_named(
    folder: Path, names: tuple[str, ...], *, gz: bool = False
) -> tuple[list[Path], list[str]]:
    """Looks for exact file names in `folder` (each may also end in `.gz` if `gz`).

    Args:
        folder: where to look.
        names: the file names, in the order to return them.
        gz: also accept `<name>.gz`.

    Returns:
        (the files found, the names missing, with `[.gz]` when `gz`).
    """
    found, missing = [], []
    for name in names:
        candidates = [folder / name, folder / f"{name}.gz"] if gz else [folder / name]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            missing.append(f"{name}[.gz]" if gz else name)
        else:
            found.append(path)
    return found, missing


def decode_image(data: bytes, *, path: str, mode: str = "RGB") -> np.ndarray:
    """Decodes one PNG/JPEG/BMP file into uint8 [H, W, C] (C = 3 for RGB, 1 for L).

    Args:
        data: the file's bytes.
        path: the file (or `archive:member`), for messages.
        mode: the PIL mode to convert to, `"RGB"` or `"L"`.

    Returns:
        The pixels.

    Raises:
        CorruptDataError: the bytes are not a complete image.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            array = np.asarray(image.convert(mode), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as err:
        raise corrupt(path, f"is not a readable image ({err})") from err
    return array[..., None] if array.ndim == 2 else array
