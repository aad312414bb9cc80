"""CIFAR as an image folder, or a tar archive of one (e.g. a JPEG copy of CIFAR-10).

Where this sits: `sources.py` asks `formats("cifar10")` (or `"cifar100"`) for these
two layouts after those of `cifar_pickle.py`; the arrays feed the same CIFAR
protocols.

```
<data root>/cifar10/ (or the root)      or  <data root>/cifar10/<any>.tar.gz|.tgz|.tar
    train/<class>/<file>.png|jpg|bmp          holding the same folders, optionally
    test/<class>/<file>.png|jpg|bmp           under one top folder ([top/]train/...)
```

Classes are the folder names under `train/`, sorted (numerically when all digits);
examples are ordered by class, then file name. CIFAR is published as raw pixels, so
a copy of JPEG files is a lossy re-encoding: the metadata then carries a `note`.
For CIFAR-100 folders named after the fine classes, the coarse labels are filled in
from `catalog.CIFAR100_SUPERCLASSES`.

Arrays returned: `x_train` uint8 [N, 32, 32, 3], `y_train` int32 [N], `x_test`,
`y_test` (and `coarse_train`, `coarse_test` for CIFAR-100 with the fine names);
metadata `class_names`, `image_suffixes`, and `note` for a JPEG copy.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from recollect.datasets.catalog import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_SUPERCLASSES,
    TITLES,
)
from recollect.datasets.cifar_pickle import ARCHIVES as PICKLE_ARCHIVES
from recollect.datasets.errors import CorruptDataError, corrupt
from recollect.datasets.formats import Decoded, Format, decode_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SPLITS = ("train", "test")

_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_JPEG_NOTE = (
    "Decoded from JPEG files. CIFAR is published as raw pixels, so a JPEG copy is a lossy "
    "re-encoding, and this loader cannot tell how far it is from the originals: name "
    "results after the copy, e.g. '{title} (JPEG copy)'."
)
# (split, class name, file name, bytes) of one image.
Entry = tuple[str, str, str, bytes]


def formats(name: str) -> list[Format]:
    """Returns the image folder and the image archive layouts of a CIFAR set.

    Args:
        name: `cifar10` or `cifar100`.

    Returns:
        Two `Format`s: the folder, then the archive.
    """
    return [_folder_format(name), _archive_format(name)]


def _image_member(name: str) -> tuple[str, str, str] | None:
    """Splits `[prefix/]train/<class>/<file>.png` into (split, class, file), else None."""
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or parts[-3] not in SPLITS:
        return None
    if parts[-1].startswith(".") or not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return None
    return parts[-3], parts[-2], parts[-1]


def iter_folder_images(root: str | os.PathLike) -> Iterator[Entry]:
    """Yields (split, class name, file name, bytes) for `root/{train,test}/<class>/*`.

    Args:
        root: the folder holding `train/` and `test/`.

    Yields:
        One entry per image file, in sorted path order.
    """
    root = Path(root)
    for split in SPLITS:
        for path in sorted((root / split).glob("*/*")):
            entry = _image_member(path.relative_to(root).as_posix())
            if entry is not None and path.is_file():
                yield (*entry, path.read_bytes())


def iter_tar_images(path: str | os.PathLike) -> Iterator[Entry]:
    """Yields (split, class name, file name, bytes) for an image-folder tar archive.

    Args:
        path: the archive.

    Yields:
        One entry per image member, in archive order.

    Raises:
        CorruptDataError: the archive is truncated or not a tar file.
    """
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                entry = _image_member(member.name) if member.isfile() else None
                file = archive.extractfile(member) if entry is not None else None
                if entry is not None and file is not None:  # never None for a regular file
                    yield (*entry, file.read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise corrupt(path, f"is not a readable tar archive ({err}); it may be truncated") from err


def _class_sort_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name)


def read_image_entries(
    entries: Iterable[Entry], *, source: str | os.PathLike
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
        raise corrupt(source, f"holds no images under {', '.join(s + '/' for s in empty)}")
    class_names = sorted({c for c, _, _ in by_split["train"]}, key=_class_sort_key)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({c for c, _, _ in by_split["test"]} - set(index))
    if unknown:
        raise corrupt(source, f"has test classes without training images: {unknown}")
    result: dict[str, np.ndarray] = {"class_names": np.array(class_names)}
    for split in SPLITS:
        items = sorted(by_split[split], key=lambda e: (index[e[0]], e[1]))
        images = [decode_image(d, path=f"{os.fspath(source)}:{split}/{c}/{f}") for c, f, d in items]
        shapes = {image.shape for image in images}
        if len(shapes) != 1:
            raise corrupt(source, f"mixes image shapes {sorted(shapes)} in {split}/")
        result[f"x_{split}"] = np.stack(images)
        result[f"y_{split}"] = np.array([index[c] for c, _, _ in items], dtype=np.int32)
        result[f"files_{split}"] = np.array([f"{c}/{f}" for c, f, _ in items])
    return result


def _cifar_arrays(name: str, decoded: dict[str, np.ndarray], where: Path) -> Decoded:
    """Checks decoded folders against CIFAR; adds coarse labels and the JPEG note."""
    class_names = decoded["class_names"].tolist()
    canonical = CIFAR10_CLASSES if name == "cifar10" else CIFAR100_CLASSES
    if len(class_names) != len(canonical):
        raise CorruptDataError(
            f"{where}: expected {len(canonical)} class folders under train/; found "
            f"{len(class_names)}: {class_names[:12]}"
        )
    arrays = {key: decoded[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    for split in SPLITS:
        if arrays[f"x_{split}"].shape[1:] != (32, 32, 3):
            raise CorruptDataError(
                f"{where}: expected 32x32 RGB images; {split}/ holds "
                f"{list(arrays[f'x_{split}'].shape[1:])}"
            )
    metadata: dict[str, Any] = {"class_names": class_names}
    if name == "cifar100" and sorted(class_names) == list(CIFAR100_CLASSES):
        coarse_of = {f: c for c, fines in enumerate(CIFAR100_SUPERCLASSES.values()) for f in fines}
        table = np.array([coarse_of[f] for f in class_names], dtype=np.int32)
        for split in SPLITS:
            arrays[f"coarse_{split}"] = table[arrays[f"y_{split}"]]
        metadata["coarse_class_names"] = list(CIFAR100_SUPERCLASSES)
    suffixes = {Path(f).suffix.lower() for split in SPLITS for f in decoded[f"files_{split}"]}
    metadata["image_suffixes"] = sorted(suffixes)
    if suffixes & {".jpg", ".jpeg"}:
        metadata["note"] = _JPEG_NOTE.format(title=TITLES[name])
    return arrays, metadata


def _folder_format(name: str) -> Format:
    def find(folder: Path) -> tuple[list[Path], list[str]]:
        found = [folder / s for s in SPLITS if (folder / s).is_dir()]
        return found, [f"{s}/" for s in SPLITS if not (folder / s).is_dir()]

    def read(paths: list[Path]) -> Decoded:
        root = paths[0].parent
        return _cifar_arrays(name, read_image_entries(iter_folder_images(root), source=root), root)

    expected = "an image folder train/<class>/*.png|jpg and test/<class>/*.png|jpg"
    return Format("image folder", expected, find, read)


def _archive_format(name: str) -> Format:
    def find(folder: Path) -> tuple[list[Path], list[str]]:
        # Any archive name is accepted, so only inside the data set's own folder.
        if folder.name != name:
            return [], []
        archives = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.name.endswith(_TAR_SUFFIXES) and p.name not in PICKLE_ARCHIVES
        )
        return archives[:1], []

    def read(paths: list[Path]) -> Decoded:
        decoded = read_image_entries(iter_tar_images(paths[0]), source=paths[0])
        return _cifar_arrays(name, decoded, paths[0])

    expected = (
        f"in {name}/, one archive *.tar.gz|*.tgz|*.tar of such an image folder "
        "([top/]train/<class>/*.jpg, [top/]test/<class>/*.jpg)"
    )
    return Format("image folder archive", expected, find, read)
