"""CIFAR-10 and CIFAR-100 as published: python pickles, in a folder or the .tar.gz.

Where this sits: `sources.py` asks `formats("cifar10")` (or `"cifar100"`) for these
two layouts before those of `image_folder.py`; `protocols/split_cifar10.py` and
`protocols/incremental_cifar100.py` build their tasks from the arrays.

```
<data root>/cifar10/ (or the root)       <data root>/cifar100/ (or the root)
    cifar-10-batches-py/                     cifar-100-python/
        data_batch_1 ... data_batch_5            train    fine_labels, coarse_labels
        test_batch       labels                  test
        batches.meta     label_names (opt.)      meta     fine_label_names,
                                                          coarse_label_names (opt.)
    or cifar-10-python.tar.gz                or cifar-100-python.tar.gz

one batch: a pickled dict {b"data": uint8 [N, 3072] (the R plane, then G, then B,
each 32 x 32 row-major), b"labels" (or b"fine_labels", ...): N ints}
```

Arrays returned: `x_train` uint8 [N, 32, 32, 3], `y_train` int32 [N] (the fine label
for CIFAR-100), `x_test`, `y_test`, and for CIFAR-100 `coarse_train`, `coarse_test`;
metadata `class_names` (and `coarse_class_names` when the meta file gives them).
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recollect.datasets.catalog import CIFAR10_CLASSES, CIFAR100_CLASSES
from recollect.datasets.errors import CorruptDataError, corrupt
from recollect.datasets.formats import Decoded, Format, find_named

# The published archives; `image_folder.py` leaves them to this module.
ARCHIVES = ("cifar-10-python.tar.gz", "cifar-100-python.tar.gz")

_CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_ROW_BYTES = 32 * 32 * 3
_UNPICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError)
# The functions numpy pickles arrays with, taken from numpy itself rather than from its
# private modules (numpy.core became numpy._core in numpy 2; pickles name either).
_NP_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_NP_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]


def formats(name: str) -> list[Format]:
    """Returns the pickle folder and the pickle archive layouts of a CIFAR set.

    Args:
        name: `cifar10` or `cifar100`.

    Returns:
        Two `Format`s: the folder, then the archive.
    """
    return [_folder_format(name), _archive_format(name)]


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR pickles hold: dicts, lists, bytes, numpy arrays."""

    _ALLOWED: Mapping[tuple[str, str], object] = {
        ("_codecs", "encode"): codecs.encode,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
        ("numpy.core.multiarray", "scalar"): _NP_SCALAR,
        ("numpy._core.multiarray", "scalar"): _NP_SCALAR,
        ("numpy.core.numeric", "_frombuffer"): _NP_FROMBUFFER,
        ("numpy._core.numeric", "_frombuffer"): _NP_FROMBUFFER,
    }

    def find_class(self, module: str, name: str) -> object:
        """Returns an allowed global; refuses any other.

        Raises:
            pickle.UnpicklingError: `module.name` is not allowed.
        """
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refuses {module}.{name}: a CIFAR pickle holds only lists, bytes and numpy arrays"
            ) from None


def read_cifar_pickle(
    data: bytes, *, path: str | os.PathLike, label_keys: Iterable[str]
) -> dict[str, np.ndarray]:
    """Parses one CIFAR python pickle (a batch of `cifar-10-batches-py` or `cifar-100-python`).

    Only dicts, lists, bytes and numpy arrays are unpickled; anything else is refused.

    Args:
        data: the pickle's bytes.
        path: the file (or archive member) name, for messages.
        label_keys: the label lists to return, e.g. `("labels",)` for CIFAR-10 or
            `("fine_labels", "coarse_labels")` for CIFAR-100.

    Returns:
        `images`: uint8 [N, 32, 32, 3] and one int32 [N] array per label key.

    Raises:
        CorruptDataError: truncated or malformed pickle, missing keys, or sizes that
            do not match.
    """
    try:
        content = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _UNPICKLE_ERRORS as err:
        raise corrupt(path, f"is not a readable CIFAR pickle ({err})") from err
    if not isinstance(content, dict):
        raise corrupt(path, f"holds a {type(content).__name__}, not a dict")
    content = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}
    missing = [key for key in ("data", *label_keys) if key not in content]
    if missing:
        raise corrupt(path, f"lacks the keys {missing}; it has {sorted(content)}")
    images = np.asarray(content["data"])
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != _ROW_BYTES:
        raise corrupt(
            path,
            f"'data' must be uint8 [N, {_ROW_BYTES}]; it is {images.dtype} {list(images.shape)}",
        )
    result = {"images": images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()}
    for key in label_keys:
        labels = np.asarray(content[key])
        if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise corrupt(
                path,
                f"'{key}' must hold {images.shape[0]} integers; it is {labels.dtype} "
                f"{list(labels.shape)}",
            )
        result[key] = labels.astype(np.int32)
    return result


