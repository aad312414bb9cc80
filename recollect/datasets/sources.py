"""Finds a data set (a local data root, or tfds) and returns its arrays, cached.

Where this sits: `stream.py` asks `locate("mnist", ...)` and `read_located` for a
data set and builds tasks from it; this module only decides where the data comes
from and dispatches to the format modules, which find and parse the files:

```
data root --> sources.locate: resolve the root, then per data set the layouts of
              idx.py (mnist), cifar_pickle.py + image_folder.py (cifar10, cifar100),
              omniglot.py (omniglot); or tfds_source.py
          --> read_located: check side checksums, decode, cache (cache.py)
          --> stream.py + protocols/ (tasks)
```

Where the data comes from, in order:

1. `source="local"`, or `"auto"` with a data root: the `data_dir` argument, else the
   `RECOLLECT_DATA_DIR` environment variable. The root holds one folder per data set
   (`mnist/`, `cifar10/`, `cifar100/`, `omniglot/`); `<root>/<name>` and then `<root>`
   itself are searched for any of the formats listed in `expected_files(name)`.
2. `source="tfds"`, or `"auto"` without a data root: `tensorflow_datasets`, which
   downloads when it can (`data_dir` is then tfds's own data directory).

Anything missing or corrupt raises one `DataNotFoundError` naming the data set, the
folders looked at, the files expected there, and the flag and environment variable.

Arrays returned (pixels uint8, labels int32):

```
mnist, cifar10   x_train [N, H, W, C], y_train [N], x_test [M, H, W, C], y_test [M]
cifar100         the same (y = fine label) + coarse_train [N], coarse_test [M]
omniglot         x [chars, drawers, 28, 28, 1] (255 = stroke), char_ids [chars],
                 alphabet [chars] (index into alphabet_names), alphabet_names str [A]
```
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recollect.datasets import cache as cache_lib
from recollect.datasets import cifar_pickle, errors, idx, image_folder, omniglot, tfds_source
from recollect.datasets.catalog import DATASETS, TITLES
from recollect.datasets.errors import CorruptDataError, DataNotFoundError
from recollect.datasets.formats import Decoded, Format, Located

DATA_DIR_ENV = "RECOLLECT_DATA_DIR"
CACHE_DIR_ENV = "RECOLLECT_CACHE_DIR"
SOURCES = ("auto", "local", "tfds")
# Bump when the arrays a reader returns change, so old cache entries are not used.
RAW_FORMAT_VERSION = 1

# Data set -> the format modules' `formats`, in the order their layouts are tried.
_FORMATS: dict[str, tuple[Callable[[str], list[Format]], ...]] = {
    "mnist": (idx.formats,),
    "cifar10": (cifar_pickle.formats, image_folder.formats),
    "cifar100": (cifar_pickle.formats, image_folder.formats),
    "omniglot": (omniglot.formats,),
}


@dataclasses.dataclass(frozen=True)
class DataArrays:
    """A data set's arrays, as read from its source, and where they came from.

    Attributes:
        name: the data set, one of `DATASETS`.
        arrays: name -> array; see the module docstring for the keys and shapes.
        metadata: JSON-serialisable: `source` (`local` or `tfds`), `format`,
            `location`, `files` (file -> sha256), `class_names`, and `note` when the
            copy is known to differ from the published data.
    """

    name: str
    arrays: Mapping[str, np.ndarray]
    metadata: Mapping[str, Any]


def expected_files(name: str) -> list[str]:
    """Returns, in words, each accepted local layout of data set `name`.

    Args:
        name: one of `DATASETS`.

    Returns:
        One description per layout.

    Raises:
        ValueError: unknown data set.
    """
    return [fmt.expected for fmt in _formats(name)]


def resolve_data_dir(data_dir: str | os.PathLike | None) -> tuple[Path | None, str]:
    """Returns the data root and where it came from (argument, environment, or none).

    Args:
        data_dir: the `data_dir` argument, or None.

    Returns:
        (the root or None, where it came from, in words).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser(), f"${DATA_DIR_ENV}"
    return None, "nowhere"


