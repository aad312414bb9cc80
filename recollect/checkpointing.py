"""Atomic checkpoint writes with a config side file, and restores checked before any change.

Where this sits: under `RecollectionMemory.save_checkpoint` and
`restore_checkpoint`, at the end of a run or a preemption. A checkpoint holds the
codec's weights, every buffer row and counter, and the optimizer's slots; the side
file says which memory they belong to and what every file held when written:

```
<prefix>.index                   object graph and variable names
<prefix>.data-00000-of-00001     the variables' values
<prefix>.memory.json             {"body": {"format", "config": the memory's config,
                                  "files": {".index": {"bytes", "sha256"}, ...}},
                                  "sha256": of the body}
```

A write goes to a temporary prefix in the same directory and is renamed into
place, the side file last, so a reader never sees half a checkpoint (a write cut
off between renames leaves files whose checksums do not match). A restore checks,
in order and before changing anything: the side file is there and intact, its
config equals the target's entry by entry, every file has its size and sha256,
and a fresh probe of the target's config reads the checkpoint with every object
matched; only then is the target's state replaced. A checkpoint without a side
file (written by `tf.train.Checkpoint` directly) is refused: nothing says which
memory it came from, and damage in it could not be told from a different shape.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any, Protocol, Self

import keras
import tensorflow as tf

SIDE_FILE = ".memory.json"
FORMAT = "recollect.memory_checkpoint/1"
_CHUNK_BYTES = 1 << 20


class Checkpointable(Protocol):
    """What a restore needs of a memory: its config, variables and checkpoint."""

    variables: Sequence[keras.Variable]
    optimizer: keras.optimizers.Optimizer

    @classmethod
    def from_config(cls, config: dict) -> Self:
        """A fresh object of this config."""
        ...

    def get_config(self) -> dict:
        """The object's config."""
        ...

    def checkpoint(self) -> tf.train.Checkpoint:
        """A checkpoint of the object and its optimizer."""
        ...


