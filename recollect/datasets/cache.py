"""On-disk cache of prepared arrays, keyed by what produced them and verified on load.

Where this sits: `sources.py` caches each data set's decoded arrays (kind `raw-mnist`,
...) and `stream.py` each built stream (kind `stream-mnist_rotations`, ...), so a
second run reads one file instead of decoding and rotating again.

One entry is one uncompressed `.npz`:

```
<cache_dir>/<kind>-<key>.npz
    <name> ...        the arrays
    __metadata__      str []: JSON of the metadata dict
    __sha256__        str []: arrays_sha256 of the arrays
```

The key is a sha256 of the JSON of everything that determines the content (the
cache format version, the producer's format version, the seed, the options and the
sha256 of the source files). An entry whose checksum does not match, or that cannot
be read, is deleted and rebuilt. Entries are written to a temporary file and moved
into place with `os.replace`, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

CACHE_VERSION = 1
_METADATA = "__metadata__"
_SHA256 = "__sha256__"

_log = logging.getLogger(__name__)


def arrays_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """Returns a sha256 over named arrays: names, dtypes, shapes and bytes, by name.

    This is the checksum the streams report in their metadata (`sha256`), so two
    builds that give the same hex string hold the same data bit for bit.

    Args:
        arrays: name -> array of any numeric dtype.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.view(np.uint8).reshape(-1).data)
    return digest.hexdigest()


def cache_key(parts: Mapping[str, Any]) -> str:
    """Returns a short hex key of JSON-serialisable `parts` (sorted keys)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ArrayCache:
    """A directory of verified `.npz` entries.

    Usage:

    ```python
    cache = ArrayCache("/tmp/cache")
    hit = cache.load("stream-mnist_rotations", key)
    if hit is None:
        arrays, metadata = build()
        cache.save("stream-mnist_rotations", key, arrays, metadata)
    ```
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        """Initialises the cache; the directory is made on the first save.

        Args:
            directory: where entries live.
        """
        self.directory = Path(directory)

    def path(self, kind: str, key: str) -> Path:
        """Returns the file of one entry."""
        return self.directory / f"{kind}-{key}.npz"

    def load(self, kind: str, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """Reads and verifies one entry.

        Args:
            kind: the producer, e.g. `stream-mnist_rotations`.
            key: from `cache_key`.

        Returns:
            (arrays, metadata), or None when there is no entry, or the entry was
            unreadable or failed its checksum (it is then deleted).
        """
        path = self.path(kind, key)
        if not path.is_file():
            return None
        try:
            # Open the file here: np.load leaks its handle when the zip is damaged.
            with open(path, "rb") as file, np.load(file, allow_pickle=False) as content:
                arrays = {name: content[name] for name in content.files}
            metadata = json.loads(str(arrays.pop(_METADATA)))
            expected = str(arrays.pop(_SHA256))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            _log.warning("Cache entry %s is unreadable (%s); rebuilding it.", path, err)
            path.unlink(missing_ok=True)
            return None
        actual = arrays_sha256(arrays)
        if actual != expected:
            _log.warning(
                "Cache entry %s fails its checksum (%s, stored %s); rebuilding it.",
                path,
                actual,
                expected,
            )
            path.unlink(missing_ok=True)
            return None
        return arrays, metadata

    def save(
        self, kind: str, key: str, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
    ) -> Path | None:
        """Writes one entry atomically.

        A cache that cannot be written (read-only folder, full disk) is logged and
        skipped: the data is still returned to the caller, only not cached.

        Args:
            kind: the producer, e.g. `stream-mnist_rotations`.
            key: from `cache_key`.
            arrays: name -> numeric array; names must not start with `__`.
            metadata: JSON-serialisable.

        Returns:
            The entry's path, or None when it could not be written.

        Raises:
            ValueError: an array name is reserved.
        """
        reserved = [name for name in arrays if name.startswith("__")]
        if reserved:
            raise ValueError(f"Expected array names without a '__' prefix. Received: {reserved}")
        path = self.path(kind, key)
        # Any: savez's stub would read an array named like its `allow_pickle` as that bool.
        payload: dict[str, Any] = {
            **arrays,
            _METADATA: np.array(json.dumps(metadata, sort_keys=True)),
            _SHA256: np.array(arrays_sha256(arrays)),
        }
        temp_name = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                dir=self.directory, prefix=f".{path.name}.", suffix=".tmp", delete=False
            ) as temp:
                temp_name = temp.name
                np.savez(temp, **payload)
                temp.flush()
                os.fsync(temp.fileno())
            # NamedTemporaryFile makes the file private (0600); a cache is shared.
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, path)
        except OSError as err:
            _log.warning("Could not write cache entry %s (%s); continuing uncached.", path, err)
            if temp_name is not None:
                Path(temp_name).unlink(missing_ok=True)
            return None
        return path
