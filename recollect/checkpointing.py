"""Atomic checkpoint writes, and restores checked on a probe before any change.

Where this sits: under `RecollectionMemory.save_checkpoint` and
`restore_checkpoint`, at the end of a run or a preemption. A checkpoint holds the
codec's weights, every buffer row and counter, and the optimizer's slots:

```
<prefix>.index                   object graph and variable names
<prefix>.data-00000-of-00001     the variables' values
```

A write goes to a temporary prefix in the same directory and is renamed into
place, so a reader never sees half a checkpoint. A restore reads into a fresh
probe of the same config first; only if every object matches is the target's
state replaced.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Protocol, Self

import keras
import tensorflow as tf


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


def write_atomically(checkpoint: tf.train.Checkpoint, path: str) -> str:
    """Writes a checkpoint to a temporary prefix, then renames it to `path`.

    Args:
        checkpoint: what to write.
        path: checkpoint prefix, e.g. "ckpt/memory"; its directory is made.

    Returns:
        the prefix written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        checkpoint.write(os.path.join(tmp, "ckpt"))
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), path + name[len("ckpt") :])
    return path


def restore_verified(target: Checkpointable, path: str, *, shape: str) -> None:
    """Restores `target` from a checkpoint, checking it fits before changing anything.

    Args:
        target: the object to restore (a `RecollectionMemory`).
        path: checkpoint prefix.
        shape: the target's shape in words, for the error message.

    Raises:
        ValueError: if the checkpoint is missing or does not match a fresh object
            of the target's config.
    """
    if not tf.io.gfile.exists(path + ".index"):
        raise ValueError(f"Expected a checkpoint at {path}. Received: no {path}.index")
    probe = type(target).from_config(target.get_config())
    try:
        status = probe.checkpoint().read(path)
        status.assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as error:
        raise ValueError(
            f"Expected a checkpoint of a memory shaped like this one ({shape}). "
            f"Received: {path} ({error})"
        ) from error
    for mine, theirs in zip(target.variables, probe.variables, strict=True):
        mine.assign(theirs)
    for mine, theirs in zip(target.optimizer.variables, probe.optimizer.variables, strict=True):
        mine.assign(theirs)