def resolve_cache_dir(cache_dir: str | os.PathLike | None, data_root: Path | None) -> Path:
    """Returns the cache folder.

    The `cache_dir` argument, else `$RECOLLECT_CACHE_DIR`, else
    `~/.cache/recollect`. The data root itself is never written to: it is often a
    read-only or shared copy.

    Args:
        cache_dir: the `cache_dir` argument, or None.
        data_root: the data root (unused: never written to).

    Returns:
        The folder (it may not exist yet).
    """
    del data_root
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return Path("~/.cache/recollect").expanduser()


def locate(
    name: str, *, data_dir: str | os.PathLike | None = None, source: str = "auto"
) -> Located:
    """Finds data set `name` without decoding it (tfds is only tried when read).

    Args:
        name: one of `DATASETS`.
        data_dir: the data root (local), or tfds's data directory with
            `source="tfds"`. None: `$RECOLLECT_DATA_DIR`, else tfds (`"auto"`).
        source: `"auto"`, `"local"` or `"tfds"`.

    Returns:
        Where the data is and how to read it.

    Raises:
        ValueError: unknown `name` or `source`.
        DataNotFoundError: no usable local files; the message says where it looked
            and which files it expects.
    """
    formats = _formats(name)
    if source not in SOURCES:
        raise ValueError(f"Expected source to be one of {SOURCES}. Received: source={source!r}")
    if source == "tfds":
        return _locate_tfds(name, data_dir, formats, reason="source='tfds' was asked for")
    root, origin = resolve_data_dir(data_dir)
    if root is None:
        if source == "local":
            raise DataNotFoundError(
                _message(name, formats, [], "source='local' but no data root was given.")
            )
        return _locate_tfds(
            name,
            None,
            formats,
            reason=f"no data_dir argument was given and ${DATA_DIR_ENV} is unset",
        )
    return _locate_local(name, formats, [root / name, root], origin)


