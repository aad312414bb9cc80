"""Where a distillation seed stands, saved with every checkpoint.

Where this sits: `agents.distill.loop` keeps one `DistillProgress` per seed in an
`agents.experiment.SeedState` (workdir/seed_<s>/progress.json beside the student's
checkpoint), saved once the teacher and each memory are ready, at every test point
of every method, and when asked to stop.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.experiment import Progress


@dataclasses.dataclass
class DistillProgress(Progress):
    """A distillation seed's position, results so far and timings.

    Attributes:
        teacher_accuracy: the teacher's test accuracy; None until it is ready
            (trained and saved to seed_<s>/teacher.keras, or loaded).
        teacher_seconds: time spent training the teacher.
        memories: key(compression) -> its code shape, storage and distortion, for
            each memory filled and checkpointed (seed_<s>/memories/).
        method: index of the method being trained (== the number of methods at the end).
        step: student steps taken in that method.
        steps: student steps taken in this seed, every method together.
        curves: method name -> test accuracy at each test point reached.
    """

    teacher_accuracy: float | None = None
    teacher_seconds: float = 0.0
    memories: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    method: int = 0
    step: int = 0
    steps: int = 0
    curves: dict[str, list[float]] = dataclasses.field(default_factory=dict)
