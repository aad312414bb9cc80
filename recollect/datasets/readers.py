"""Readers for the publishers' file formats: IDX, CIFAR pickles, image folders, Omniglot.

Where this sits in the data flow:

```
data root --sources.py (find the files) --> readers.py (bytes -> numpy) --> cache.py
          --> streams.py (protocol: tasks, rotations, splits) --> tf.data per task
```

Every reader returns plain numpy arrays and raises `CorruptDataError` naming the file
when the file is truncated, malformed or fails its checksum; `sources.py` adds the
data set, the folders looked at and the files expected. Nothing here knows about
tasks. The pixel layout returned is always uint8 NHWC (grey images keep C = 1).
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import json
import os
import pickle
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SPLITS = ("train", "test")

# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CIFAR_ROW_BYTES = 32 * 32 * 3
_OMNIGLOT_NAME = re.compile(r"^(\d+)_(\d+)\.png$")
# The functions numpy pickles arrays with, taken from numpy itself rather than from its
# private modules (numpy.core became numpy._core in numpy 2; pickles name either).
_NP_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_NP_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]


class DataNotFoundError(FileNotFoundError):
    """A data set's files are missing, incomplete or unreadable.

    The message names the data set, the folders looked at and the exact files
    expected there, and says how to point the library at a data root.
    """


class CorruptDataError(DataNotFoundError):
    """A data file exists but is truncated, malformed or fails its checksum."""


def _corrupt(path: str | os.PathLike, reason: str) -> CorruptDataError:
    return CorruptDataError(f"{os.fspath(path)}: {reason}")


def file_sha256(path: str | os.PathLike) -> str:
    """Returns the hex sha256 of a file's bytes, read in 1 MiB chunks."""
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
        raise _corrupt(
            path,
            f"sha256 is {actual} but {sidecar.name} says {expected or '(empty)'}; "
            "the file is truncated or altered",
        )


def read_bytes(path: str | os.PathLike) -> bytes:
    """Reads a file, decompressing it when its name ends in `.gz`.

    Raises:
        CorruptDataError: the gzip stream is truncated or fails its CRC.
    """
    raw = Path(path).read_bytes()
    if not os.fspath(path).endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise _corrupt(path, f"cannot be decompressed ({err}); the file is truncated") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (the MNIST format), `.gz` or not.

    Args:
        path: the file.

    Returns:
        The array with the dimensions of the header, in native byte order; uint8 for
        the MNIST files.

    Raises:
        CorruptDataError: bad magic number, or a file length that disagrees with the
            header (a truncated file, or trailing bytes).
    """
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise _corrupt(path, f"not an IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _corrupt(path, f"truncated inside its header ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[data[2]]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise _corrupt(
            path,
            f"{state}: the header gives shape {list(dims)} of {dtype.name} "
            f"({expected} bytes with the header) but the data holds {len(data)} bytes",
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


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
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise _corrupt(path, f"is not a readable CIFAR pickle ({err})") from err
    if not isinstance(content, dict):
        raise _corrupt(path, f"holds a {type(content).__name__}, not a dict")
    content = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}
    missing = [key for key in ("data", *label_keys) if key not in content]
    if missing:
        raise _corrupt(path, f"lacks the keys {missing}; it has {sorted(content)}")
    images = np.asarray(content["data"])
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != _CIFAR_ROW_BYTES:
        raise _corrupt(
            path,
            f"'data' must be uint8 [N, {_CIFAR_ROW_BYTES}]; it is {images.dtype} "
            f"{list(images.shape)}",
        )
    result = {"images": images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()}
    for key in label_keys:
        labels = np.asarray(content[key])
        if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise _corrupt(
                path,
                f"'{key}' must hold {images.shape[0]} integers; it is {labels.dtype} "
                f"{list(labels.shape)}",
            )
        result[key] = labels.astype(np.int32)
    return result


def read_cifar_meta(data: bytes, *, path: str | os.PathLike) -> dict[str, list[str]]:
    """Parses a CIFAR `meta` / `batches.meta` pickle into lists of label names.

    Raises:
        CorruptDataError: the pickle cannot be read.
    """
    try:
        content = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise _corrupt(path, f"is not a readable CIFAR meta pickle ({err})") from err
    if not isinstance(content, dict):
        raise _corrupt(path, f"holds a {type(content).__name__}, not a dict")
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
                if member.isfile() and name in wanted:
                    found[name] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise _corrupt(path, f"is not a readable tar archive ({err}); it may be truncated") from err
    return found


def _image_member(name: str) -> tuple[str, str, str] | None:
    """Splits `[prefix/]train/<class>/<file>.png` into (split, class, file), else None."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or parts[-3] not in SPLITS:
        return None
    if parts[-1].startswith(".") or not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return None
    return parts[-3], parts[-2], parts[-1]