def load_arrays(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    source: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> DataArrays:
    """Loads a whole data set as arrays, e.g. CIFAR-10 to pretrain a codec.

    Usage:

    ```python
    data = load_arrays("cifar10", data_dir="/data")
    x = data.arrays["x_train"].astype("float32") / 255.0  # float32 [50000, 32, 32, 3]
    ```

    Args:
        name: `mnist`, `cifar10`, `cifar100` or `omniglot`.
        data_dir: the data root (see `locate`).
        source: `"auto"`, `"local"` or `"tfds"`.
        cache_dir: where decoded arrays are cached (see `resolve_cache_dir`).
        use_cache: False reads the source every time and writes no cache.

    Returns:
        The arrays (uint8 pixels, int32 labels; keys in the module docstring) and
        their provenance.

    Raises:
        ValueError: unknown `name` or `source`.
        DataNotFoundError: missing data; `CorruptDataError`, a subclass, for a
            truncated, malformed or wrong-checksum file.
    """
    located = locate(name, data_dir=data_dir, source=source)
    root = resolve_data_dir(data_dir)[0] if located.source == "local" else None
    store = cache_lib.ArrayCache(resolve_cache_dir(cache_dir, root)) if use_cache else None
    return read_located(located, store=store)


def read_located(
    located: Located, *, store: cache_lib.ArrayCache | None, write_cache: bool = True
) -> DataArrays:
    """Decodes a located data set, through the cache when `store` is given.

    Args:
        located: from `locate`.
        store: the cache, or None to read the source.
        write_cache: write the decoded arrays to `store` on a miss; False leaves
            that to the caller (`cache_raw`), e.g. once it knows the arrays are used.

    Returns:
        The arrays and their provenance (see `load_arrays`).

    Raises:
        CorruptDataError: a source file is truncated, malformed or fails its checksum.
    """
    kind, key = _raw_entry(located)
    hit = store.load(kind, key) if store is not None else None
    if hit is not None:
        return DataArrays(located.name, hit[0], hit[1])
    arrays, metadata = located.read()
    metadata = _jsonable(
        {
            "dataset": located.name,
            "source": located.source,
            "format": located.format,
            "location": located.location,
            "files": dict(located.files),
            **metadata,
        }
    )
    if store is not None and write_cache:
        store.save(kind, key, arrays, metadata)
    return DataArrays(located.name, arrays, metadata)


def cache_raw(located: Located, data: DataArrays, store: cache_lib.ArrayCache) -> None:
    """Writes what `read_located(..., write_cache=False)` decoded, unless it is cached.

    Args:
        located: from `locate`.
        data: the arrays `read_located` returned for it.
        store: the cache.
    """
    kind, key = _raw_entry(located)
    if not store.path(kind, key).is_file():
        store.save(kind, key, data.arrays, data.metadata)


def _raw_entry(located: Located) -> tuple[str, str]:
    """The cache kind and key of a located data set's decoded arrays."""
    key = cache_lib.cache_key(
        {"dataset": located.name, "format": RAW_FORMAT_VERSION, "source": located.fingerprint}
    )
    return f"raw-{located.name}", key


def _formats(name: str) -> list[Format]:
    if name not in _FORMATS:
        raise ValueError(f"Expected a data set among {DATASETS}. Received: name={name!r}")
    return [fmt for module_formats in _FORMATS[name] for fmt in module_formats(name)]


def _jsonable(value: Any) -> Any:
    """Round-trips through JSON so that fresh and cached metadata compare equal."""
    return json.loads(json.dumps(value))


def _message(name: str, formats: list[Format], folders: list[Path], problem: str) -> str:
    lines = [f"Could not load the {TITLES[name]} data set ('{name}'). {problem}"]
    where = "a folder " + " or ".join(map(str, folders)) if folders else "<data root>/" + name
    lines.append(f"Expected in {where}, one of these layouts:")
    lines.extend(f"  - {fmt.expected}" for fmt in formats)
    lines.append(
        f"Give the data root with data_dir= (the runners' --data_dir flag) or the {DATA_DIR_ENV} "
        "environment variable; it holds one folder per data set: "
        + ", ".join(f"{d}/" for d in DATASETS)
        + "."
    )
    return "\n".join(lines)


def _locate_tfds(
    name: str, data_dir: str | os.PathLike | None, formats: list[Format], *, reason: str
) -> Located:
    def message(problem: str) -> str:
        return _message(name, formats, [], problem)

    return tfds_source.locate(name, data_dir, reason=reason, message=message)


def _locate_local(name: str, formats: list[Format], folders: list[Path], origin: str) -> Located:
    """The first complete layout in `folders`, else a `DataNotFoundError`."""
    partial = []
    for folder in folders:
        for fmt in formats:
            found, missing = fmt.find(folder) if folder.is_dir() else ([], [])
            if found and not missing:
                return _located_local(name, folder, fmt, found)
            if found:
                partial.append(f"{folder} has {fmt.name} files but lacks: {', '.join(missing)}")
    problem = f"Looked in {' and '.join(map(str, folders))} (the data root from {origin})."
    if partial:
        problem += " Incomplete: " + "; ".join(partial) + "."
    raise DataNotFoundError(_message(name, formats, folders, problem))


def _located_local(name: str, folder: Path, fmt: Format, found: list[Path]) -> Located:
    files = {}
    for path in found:
        files[path.relative_to(folder).as_posix()] = _path_sha256(path)

    def read() -> Decoded:
        try:
            for path in found:
                if path.is_file():
                    errors.verify_sidecar_sha256(path, files[path.relative_to(folder).as_posix()])
            return fmt.read(found)
        except CorruptDataError as err:
            raise CorruptDataError(
                _message(
                    name,
                    [fmt],
                    [folder],
                    f"Found {fmt.name} files in {folder}, but one is corrupt: {err}",
                )
            ) from err

    fingerprint = hashlib.sha256(json.dumps([fmt.name, files], sort_keys=True).encode())
    return Located(name, "local", str(folder), fmt.name, fingerprint.hexdigest(), files, read)


def _path_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's (relative name, sha256) list."""
    if path.is_file():
        return errors.file_sha256(path)
    digest = hashlib.sha256()
    for member in sorted(p for p in path.rglob("*") if p.is_file()):
        line = f"{member.relative_to(path).as_posix()}\t{errors.file_sha256(member)}\n"
        digest.update(line.encode())
    return digest.hexdigest()