def write_atomically(checkpoint: tf.train.Checkpoint, path: str, *, config: dict) -> str:
    """Writes a checkpoint and its side file to a temporary prefix, then renames them.

    Args:
        checkpoint: what to write.
        path: checkpoint prefix, e.g. "ckpt/memory"; its directory is made.
        config: JSON-friendly dict, the memory's config, recorded in the side file.

    Returns:
        the prefix written.

    Raises:
        ValueError: if path is not a prefix (a non-empty str not ending in "/").
    """
    path = _checked_prefix(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        prefix = os.path.join(tmp, "ckpt")
        checkpoint.write(prefix)
        suffixes = sorted(name[len("ckpt") :] for name in os.listdir(tmp))
        body = {
            "format": FORMAT,
            "config": _as_json(config),
            "files": {suffix: file_digest(prefix + suffix) for suffix in suffixes},
        }
        with open(prefix + SIDE_FILE, "w") as f:
            json.dump({"body": body, "sha256": _body_digest(body)}, f, indent=1)
        for suffix in [*suffixes, SIDE_FILE]:  # the side file last
            os.replace(prefix + suffix, path + suffix)
    return path


def restore_verified(target: Checkpointable, path: str, *, config: dict) -> None:
    """Restores `target` from a checkpoint, checking it fits before changing anything.

    Args:
        target: the object to restore (a `RecollectionMemory`).
        path: checkpoint prefix.
        config: the target's config, as given to `write_atomically` when saving.

    Raises:
        ValueError: if the checkpoint or its side file is missing, a file is
            missing, damaged or truncated, the config differs (naming the first
            differing entry), a fresh object of the target's config cannot
            read it, or path is not a prefix.
    """
    body = _read_side_file(_checked_prefix(path))
    difference = first_difference(body["config"], _as_json(config))
    if difference is not None:
        raise ValueError(
            f"Expected a checkpoint of a memory with the same config. Received: {difference}"
        )
    for suffix, written in body["files"].items():
        verify_file(path + suffix, written)
    probe = type(target).from_config(target.get_config())
    try:
        status = probe.checkpoint().read(path)
        status.assert_existing_objects_matched()
    except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:
        raise ValueError(
            f"Expected a checkpoint that restores into this memory. Received: {path} ({error})"
        ) from error
    for mine, theirs in zip(target.variables, probe.variables, strict=True):
        mine.assign(theirs)
    for mine, theirs in zip(target.optimizer.variables, probe.optimizer.variables, strict=True):
        mine.assign(theirs)


def first_difference(saved: Any, here: Any, where: str = "") -> str | None:
    """The first entry in which two JSON-like configs differ, in words.

    Dict entries are visited in `here`'s order (then those only in `saved`), so
    the answer is the same for the same two configs.

    Args:
        saved: the config in the checkpoint.
        here: the config of the memory being restored.
        where: the dotted name of the entry being compared.

    Returns:
        e.g. "fields.label.num_values is 100 in the checkpoint, 10 here", or None.
    """
    if isinstance(saved, dict) and isinstance(here, dict):
        for key in [*here, *(k for k in saved if k not in here)]:
            name = f"{where}.{key}" if where else str(key)
            if key not in saved:
                return f"{name} is absent in the checkpoint, {here[key]!r} here"
            if key not in here:
                return f"{name} is {saved[key]!r} in the checkpoint, absent here"
            found = first_difference(saved[key], here[key], name)
            if found is not None:
                return found
        return None
    if saved != here or type(saved) is not type(here):
        return f"{where or 'config'} is {saved!r} in the checkpoint, {here!r} here"
    return None


def _checked_prefix(path: str | os.PathLike) -> str:
    """path as a str, once it is known to name files, not a folder."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not os.path.basename(path):
        raise ValueError(
            f"Expected a checkpoint prefix such as 'ckpt/memory'. Received: path={path!r}"
        )
    return path


def _read_side_file(path: str) -> dict:
    """The side file's body, checked against its own digest."""
    side = path + SIDE_FILE
    if not tf.io.gfile.exists(side):
        if not tf.io.gfile.exists(path + ".index"):
            raise ValueError(f"Expected a checkpoint at {path}. Received: no {path}.index")
        raise ValueError(
            f"Expected the config file {side} that save_checkpoint writes next to a "
            f"checkpoint. Received: {path}.index without it (the memory it came from "
            "cannot be checked)"
        )
    try:
        with tf.io.gfile.GFile(side, "rb") as f:
            document = json.loads(f.read().decode("utf-8"))
        body = document["body"]
        intact = document["sha256"] == _body_digest(body) and isinstance(body["files"], dict)
    except (ValueError, KeyError, TypeError, AttributeError):
        intact = False
    if not intact:
        raise ValueError(f"Expected an intact checkpoint. Received: {side} is damaged or truncated")
    if body.get("format") != FORMAT:
        raise ValueError(
            f"Expected a checkpoint of format {FORMAT}. Received: {body.get('format')!r} in {side}"
        )
    return body


def verify_file(name: str, written: dict) -> None:
    """Raises ValueError unless the file has the size and sha256 it was written with.

    Args:
        name: the file.
        written: its `file_digest` when it was written.

    Raises:
        ValueError: naming the file, if it is missing, damaged or truncated.
    """
    if not tf.io.gfile.exists(name):
        raise ValueError(f"Expected every file of the checkpoint. Received: {name} is missing")
    size = tf.io.gfile.stat(name).length
    if size != written["bytes"] or file_digest(name)["sha256"] != written["sha256"]:
        raise ValueError(
            f"Expected the checkpoint's files as written. Received: {name} is damaged or "
            f"truncated (its size or sha256 differs: {size} bytes now, {written['bytes']} written)"
        )


def file_digest(name: str) -> dict:
    """{"bytes": size, "sha256": hex digest} of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with tf.io.gfile.GFile(name, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def _body_digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def _as_json(config: dict) -> dict:
    """The config as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(config))