def iter_folder_images(root: str | os.PathLike) -> Iterator[tuple[str, str, str, bytes]]:
    """Yields (split, class name, file name, bytes) for `root/{train,test}/<class>/*`."""
    root = Path(root)
    for split in SPLITS:
        for path in sorted((root / split).glob("*/*")):
            entry = _image_member(path.relative_to(root).as_posix())
            if entry is not None and path.is_file():
                yield (*entry, path.read_bytes())


def iter_tar_images(path: str | os.PathLike) -> Iterator[tuple[str, str, str, bytes]]:
    """Yields (split, class name, file name, bytes) for an image-folder tar archive.

    Raises:
        CorruptDataError: the archive is truncated or not a tar file.
    """
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                entry = _image_member(member.name) if member.isfile() else None
                if entry is not None:
                    yield (*entry, archive.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise _corrupt(path, f"is not a readable tar archive ({err}); it may be truncated") from err


def decode_image(data: bytes, *, path: str, mode: str = "RGB") -> np.ndarray:
    """Decodes one PNG/JPEG/BMP file into uint8 [H, W, C] (C = 3 for RGB, 1 for L).

    Raises:
        CorruptDataError: the bytes are not a complete image.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            array = np.asarray(image.convert(mode), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as err:
        raise _corrupt(path, f"is not a readable image ({err})") from err
    return array[..., None] if array.ndim == 2 else array


def _class_sort_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name)


def read_image_entries(
    entries: Iterable[tuple[str, str, str, bytes]], *, source: str | os.PathLike
) -> dict[str, np.ndarray]:
    """Decodes image-folder entries into arrays.

    Class names are sorted (numerically when they are all digits); examples are
    ordered by class, then file name, so the result does not depend on the order of
    the entries (a directory listing or an archive).

    Args:
        entries: (split, class name, file name, bytes) tuples.
        source: the folder or archive, for messages.

    Returns:
        `class_names`: str [K]; per split (`train`, `test`): `x_<split>` uint8
        [N, H, W, 3], `y_<split>` int32 [N] (index into `class_names`) and
        `files_<split>` str [N] (`<class>/<file>`).

    Raises:
        CorruptDataError: a split or the images are missing, an image does not
            decode, shapes differ, or a test class has no training folder.
    """
    by_split: dict[str, list[tuple[str, str, bytes]]] = {split: [] for split in SPLITS}
    for split, class_name, file_name, data in entries:
        by_split[split].append((class_name, file_name, data))
    empty = [split for split in SPLITS if not by_split[split]]
    if empty:
        raise _corrupt(source, f"holds no images under {', '.join(s + '/' for s in empty)}")
    class_names = sorted({c for c, _, _ in by_split["train"]}, key=_class_sort_key)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({c for c, _, _ in by_split["test"]} - set(index))
    if unknown:
        raise _corrupt(source, f"has test classes without training images: {unknown}")
    result: dict[str, np.ndarray] = {"class_names": np.array(class_names)}
    for split in SPLITS:
        items = sorted(by_split[split], key=lambda e: (index[e[0]], e[1]))
        images = [decode_image(d, path=f"{os.fspath(source)}:{split}/{c}/{f}") for c, f, d in items]
        shapes = {image.shape for image in images}
        if len(shapes) != 1:
            raise _corrupt(source, f"mixes image shapes {sorted(shapes)} in {split}/")
        result[f"x_{split}"] = np.stack(images)
        result[f"y_{split}"] = np.array([index[c] for c, _, _ in items], dtype=np.int32)
        result[f"files_{split}"] = np.array([f"{c}/{f}" for c, f, _ in items])
    return result


def read_omniglot_alphabets(path: str | os.PathLike) -> dict[str, list[tuple[str, int, int]]]:
    """Reads `alphabets.json`: per part, [alphabet, first id, last id] (inclusive).

    Raises:
        CorruptDataError: not JSON, or not that structure.
    """
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
        return {
            part: [(str(name), int(first), int(last)) for name, first, last in content[part]]
            for part in ("background", "evaluation")
        }
    except (ValueError, KeyError, TypeError) as err:
        raise _corrupt(
            path,
            f"is not an Omniglot alphabets.json ({err!r}); expected "
            '{"background": [[alphabet, first_id, last_id], ...], "evaluation": [...]}',
        ) from err


def read_omniglot_npz(
    background: str | os.PathLike, evaluation: str | os.PathLike, alphabets: str | os.PathLike
) -> dict[str, np.ndarray]:
    """Reads the Omniglot npz layout: two npz files of 105x105 images and alphabets.json.

    Each npz holds `images` bool [chars, drawers, H, W] (True = white background) and
    `labels` int [chars, drawers]. Row i of the background file is character id i + 1;
    row i of the evaluation file is id (background chars) + 1 + i; `alphabets.json`
    gives each alphabet's inclusive id range.

    Args:
        background: `images_background.npz`.
        evaluation: `images_evaluation.npz`.
        alphabets: `alphabets.json`.

    Returns:
        See `assemble_omniglot`.

    Raises:
        CorruptDataError: unreadable npz, wrong shapes, or id ranges that do not tile
            the characters.
    """
    parts = []
    for path in (background, evaluation):
        try:
            with open(path, "rb") as file, np.load(file, allow_pickle=False) as content:
                images, labels = content["images"], content["labels"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise _corrupt(
                path, f"is not a readable Omniglot npz with 'images' and 'labels' ({err!r})"
            ) from err
        if images.ndim != 4 or labels.shape != images.shape[:2]:
            raise _corrupt(
                path,
                "expected images bool [chars, drawers, H, W] and labels [chars, drawers]; "
                f"got images {images.dtype} {list(images.shape)} and labels {list(labels.shape)}",
            )
        parts.append(images if images.dtype == bool else images > 127)
    ranges = read_omniglot_alphabets(alphabets)
    num_background = parts[0].shape[0]
    char_ids = np.concatenate(
        [np.arange(1, num_background + 1), num_background + 1 + np.arange(parts[1].shape[0])]
    )
    alphabet_of = np.full(char_ids.shape, -1, dtype=np.int64)
    names = []
    for name, first, last in ranges["background"] + ranges["evaluation"]:
        selected = (char_ids >= first) & (char_ids <= last)
        if first > last or not selected.any() or (alphabet_of[selected] >= 0).any():
            raise _corrupt(alphabets, f"alphabet {name!r} has an empty or overlapping range")
        alphabet_of[selected] = len(names)
        names.append(name)
    if (alphabet_of < 0).any():
        raise _corrupt(
            alphabets,
            f"covers no alphabet for character ids {char_ids[alphabet_of < 0][:5].tolist()}...",
        )
    try:
        images = np.concatenate(parts)
    except ValueError as err:
        raise _corrupt(evaluation, f"does not match the background file's shape ({err})") from err
    return assemble_omniglot(images, char_ids, alphabet_of, names)


def iter_omniglot_images(root: str | os.PathLike, *, part: str) -> Iterator[tuple[str, str, bytes]]:
    """Yields (alphabet, file name, bytes) of an official Omniglot folder or zip.

    Args:
        root: `images_background/` or `images_background.zip` (or the evaluation ones);
            files are `<part>/<alphabet>/characterNN/<id>_<drawer>.png`.
        part: `images_background` or `images_evaluation`, for the zip's top folder.

    Raises:
        CorruptDataError: the zip is unreadable.
    """
    root = Path(root)
    if root.is_dir():
        for path in sorted(root.glob("*/*/*.png")):
            yield path.parts[-3], path.name, path.read_bytes()
        return
    try:
        with zipfile.ZipFile(root) as archive:
            for name in sorted(archive.namelist()):
                pieces = PurePosixPath(name).parts
                if len(pieces) >= 3 and _OMNIGLOT_NAME.match(pieces[-1]) and part in pieces:
                    yield pieces[-3], pieces[-1], archive.read(name)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
        raise _corrupt(root, f"is not a readable zip archive ({err})") from err


def read_omniglot_images(
    entries: Iterable[tuple[str, str, bytes]], *, source: str | os.PathLike
) -> dict[str, np.ndarray]:
    """Decodes official Omniglot PNGs named `<character id>_<drawer>.png`.

    Args:
        entries: (alphabet, file name, bytes) from `iter_omniglot_images`.
        source: the folders or zips, for messages.

    Returns:
        See `assemble_omniglot`; alphabets are ordered by their first character id.

    Raises:
        CorruptDataError: no images, a PNG that does not decode, or characters with
            different numbers of drawers.
    """
    images: dict[int, dict[int, np.ndarray]] = {}
    alphabet_of_id: dict[int, str] = {}
    for alphabet, file_name, data in entries:
        match = _OMNIGLOT_NAME.match(file_name)
        if match is None:
            continue
        char_id, drawer = int(match.group(1)), int(match.group(2))
        pixels = decode_image(data, path=f"{os.fspath(source)}:{alphabet}/{file_name}", mode="L")
        images.setdefault(char_id, {})[drawer] = pixels[..., 0] > 127
        alphabet_of_id[char_id] = alphabet
    if not images:
        raise _corrupt(source, "holds no <alphabet>/characterNN/<id>_<drawer>.png images")
    counts = {len(drawers) for drawers in images.values()}
    if len(counts) != 1:
        raise _corrupt(source, f"characters have different numbers of drawers: {sorted(counts)}")
    char_ids = np.array(sorted(images))
    stacked = np.stack([np.stack([images[c][d] for d in sorted(images[c])]) for c in char_ids])
    names = list(dict.fromkeys(alphabet_of_id[c] for c in char_ids))
    alphabet_of = np.array([names.index(alphabet_of_id[c]) for c in char_ids])
    return assemble_omniglot(stacked, char_ids, alphabet_of, names)


def assemble_omniglot(
    images: np.ndarray, char_ids: np.ndarray, alphabet_of: np.ndarray, names: list[str]
) -> dict[str, np.ndarray]:
    """Downsamples Omniglot to 28x28 with strokes bright on dark.

    Args:
        images: bool [chars, drawers, H, W], True = white background.
        char_ids: int [chars], the global character ids (1-based in the official set).
        alphabet_of: int [chars], each character's index into `names`.
        names: the alphabet names.

    Returns:
        `x`: uint8 [chars, drawers, 28, 28, 1] (area-averaged, inverted: 255 = stroke),
        `char_ids` int32 [chars], `alphabet` int32 [chars], `alphabet_names` str [A].
    """
    chars, drawers, height, width = images.shape
    flat = images.reshape(chars * drawers, height, width)
    down = np.empty((flat.shape[0], 28, 28), dtype=np.uint8)
    rows, cols = _area_matrix(height, 28), _area_matrix(width, 28)
    for start in range(0, flat.shape[0], 2048):
        white = flat[start : start + 2048].astype(np.float32)
        ink = 1.0 - rows @ white @ cols.T
        down[start : start + 2048] = np.clip(np.rint(ink * 255.0), 0, 255).astype(np.uint8)
    return {
        "x": down.reshape(chars, drawers, 28, 28, 1),
        "char_ids": np.asarray(char_ids, dtype=np.int32),
        "alphabet": np.asarray(alphabet_of, dtype=np.int32),
        "alphabet_names": np.array(names),
    }


def _area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """float32 [size_out, size_in]: the area-average (box filter) resampling weights."""
    edges = np.arange(size_out + 1) * (size_in / size_out)
    pixels = np.arange(size_in)
    overlap = np.clip(
        np.minimum(edges[1:, None], pixels[None, :] + 1) - np.maximum(edges[:-1, None], pixels),
        0.0,
        None,
    )
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)
