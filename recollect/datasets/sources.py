"""Finds a data set's files (a local data root, or tfds) and returns its arrays, cached.

Where this sits: `streams.py` asks `load_arrays("mnist", ...)` for a data set and
builds tasks from it; this module decides where the data comes from, reads it with
`readers.py` and caches the decoded arrays with `cache.py`.

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
import importlib.metadata
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recollect.datasets import cache as cache_lib
from recollect.datasets import readers
from recollect.datasets.readers import CorruptDataError, DataNotFoundError

DATA_DIR_ENV = "RECOLLECT_DATA_DIR"
CACHE_DIR_ENV = "RECOLLECT_CACHE_DIR"
SOURCES = ("auto", "local", "tfds")
DATASETS = ("mnist", "cifar10", "cifar100", "omniglot")
# Bump when the arrays a reader returns change, so old cache entries are not used.
RAW_FORMAT_VERSION = 1

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# The CIFAR-100 superclasses (coarse labels, in label order) and their fine classes,
# as published with the data set; used only for image folders, which lack coarse labels.
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_CLASSES = tuple(sorted(f for fines in CIFAR100_SUPERCLASSES.values() for f in fines))

_TITLES = {
    "mnist": "MNIST",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "omniglot": "Omniglot",
}
_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR10_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
_PICKLE_ARCHIVES = ("cifar-10-python.tar.gz", "cifar-100-python.tar.gz")
_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_JPEG_NOTE = (
    "Decoded from JPEG files. CIFAR is published as raw pixels, so a JPEG copy is a lossy "
    "re-encoding, and this loader cannot tell how far it is from the originals: name "
    "results after the copy, e.g. '{title} (JPEG copy)'."
)


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


@dataclasses.dataclass(frozen=True)
class _Format:
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
    read: Callable[[list[Path]], tuple[dict[str, np.ndarray], dict[str, Any]]]


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
    read: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]]


def expected_files(name: str) -> list[str]:
    """Returns, in words, each accepted local layout of data set `name`.

    Raises:
        ValueError: unknown data set.
    """
    return [fmt.expected for fmt in _formats(name)]


def resolve_data_dir(data_dir: str | os.PathLike | None) -> tuple[Path | None, str]:
    """Returns the data root and where it came from (argument, environment, or none)."""
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
    folders = [root / name, root]
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


def read_located(located: Located, *, store: cache_lib.ArrayCache | None) -> DataArrays:
    """Decodes a located data set, through the cache when `store` is given.

    Args:
        located: from `locate`.
        store: the cache, or None to read the source.

    Returns:
        The arrays and their provenance (see `load_arrays`).

    Raises:
        CorruptDataError: a source file is truncated, malformed or fails its checksum.
    """
    kind = f"raw-{located.name}"
    key = cache_lib.cache_key(
        {"dataset": located.name, "format": RAW_FORMAT_VERSION, "source": located.fingerprint}
    )
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
    if store is not None:
        store.save(kind, key, arrays, metadata)
    return DataArrays(located.name, arrays, metadata)


def _jsonable(value: Any) -> Any:
    """Round-trips through JSON so that fresh and cached metadata compare equal."""
    return json.loads(json.dumps(value))


def _message(name: str, formats: list[_Format], folders: list[Path], problem: str) -> str:
    lines = [f"Could not load the {_TITLES[name]} data set ('{name}'). {problem}"]
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


def _located_local(name: str, folder: Path, fmt: _Format, found: list[Path]) -> Located:
    files = {}
    for path in found:
        files[path.relative_to(folder).as_posix()] = _path_sha256(path)

    def read() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        try:
            for path in found:
                if path.is_file():
                    readers.verify_sidecar_sha256(path, files[path.relative_to(folder).as_posix()])
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
        return readers.file_sha256(path)
    digest = hashlib.sha256()
    for member in sorted(p for p in path.rglob("*") if p.is_file()):
        line = f"{member.relative_to(path).as_posix()}\t{readers.file_sha256(member)}\n"
        digest.update(line.encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- tfds


def _tfds_load(
    name: str, data_dir: str | os.PathLike | None
) -> tuple[str, dict[str, dict[str, np.ndarray]], dict[str, list[str]]]:
    """Loads every split of a tfds data set as numpy (downloading when needed).

    Returns:
        (version, split -> feature -> array, class-label feature -> names).
    """
    import tensorflow_datasets as tfds  # Imported here: slow, and only this path needs it.

    builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
    builder.download_and_prepare()
    splits = {
        split: tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        for split in ("train", "test")
    }
    names = {
        key: list(feature.names)
        for key, feature in builder.info.features.items()
        if isinstance(feature, tfds.features.ClassLabel)
    }
    return str(builder.version), splits, names


def _locate_tfds(
    name: str, data_dir: str | os.PathLike | None, formats: list[_Format], *, reason: str
) -> Located:
    # Nothing is downloaded until `read` runs, so a cached stream needs no network.
    try:
        package = importlib.metadata.version("tensorflow-datasets")
    except importlib.metadata.PackageNotFoundError:
        package = "missing"

    def read() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        try:
            version, splits, names = _tfds_load(name, data_dir)
        except Exception as err:  # Any tfds failure means "no data here".
            problem = (
                f"{reason[0].upper()}{reason[1:]}, so tensorflow_datasets was tried "
                f"(tfds.builder('{name}').download_and_prepare()) and failed: "
                f"{type(err).__name__}: {err}"
            )
            raise DataNotFoundError(_message(name, formats, [], problem)) from err
        arrays, metadata = _TFDS_CONVERTERS[name](splits, names)
        return arrays, {**metadata, "tfds_version": version}

    fingerprint = f"tfds:{name}:{package}:{data_dir}"
    return Located(name, "tfds", f"tfds:{name}", "tfds", fingerprint, {}, read)


def _tfds_image_set(
    splits: dict[str, dict[str, np.ndarray]], names: dict[str, list[str]]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays = {}
    for split in ("train", "test"):
        arrays[f"x_{split}"] = np.asarray(splits[split]["image"], dtype=np.uint8)
        arrays[f"y_{split}"] = np.asarray(splits[split]["label"], dtype=np.int32)
        if "coarse_label" in splits[split]:
            arrays[f"coarse_{split}"] = np.asarray(splits[split]["coarse_label"], dtype=np.int32)
    return arrays, {"class_names": names.get("label", [])}


def _tfds_omniglot(
    splits: dict[str, dict[str, np.ndarray]], names: dict[str, list[str]]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    # tfds's `label` is the official character id minus one; its `alphabet` indexes
    # the sorted alphabet names. Tasks follow the official id order instead.
    images = np.concatenate([splits[s]["image"] for s in ("train", "test")])
    labels = np.concatenate([splits[s]["label"] for s in ("train", "test")])
    alphabets = np.concatenate([splits[s]["alphabet"] for s in ("train", "test")])
    order = np.argsort(labels, kind="stable")
    char_ids, counts = np.unique(labels, return_counts=True)
    if len(set(counts.tolist())) != 1:
        raise CorruptDataError(f"tfds omniglot: characters have {sorted(set(counts))} drawers")
    drawers = int(counts[0])
    white = images[order, :, :, 0].reshape(len(char_ids), drawers, *images.shape[1:3]) > 127
    first = alphabets[order].reshape(len(char_ids), drawers)[:, 0]
    tfds_order = list(dict.fromkeys(first.tolist()))
    alphabet_of = np.array([tfds_order.index(a) for a in first])
    alphabet_names = [names["alphabet"][a] for a in tfds_order]
    return readers.assemble_omniglot(white, char_ids + 1, alphabet_of, alphabet_names), {}


_TFDS_CONVERTERS = {
    "mnist": _tfds_image_set,
    "cifar10": _tfds_image_set,
    "cifar100": _tfds_image_set,
    "omniglot": _tfds_omniglot,
}


# ---------------------------------------------------------------------- local formats


def _find(
    folder: Path, names: tuple[str, ...], *, gz: bool = False
) -> tuple[list[Path], list[str]]:
    """Looks for exact file names in `folder` (each may also end in `.gz` if `gz`)."""
    found, missing = [], []
    for name in names:
        candidates = [folder / name, folder / f"{name}.gz"] if gz else [folder / name]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            missing.append(f"{name}[.gz]" if gz else name)
        else:
            found.append(path)
    return found, missing


def _read_mnist(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    x_train, y_train, x_test, y_test = (readers.read_idx(p) for p in paths)
    for path, array, ndim in zip(
        paths, (x_train, y_train, x_test, y_test), (3, 1, 3, 1), strict=True
    ):
        if array.ndim != ndim or array.dtype != np.uint8:
            kind = "images (magic 0x00000803)" if ndim == 3 else "labels (magic 0x00000801)"
            raise CorruptDataError(
                f"{path}: expected uint8 {kind} with {ndim} dimensions; the header gives "
                f"{array.dtype.name} {list(array.shape)}"
            )
    for images, labels, path in ((x_train, y_train, paths[1]), (x_test, y_test, paths[3])):
        if len(images) != len(labels) or (labels.size and labels.max() > 9):
            raise CorruptDataError(
                f"{path}: expected {len(images)} labels in 0..9; it holds {len(labels)} "
                f"with maximum {labels.max() if labels.size else None}"
            )
    arrays = {
        "x_train": x_train[..., None],
        "y_train": y_train.astype(np.int32),
        "x_test": x_test[..., None],
        "y_test": y_test.astype(np.int32),
    }
    return arrays, {"class_names": [str(i) for i in range(10)]}


def _cifar_layout(name: str) -> tuple[str, tuple[str, ...], tuple[str, ...], str]:
    """(pickle folder, train batches, test batches, archive) of cifar10 or cifar100."""
    if name == "cifar10":
        return "cifar-10-batches-py", _CIFAR10_BATCHES[:5], ("test_batch",), _PICKLE_ARCHIVES[0]
    return "cifar-100-python", ("train",), ("test",), _PICKLE_ARCHIVES[1]


def _cifar_pickles(
    name: str, blobs: Mapping[str, bytes], where: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    subdir, train, test, _ = _cifar_layout(name)
    keys = ("labels",) if name == "cifar10" else ("fine_labels", "coarse_labels")
    arrays = {}
    for split, batches in (("train", train), ("test", test)):
        parts = [
            readers.read_cifar_pickle(blobs[b], path=f"{where}/{subdir}/{b}", label_keys=keys)
            for b in batches
        ]
        arrays[f"x_{split}"] = np.concatenate([p["images"] for p in parts])
        arrays[f"y_{split}"] = np.concatenate([p[keys[0]] for p in parts])
        if name == "cifar100":
            arrays[f"coarse_{split}"] = np.concatenate([p["coarse_labels"] for p in parts])
    meta_name = "batches.meta" if name == "cifar10" else "meta"
    names = {}
    if meta_name in blobs:
        names = readers.read_cifar_meta(blobs[meta_name], path=f"{where}/{subdir}/{meta_name}")
    default = CIFAR10_CLASSES if name == "cifar10" else CIFAR100_CLASSES
    class_names = names.get("label_names", names.get("fine_label_names", list(default)))
    metadata: dict[str, Any] = {"class_names": class_names}
    if "coarse_label_names" in names:
        metadata["coarse_class_names"] = names["coarse_label_names"]
    return arrays, metadata


def _pickle_dir_format(name: str) -> _Format:
    subdir, train, test, _ = _cifar_layout(name)
    meta = "batches.meta" if name == "cifar10" else "meta"

    def find(folder: Path) -> tuple[list[Path], list[str]]:
        found, missing = _find(folder / subdir, train + test)
        return found, [f"{subdir}/{m}" for m in missing]

    def read(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        blobs = {p.name: p.read_bytes() for p in paths}
        if (paths[0].parent / meta).is_file():
            blobs[meta] = (paths[0].parent / meta).read_bytes()
        return _cifar_pickles(name, blobs, str(paths[0].parent.parent))

    expected = f"the python pickles {subdir}/{{{', '.join(train + test)}}} (and optionally {meta})"
    return _Format("python pickles", expected, find, read)


def _pickle_tar_format(name: str) -> _Format:
    subdir, train, test, archive = _cifar_layout(name)
    meta = "batches.meta" if name == "cifar10" else "meta"

    def find(folder: Path) -> tuple[list[Path], list[str]]:
        return _find(folder, (archive,))

    def read(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        members = [f"{subdir}/{b}" for b in (*train, *test, meta)]
        blobs = readers.read_tar_members(paths[0], members)
        lacking = [m for m in members[:-1] if m not in blobs]
        if lacking:
            raise CorruptDataError(f"{paths[0]}: the archive lacks {lacking}")
        return _cifar_pickles(name, {k.split("/")[-1]: v for k, v in blobs.items()}, str(paths[0]))

    return _Format("python pickles archive", f"the archive {archive}", find, read)


def _image_set(
    name: str, decoded: dict[str, np.ndarray], where: Path
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    class_names = decoded["class_names"].tolist()
    canonical = CIFAR10_CLASSES if name == "cifar10" else CIFAR100_CLASSES
    if len(class_names) != len(canonical):
        raise CorruptDataError(
            f"{where}: expected {len(canonical)} class folders under train/; found "
            f"{len(class_names)}: {class_names[:12]}"
        )
    arrays = {key: decoded[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    for split in ("train", "test"):
        if arrays[f"x_{split}"].shape[1:] != (32, 32, 3):
            raise CorruptDataError(
                f"{where}: expected 32x32 RGB images; {split}/ holds "
                f"{list(arrays[f'x_{split}'].shape[1:])}"
            )
    metadata: dict[str, Any] = {"class_names": class_names}
    if name == "cifar100" and sorted(class_names) == list(CIFAR100_CLASSES):
        coarse_of = {f: c for c, fines in enumerate(CIFAR100_SUPERCLASSES.values()) for f in fines}
        table = np.array([coarse_of[f] for f in class_names], dtype=np.int32)
        for split in ("train", "test"):
            arrays[f"coarse_{split}"] = table[arrays[f"y_{split}"]]
        metadata["coarse_class_names"] = list(CIFAR100_SUPERCLASSES)
    suffixes = {
        Path(f).suffix.lower() for split in ("train", "test") for f in decoded[f"files_{split}"]
    }
    metadata["image_suffixes"] = sorted(suffixes)
    if suffixes & {".jpg", ".jpeg"}:
        metadata["note"] = _JPEG_NOTE.format(title=_TITLES[name])
    return arrays, metadata


def _image_folder_format(name: str) -> _Format:
    def find(folder: Path) -> tuple[list[Path], list[str]]:
        found = [folder / s for s in readers.SPLITS if (folder / s).is_dir()]
        return found, [f"{s}/" for s in readers.SPLITS if not (folder / s).is_dir()]

    def read(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        root = paths[0].parent
        decoded = readers.read_image_entries(readers.iter_folder_images(root), source=root)
        return _image_set(name, decoded, root)

    expected = "an image folder train/<class>/*.png|jpg and test/<class>/*.png|jpg"
    return _Format("image folder", expected, find, read)


def _image_tar_format(name: str) -> _Format:
    def find(folder: Path) -> tuple[list[Path], list[str]]:
        # Any archive name is accepted, so only inside the data set's own folder.
        if folder.name != name:
            return [], []
        archives = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.name.endswith(_TAR_SUFFIXES) and p.name not in _PICKLE_ARCHIVES
        )
        return archives[:1], []

    def read(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        decoded = readers.read_image_entries(readers.iter_tar_images(paths[0]), source=paths[0])
        return _image_set(name, decoded, paths[0])

    expected = (
        f"in {name}/, one archive *.tar.gz|*.tgz|*.tar of such an image folder "
        "([top/]train/<class>/*.jpg, [top/]test/<class>/*.jpg)"
    )
    return _Format("image folder archive", expected, find, read)


def _omniglot_npz_format() -> _Format:
    names = ("images_background.npz", "images_evaluation.npz", "alphabets.json")

    def read(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return readers.read_omniglot_npz(*paths), {}

    expected = (
        "images_background.npz and images_evaluation.npz (images bool [chars, 20, 105, 105], "
        "True = white; labels [chars, 20]) with alphabets.json "
        '({"background": [[alphabet, first_id, last_id], ...], "evaluation": [...]}); '
        "a <file>.sha256 beside a file is checked"
    )
    return _Format("npz", expected, lambda folder: _find(folder, names), read)


def _omniglot_images_format(*, zipped: bool) -> _Format:
    parts = ("images_background", "images_evaluation")
    suffix = ".zip" if zipped else ""

    def find(folder: Path) -> tuple[list[Path], list[str]]:
        found = [folder / f"{p}{suffix}" for p in parts if (folder / f"{p}{suffix}").exists()]
        present = {p.name for p in found}
        return found, [f"{p}{suffix}" for p in parts if f"{p}{suffix}" not in present]

    def read(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        def entries():
            for path, part in zip(paths, parts, strict=True):
                yield from readers.iter_omniglot_images(path, part=part)

        source = " + ".join(map(str, paths))
        return readers.read_omniglot_images(entries(), source=source), {}

    layout = "<alphabet>/characterNN/<id>_<drawer>.png"
    if zipped:
        expected = f"the official zips images_background.zip and images_evaluation.zip ({layout})"
    else:
        expected = f"the official folders images_background/ and images_evaluation/ ({layout})"
    return _Format("official zips" if zipped else "official folders", expected, find, read)


_FORMATS: dict[str, Callable[[], list[_Format]]] = {
    "mnist": lambda: [
        _Format(
            "IDX",
            "the IDX files " + ", ".join(_MNIST_FILES) + " (each may end in .gz)",
            lambda folder: _find(folder, _MNIST_FILES, gz=True),
            _read_mnist,
        )
    ],
    "cifar10": lambda: [
        _pickle_dir_format("cifar10"),
        _pickle_tar_format("cifar10"),
        _image_folder_format("cifar10"),
        _image_tar_format("cifar10"),
    ],
    "cifar100": lambda: [
        _pickle_dir_format("cifar100"),
        _pickle_tar_format("cifar100"),
        _image_folder_format("cifar100"),
        _image_tar_format("cifar100"),
    ],
    "omniglot": lambda: [
        _omniglot_npz_format(),
        _omniglot_images_format(zipped=False),
        _omniglot_images_format(zipped=True),
    ],
}


def _formats(name: str) -> list[_Format]:
    if name not in _FORMATS:
        raise ValueError(f"Expected a data set among {DATASETS}. Received: name={name!r}")
    return _FORMATS[name]()
