"""One seed's state on disk, and how a run is asked to stop.

Where this sits: `agents.experiment.loop.run` hands every seed a `StopSignal` and
its directory; the seed's experiment keeps a `SeedState` there, saves it after
every phase (a task, a game's phase) and restores it on `--resume`.

```
workdir/seed_<s>/progress.json        a Progress subclass: position, rows, timings, and
                                      the name and digests of the checkpoint it belongs to
workdir/seed_<s>/checkpoints/ckpt-N.* tf.train.Checkpoint(learner=..., **beside)
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

import tensorflow as tf

from agents.experiment.files import write_json
from recollect import checkpointing


class RunInterrupted(KeyboardInterrupt):
    """Raised after a checkpoint is written because the run was asked to stop.

    Attributes:
        signal_number: the signal that stopped it (SIGINT for the test hook), so a
            program can exit with 128 + it, as the shell expects.
    """

    def __init__(self, message: str, signal_number: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signal_number = int(signal_number)


@dataclasses.dataclass
class Progress:
    """What every run's progress file holds; each kind of run adds its position and rows.

    Attributes:
        wall_seconds: time spent in this seed, over every call.
        train_seconds: time spent training (not evaluating).
        checkpoint: the checkpoint this progress belongs to, relative to the seed dir.
        checkpoint_number: how many checkpoints were written.
        checkpoint_files: suffix (".index", ".data-...") -> size and sha256 of each
            file of that checkpoint (`recollect.checkpointing.file_digest`),
            checked before a resume reads it.
    """

    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    checkpoint: str | None = None
    checkpoint_number: int = 0
    checkpoint_files: dict[str, dict] = dataclasses.field(default_factory=dict)


class SeedState:
    """A seed's learner checkpoint and progress file.

    Args:
        directory: workdir/seed_<s>.
        learner: the seed's learner or agent (a `tf.Module`: everything it tracks
            is saved).
        progress_class: the run's `Progress` subclass.
        beside: more modules saved in the same checkpoint under these names (the
            drift probe, which is not part of the learner).
    """

    def __init__(
        self,
        directory: str,
        learner: tf.Module,
        progress_class: type[Progress] = Progress,
        *,
        beside: Mapping[str, tf.Module] | None = None,
    ) -> None:
        self.directory = directory
        self.progress_path = os.path.join(directory, "progress.json")
        self.checkpoint = tf.train.Checkpoint(learner=learner, **(beside or {}))
        self.progress_class = progress_class
        self.progress: Any = progress_class()

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
