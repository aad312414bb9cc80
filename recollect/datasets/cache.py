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

`load` copies an entry into memory; `load_mapped` reads it through the page cache
(`MappedArrays`), so a stream's 157 MB of MNIST-Rotations test images count toward
a run's memory only while a task's rows are in use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import mmap
import os
import struct
import tempfile
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

CACHE_VERSION = 1
_METADATA = "__metadata__"
_SHA256 = "__sha256__"

_UNREADABLE = (
    OSError,
    ValueError,
    KeyError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
)
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}

_Arrays = TypeVar("_Arrays", bound=Mapping[str, np.ndarray])

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
        """Reads and verifies one entry, copying its arrays into memory.

        Args:
            kind: the producer, e.g. `stream-mnist_rotations`.
            key: from `cache_key`.

        Returns:
            (arrays, metadata), or None when there is no entry, or the entry was
            unreadable or failed its checksum (it is then deleted).
        """
        return self._verified(kind, key, _read_npz)

    def load_mapped(self, kind: str, key: str) -> tuple[MappedArrays, dict] | None:
        """As `load`, but the arrays are `MappedArrays`: read-only, from the page cache."""
        return self._verified(kind, key, _map_npz)

    def _verified(
        self, kind: str, key: str, reader: Callable[[Path], tuple[_Arrays, str, str]]
    ) -> tuple[_Arrays, dict] | None:
        path = self.path(kind, key)
        if not path.is_file():
            return None
        try:
            arrays, metadata, expected = reader(path)
            actual = arrays_sha256(arrays)
        except _UNREADABLE as err:
            _log.warning("Cache entry %s is unreadable (%s); rebuilding it.", path, err)
            path.unlink(missing_ok=True)
            return None
        if actual != expected:
            _log.warning(
                "Cache entry %s fails its checksum (%s, stored %s); rebuilding it.",
                path,
                actual,
                expected,
            )
            path.unlink(missing_ok=True)
            return None
        return arrays, json.loads(metadata)

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


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], str, str]:
    """An `.npz`'s arrays copied into memory, its metadata JSON and stored sha256."""
    # Open the file here: np.load leaks its handle when the zip is damaged.
    with open(path, "rb") as file, np.load(file, allow_pickle=False) as content:
        arrays = {name: content[name] for name in content.files}
    return arrays, str(arrays.pop(_METADATA)), str(arrays.pop(_SHA256))


def _map_npz(path: Path) -> tuple[MappedArrays, str, str]:
    """As `_read_npz`, with the arrays mapped."""
    arrays = MappedArrays(path)
    return arrays, str(arrays[_METADATA]), str(arrays[_SHA256])


class MappedArrays(Mapping[str, np.ndarray]):
    """The arrays of one uncompressed `.npz` (as `ArrayCache.save` writes), mapped.

    Every lookup maps its array afresh, read-only, from a descriptor held open (so
    the entry may be deleted or replaced meanwhile). Only the pages a caller
    touches, and only while it holds the array or a view of it, count toward the
    process's resident memory; the data stay in the page cache between lookups.
    Iteration skips the reserved `__metadata__` / `__sha256__`; lookups allow them.

    Args:
        path: the `.npz` file.

    Raises:
        ValueError (and the other `_UNREADABLE` errors): a member that is
            compressed, Fortran-ordered, of object dtype, or cut short.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        with open(self._fd, "rb", closefd=False) as file:
            self._layout = _npz_layout(file)

    def __getitem__(self, name: str) -> np.ndarray:
        offset, dtype, shape = self._layout[name]
        count = math.prod(shape)
        if count == 0:
            return np.empty(shape, dtype)
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        length = offset - start + count * dtype.itemsize
        mapping = mmap.mmap(self._fd, length, offset=start, access=mmap.ACCESS_READ)
        return np.frombuffer(mapping, dtype, count, offset=offset - start).reshape(shape)

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._layout if not name.startswith("__"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _npz_layout(file: Any) -> dict[str, tuple[int, np.dtype, tuple[int, ...]]]:
    """name -> (byte offset of its data in the file, dtype, shape) for each member."""
    size = os.fstat(file.fileno()).st_size
    layout = {}
    with zipfile.ZipFile(file) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                raise ValueError(f"member {info.filename} is compressed or not an array")
            file.seek(info.header_offset)
            local = file.read(30)
            if local[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"no local header for {info.filename}")
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            file.seek(info.header_offset + 30 + name_length + extra_length)
            version = np.lib.format.read_magic(file)
            shape, fortran_order, dtype = _HEADER_READERS[version](file)
            offset = file.tell()
            if fortran_order or dtype.hasobject:
                raise ValueError(f"member {info.filename} is Fortran-ordered or holds objects")
            if offset + math.prod(shape) * dtype.itemsize > size:
                raise EOFError(f"member {info.filename} is cut short")
            layout[info.filename[: -len(".npy")]] = (offset, dtype, tuple(shape))
    return layout
