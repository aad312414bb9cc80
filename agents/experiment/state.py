"""One seed's state on disk, and how a run is asked to stop.

Where this sits: `agents.experiment.loop.run` hands every seed a `StopSignal` and
its directory; the seed's experiment keeps a `SeedState` there, saves it after
every phase (a task, a game's phase) and restores it on `--resume`.

```
workdir/seed_<s>/progress.json        a Progress subclass: position, rows, timings, and
                                      the name and digests of the checkpoint it belongs to
workdir/seed_<s>/progress.previous.json  the same for the checkpoint before
workdir/seed_<s>/checkpoints/ckpt-N.* tf.train.Checkpoint(learner=..., **beside)
workdir/seed_<s>/result.json          written once the seed is finished
```

A new checkpoint is written before the progress file that names it; the last
progress file becomes `progress.previous.json`, and its checkpoint is kept until
the next save. A kill at any moment leaves a consistent pair on disk (at worst
only the previous one), and workers of a multi-worker run that were killed one
save apart resume together from the older of the two (`restore(agree=...)`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
from collections.abc import Callable, Mapping
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
        self.previous_path = os.path.join(directory, "progress.previous.json")
        self.checkpoint = tf.train.Checkpoint(learner=learner, **(beside or {}))
        self.progress_class = progress_class
        self.progress: Any = progress_class()

    def restore(self, agree: Callable[[int], int] | None = None) -> bool:
        """Loads the last saved progress and checkpoint; False when there is none.

        Args:
            agree: for runs of several workers, the checkpoint number every worker
                resumes from, given this worker's newest (the smallest over the
                workers: `agents.strategies.lowest_across_workers`). A worker one
                save ahead loads its previous checkpoint.

        Raises:
            ValueError: the agreed checkpoint is neither of the two this worker
                keeps; or a checkpoint file that does not match its digest.
        """
        kept = [p for p in (self.progress_path, self.previous_path) if os.path.exists(p)]
        saved = [self._read(path) for path in kept]
        newest = saved[0].checkpoint_number if saved else 0
        wanted = newest if agree is None else agree(newest)
        if wanted == 0 and agree is not None:
            return False  # a worker without a checkpoint: every worker starts over
        if not saved:
            return False
        matching = [p for p in saved if p.checkpoint_number == wanted]
        if not matching:
            raise ValueError(
                f"Expected checkpoint {wanted}, where every worker can resume, in "
                f"{self.directory}. Received: this worker keeps "
                f"{[p.checkpoint_number for p in saved]}; start every worker again "
                "without --resume in a new --workdir."
            )
        progress = matching[0]
        if progress.checkpoint:
            path = os.path.join(self.directory, progress.checkpoint)
            for suffix, written in progress.checkpoint_files.items():
                checkpointing.verify_file(path + suffix, written)
            self.checkpoint.read(path).assert_consumed()
        self.progress = progress
        return True

    def _read(self, path: str) -> Any:
        with open(path, encoding="utf-8") as f:
            return self.progress_class(**json.load(f))

    def save(self) -> None:
        """Writes a new checkpoint, then the progress file that points at it.

        The checkpoint before the previous one is deleted last.
        """
        progress = self.progress
        progress.checkpoint_number += 1
        name = os.path.join("checkpoints", f"ckpt-{progress.checkpoint_number}")
        written = self.checkpoint.write(os.path.join(self.directory, name))
        progress.checkpoint_files = {
            path[len(written) :]: checkpointing.file_digest(path)
            for path in tf.io.gfile.glob(written + ".*")
        }
        previous, progress.checkpoint = progress.checkpoint, name
        older = None
        if os.path.exists(self.previous_path):
            older = self._read(self.previous_path).checkpoint
        if os.path.exists(self.progress_path):
            os.replace(self.progress_path, self.previous_path)
        write_json(self.progress_path, dataclasses.asdict(progress))
        if older and older not in (previous, name):
            for path in tf.io.gfile.glob(os.path.join(self.directory, older) + ".*"):
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
