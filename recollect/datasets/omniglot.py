"""Omniglot: an npz copy with alphabets.json, or the official PNG folders or zips.

Where this sits: `sources.py` asks `formats("omniglot")` for these three layouts, in
this order; `tfds_source.py` converts tfds's copy with `assemble_omniglot`;
`protocols/omniglot.py` makes one task per alphabet from the arrays.

```
<data root>/omniglot/ (or the root)
    images_background.npz    images bool [964, 20, 105, 105] (True = white),
                             labels [964, 20]; row i is character id i + 1
    images_evaluation.npz    the same for ids 965..1623
    alphabets.json           {"background": [[alphabet, first_id, last_id], ...],
                              "evaluation": [...]}   (inclusive id ranges)
    <file>.sha256            optional beside each file, checked by sources.py
or  images_background/<alphabet>/characterNN/<id>_<drawer>.png  and images_evaluation/
or  images_background.zip and images_evaluation.zip holding those folders
```

Arrays returned (see `assemble_omniglot`): `x` uint8 [chars, drawers, 28, 28, 1]
(area-averaged, 255 = stroke), `char_ids` int32 [chars], `alphabet` int32 [chars]
(index into `alphabet_names`), `alphabet_names` str [A].
"""

from __future__ import annotations

import json
import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from recollect.datasets.errors import corrupt
from recollect.datasets.formats import Decoded, Format, decode_image, find_named

_PNG_NAME = re.compile(r"^(\d+)_(\d+)\.png$")
_PARTS = ("images_background", "images_evaluation")
_NPZ_FILES = ("images_background.npz", "images_evaluation.npz", "alphabets.json")


def formats(name: str) -> list[Format]:
    """Returns the Omniglot layouts: the npz copy, the official folders, the official zips.

    Args:
        name: the data set, `omniglot`.

    Returns:
        Three `Format`s, in that order.
    """
    del name
    return [_npz_format(), _images_format(zipped=False), _images_format(zipped=True)]


def read_omniglot_alphabets(path: str | os.PathLike) -> dict[str, list[tuple[str, int, int]]]:
    """Reads `alphabets.json`: per part, [alphabet, first id, last id] (inclusive).

    Args:
        path: the file.

    Returns:
        `background` and `evaluation`: (alphabet, first id, last id) each.

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
        raise corrupt(
            path,
            f"is not an Omniglot alphabets.json ({err!r}); expected "
            '{"background": [[alphabet, first_id, last_id], ...], "evaluation": [...]}',
        ) from err


def _read_npz_part(path: str | os.PathLike) -> np.ndarray:
    """Returns the images bool [chars, drawers, H, W] (True = white) of one Omniglot npz."""
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as content:
            images, labels = content["images"], content["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise corrupt(
            path, f"is not a readable Omniglot npz with 'images' and 'labels' ({err!r})"
        ) from err
    if images.ndim != 4 or labels.shape != images.shape[:2]:
        raise corrupt(
            path,
            "expected images bool [chars, drawers, H, W] and labels [chars, drawers]; "
            f"got images {images.dtype} {list(images.shape)} and labels {list(labels.shape)}",
        )
    return images if images.dtype == bool else images > 127


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
    parts = [_read_npz_part(path) for path in (background, evaluation)]
    ranges = read_omniglot_alphabets(alphabets)
    num_background = parts[0].shape[0]
    char_ids = np.concatenate(
        [np.arange(1, num_background + 1), num_background + 1 + np.arange(parts[1].shape[0])]
    )
    alphabet_of = np.full(char_ids.shape, -1, dtype=np.int64)
    names: list[str] = []
    for name, first, last in ranges["background"] + ranges["evaluation"]:
        selected = (char_ids >= first) & (char_ids <= last)
        if first > last or not selected.any() or (alphabet_of[selected] >= 0).any():
            raise corrupt(alphabets, f"alphabet {name!r} has an empty or overlapping range")
        alphabet_of[selected] = len(names)
        names.append(name)
    if (alphabet_of < 0).any():
        raise corrupt(
            alphabets,
            f"covers no alphabet for character ids {char_ids[alphabet_of < 0][:5].tolist()}...",
        )
    try:
        images = np.concatenate(parts)
    except ValueError as err:
        raise corrupt(evaluation, f"does not match the background file's shape ({err})") from err
    return assemble_omniglot(images, char_ids, alphabet_of, names)


def iter_omniglot_images(root: str | os.PathLike, *, part: str) -> Iterator[tuple[str, str, bytes]]:
    """Yields (alphabet, file name, bytes) of an official Omniglot folder or zip.

    Args:
        root: `images_background/` or `images_background.zip` (or the evaluation ones);
            files are `<part>/<alphabet>/characterNN/<id>_<drawer>.png`.
        part: `images_background` or `images_evaluation`, for the zip's top folder.

    Yields:
        One entry per PNG, in sorted path order.

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
                if len(pieces) >= 3 and _PNG_NAME.match(pieces[-1]) and part in pieces:
                    yield pieces[-3], pieces[-1], archive.read(name)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
        raise corrupt(root, f"is not a readable zip archive ({err})") from err


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
        match = _PNG_NAME.match(file_name)
        if match is None:
            continue
        char_id, drawer = int(match.group(1)), int(match.group(2))
        pixels = decode_image(data, path=f"{os.fspath(source)}:{alphabet}/{file_name}", mode="L")
        images.setdefault(char_id, {})[drawer] = pixels[..., 0] > 127
        alphabet_of_id[char_id] = alphabet
    if not images:
        raise corrupt(source, "holds no <alphabet>/characterNN/<id>_<drawer>.png images")
    counts = {len(drawers) for drawers in images.values()}
    if len(counts) != 1:
        raise corrupt(source, f"characters have different numbers of drawers: {sorted(counts)}")
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


def _npz_format() -> Format:
    def read(paths: list[Path]) -> Decoded:
        return read_omniglot_npz(*paths), {}

    expected = (
        "images_background.npz and images_evaluation.npz (images bool [chars, 20, 105, 105], "
        "True = white; labels [chars, 20]) with alphabets.json "
        '({"background": [[alphabet, first_id, last_id], ...], "evaluation": [...]}); '
        "a <file>.sha256 beside a file is checked"
    )
    return Format("npz", expected, lambda folder: find_named(folder, _NPZ_FILES), read)


def _images_format(*, zipped: bool) -> Format:
    suffix = ".zip" if zipped else ""

    def find(folder: Path) -> tuple[list[Path], list[str]]:
        found = [folder / f"{p}{suffix}" for p in _PARTS if (folder / f"{p}{suffix}").exists()]
        present = {p.name for p in found}
        return found, [f"{p}{suffix}" for p in _PARTS if f"{p}{suffix}" not in present]

    def read(paths: list[Path]) -> Decoded:
        def entries() -> Iterator[tuple[str, str, bytes]]:
            for path, part in zip(paths, _PARTS, strict=True):
                yield from iter_omniglot_images(path, part=part)

        source = " + ".join(map(str, paths))
        return read_omniglot_images(entries(), source=source), {}

    layout = "<alphabet>/characterNN/<id>_<drawer>.png"
    if zipped:
        expected = f"the official zips images_background.zip and images_evaluation.zip ({layout})"
    else:
        expected = f"the official folders images_background/ and images_evaluation/ ({layout})"
    return Format("official zips" if zipped else "official folders", expected, find, read)
