"""One seed's state on disk: its progress and the checkpoint of its learner.

Where this sits: `agents.continual.loop` makes a `SeedState` per seed, saves it
after every task (and when asked to stop) and restores it on `--resume`.

```
workdir/seed_<s>/progress.json        Progress: position, accuracy (and drift) rows,
                                      timings, and the name of the checkpoint it belongs to
workdir/seed_<s>/checkpoints/ckpt-N.* tf.train.Checkpoint(learner=..., drift_probe=...):
                                      model, optimizers, store (buffer, codec), RNG
                                      state; the drift probe when it is on
workdir/seed_<s>/result.json          written once the seed is finished
```

A new checkpoint is written before the progress file that names it, and the
previous one is deleted only after, so a kill at any moment leaves a consistent
pair on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
from collections.abc import Mapping
from types import FrameType
from typing import Any

import numpy as np
import tensorflow as tf

from recollect import checkpointing


@dataclasses.dataclass
class Progress:
    """Where a seed's run stands; saved with every checkpoint.

    Attributes:
        task: the task being trained (== num_tasks when all are done).
        batch: the next batch of that task.
        steps: training steps taken so far.
        accuracy_matrix: row i: test accuracy on every task after task i.
        initial_accuracy: test accuracy of the untrained model (for FWT).
        drift_matrix: with the drift probe on, row i: after task i, the mean L1
            distortion of each task's probe codes decoded now (None after i).
        drift_at_write: with the drift probe on, entry i: that distortion of task
            i's probe codes when they were written.
        wall_seconds: time spent in this seed, over every call.
        train_seconds: time spent in `train_step`.
        checkpoint: the checkpoint this progress belongs to, relative to the seed dir.
        checkpoint_number: how many checkpoints were written.
        checkpoint_files: suffix (".index", ".data-...") -> size and sha256 of each
            file of that checkpoint (`recollect.checkpointing.file_digest`),
            checked before a resume reads it.
    """

    task: int = 0
    batch: int = 0
    steps: int = 0
    accuracy_matrix: list[list[float]] = dataclasses.field(default_factory=list)
    initial_accuracy: list[float] | None = None
    drift_matrix: list[list[float | None]] = dataclasses.field(default_factory=list)
    drift_at_write: list[float | None] = dataclasses.field(default_factory=list)
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    checkpoint: str | None = None
    checkpoint_number: int = 0
    checkpoint_files: dict[str, dict] = dataclasses.field(default_factory=dict)


class SeedState:
    """A seed's learner checkpoint and progress file.

    Args:
        directory: workdir/seed_<s>.
        learner: the seed's learner (a `tf.Module`: everything it tracks is saved).
        progress_class: the progress dataclass; it must have `Progress`'s
            checkpoint, checkpoint_number and checkpoint_files fields.
        beside: more modules saved in the same checkpoint under these names (the
            drift probe, which is not part of the learner).
    """

    def __init__(
        self,
        directory: str,
        learner: tf.Module,
        progress_class: type[Any] = Progress,
        *,
        beside: Mapping[str, tf.Module] | None = None,
    ) -> None:
        self.directory = directory
        self.progress_path = os.path.join(directory, "progress.json")
        self.checkpoint = tf.train.Checkpoint(learner=learner, **(beside or {}))
        self.progress_class = progress_class
        self.progress = progress_class()

    def restore(self) -> bool:
        """Loads the last saved progress and checkpoint; False when there is none."""
        if not os.path.exists(self.progress_path):
            return False
        with open(self.progress_path, encoding="utf-8") as f:
            progress = self.progress_class(**json.load(f))
        if progress.checkpoint:
            path = os.path.join(self.directory, progress.checkpoint)
            for suffix, written in progress.checkpoint_files.items():
                checkpointing.verify_file(path + suffix, written)
            self.checkpoint.read(path).assert_consumed()
        self.progress = progress
        return True

    def save(self) -> None:
        """Writes a new checkpoint, then the progress file that points at it."""
        progress = self.progress
        progress.checkpoint_number += 1
        name = os.path.join("checkpoints", f"ckpt-{progress.checkpoint_number}")
        written = self.checkpoint.write(os.path.join(self.directory, name))
        progress.checkpoint_files = {
            path[len(written) :]: checkpointing.file_digest(path)
            for path in tf.io.gfile.glob(written + ".*")
        }
        previous, progress.checkpoint = progress.checkpoint, name
        write_json(self.progress_path, dataclasses.asdict(progress))
        if previous:
            for path in tf.io.gfile.glob(os.path.join(self.directory, previous) + ".*"):
                os.remove(path)


class StopSignal:
    """Turns SIGINT / SIGTERM into a flag the run loop checks after each step."""

    def __init__(self) -> None:
        self.raised: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        self.raised = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def write_json(path: str, value: Any) -> None:
    """Writes value as JSON atomically (numpy scalars and arrays included)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, default=_json_default)
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    """The JSON value in path."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
