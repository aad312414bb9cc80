"""Where a continual seed stands, saved with every checkpoint.

Where this sits: `agents.continual.loop` keeps one `ContinualProgress` per seed in
an `agents.experiment.SeedState` (workdir/seed_<s>/progress.json beside the
learner's checkpoint), saved after every task and when asked to stop.
"""

from __future__ import annotations

import dataclasses

from agents.experiment import Progress


@dataclasses.dataclass
class ContinualProgress(Progress):
    """A continual seed's position, rows and timings (and `Progress`'s checkpoint fields).

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
    """

    task: int = 0
    batch: int = 0
    steps: int = 0
    accuracy_matrix: list[list[float]] = dataclasses.field(default_factory=list)
    initial_accuracy: list[float] | None = None
    drift_matrix: list[list[float | None]] = dataclasses.field(default_factory=list)
    drift_at_write: list[float | None] = dataclasses.field(default_factory=list)