def read_cifar_meta(data: bytes, *, path: str | os.PathLike) -> dict[str, list[str]]:
    """Parses a CIFAR `meta` / `batches.meta` pickle into lists of label names.

    Args:
        data: the pickle's bytes.
        path: the file (or archive member) name, for messages.

    Returns:
        Each `*_names` list of the pickle, as str.

    Raises:
        CorruptDataError: the pickle cannot be read.
    """
    try:
        content = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _UNPICKLE_ERRORS as err:
        raise corrupt(path, f"is not a readable CIFAR meta pickle ({err})") from err
    if not isinstance(content, dict):
        raise corrupt(path, f"holds a {type(content).__name__}, not a dict")
    names = {}
    for key, value in content.items():
        key = key.decode("latin1") if isinstance(key, bytes) else str(key)
        if key.endswith("_names") and isinstance(value, list):
            names[key] = [v.decode("latin1") if isinstance(v, bytes) else str(v) for v in value]
    return names


def read_tar_members(path: str | os.PathLike, names: Iterable[str]) -> dict[str, bytes]:
    """Reads the named members of a tar archive (any compression tarfile knows).

    Args:
        path: the archive.
        names: member names relative to any top folder, e.g. `cifar-100-python/train`.

    Returns:
        The bytes of each member found, keyed by the requested name.

    Raises:
        CorruptDataError: the archive is truncated or not a tar file.
    """
    wanted = set(names)
    found = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = member.name.lstrip("./")
                file = archive.extractfile(member) if member.isfile() and name in wanted else None
                if file is not None:  # never None for a regular file
                    found[name] = file.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise corrupt(path, f"is not a readable tar archive ({err}); it may be truncated") from err
    return found


def _layout(name: str) -> tuple[str, tuple[str, ...], tuple[str, ...], str, str]:
    """(pickle folder, train batches, test batches, meta file, archive) of a CIFAR set."""
    if name == "cifar10":
        return "cifar-10-batches-py", _CIFAR10_BATCHES, ("test_batch",), "batches.meta", ARCHIVES[0]
    return "cifar-100-python", ("train",), ("test",), "meta", ARCHIVES[1]


def _decode(name: str, blobs: Mapping[str, bytes], where: str) -> Decoded:
    """Decodes the batches (and the meta file, if any), keyed by their file names."""
    subdir, train, test, meta, _ = _layout(name)
    keys = ("labels",) if name == "cifar10" else ("fine_labels", "coarse_labels")
    arrays = {}
    for split, batches in (("train", train), ("test", test)):
        parts = [
            read_cifar_pickle(blobs[b], path=f"{where}/{subdir}/{b}", label_keys=keys)
            for b in batches
        ]
        arrays[f"x_{split}"] = np.concatenate([p["images"] for p in parts])
        arrays[f"y_{split}"] = np.concatenate([p[keys[0]] for p in parts])
        if name == "cifar100":
            arrays[f"coarse_{split}"] = np.concatenate([p["coarse_labels"] for p in parts])
    names = {}
    if meta in blobs:
        names = read_cifar_meta(blobs[meta], path=f"{where}/{subdir}/{meta}")
    default = CIFAR10_CLASSES if name == "cifar10" else CIFAR100_CLASSES
    class_names = names.get("label_names", names.get("fine_label_names", list(default)))
    metadata: dict[str, Any] = {"class_names": class_names}
    if "coarse_label_names" in names:
        metadata["coarse_class_names"] = names["coarse_label_names"]
    return arrays, metadata


def _folder_format(name: str) -> Format:
    subdir, train, test, meta, _ = _layout(name)

    def find(folder: Path) -> tuple[list[Path], list[str]]:
        found, missing = find_named(folder / subdir, train + test)
        return found, [f"{subdir}/{m}" for m in missing]

    def read(paths: list[Path]) -> Decoded:
        blobs = {p.name: p.read_bytes() for p in paths}
        if (paths[0].parent / meta).is_file():
            blobs[meta] = (paths[0].parent / meta).read_bytes()
        return _decode(name, blobs, str(paths[0].parent.parent))

    expected = f"the python pickles {subdir}/{{{', '.join(train + test)}}} (and optionally {meta})"
    return Format("python pickles", expected, find, read)


def _archive_format(name: str) -> Format:
    subdir, train, test, meta, archive = _layout(name)

    def find(folder: Path) -> tuple[list[Path], list[str]]:
        return find_named(folder, (archive,))

    def read(paths: list[Path]) -> Decoded:
        members = [f"{subdir}/{b}" for b in (*train, *test, meta)]
        blobs = read_tar_members(paths[0], members)
        lacking = [m for m in members[:-1] if m not in blobs]
        if lacking:
            raise CorruptDataError(f"{paths[0]}: the archive lacks {lacking}")
        return _decode(name, {k.split("/")[-1]: v for k, v in blobs.items()}, str(paths[0]))

    return Format("python pickles archive", f"the archive {archive}", find, read)
