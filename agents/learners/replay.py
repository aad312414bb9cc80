"""Experience replay over real storage or recollections (Algorithm 1).

```
train_step   recall max(1, N) batches of replay_batch_size items (N: the store's
             stabilize_batches; 0 for real storage)
             -> store.stabilize(x, their inputs)      the codec's own self-replay
             -> model step on x ++ the first batch
             -> store.observe(x, y, task)
```
"""

from __future__ import annotations

import dataclasses

import numpy as np

from agents.learners.base import Learner, LearnerConfig, check_count
from agents.stores import EpisodicStore


@dataclasses.dataclass(frozen=True)
class ReplayConfig(LearnerConfig):
    """Replay's settings.

    Attributes:
        replay_batch_size: recalled items joined to each incoming batch, and per
            stabilising step of a recollection store.
    """

    replay_batch_size: int = 10

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        super().__post_init__()
        check_count("replay_batch_size", self.replay_batch_size)


class ReplayLearner(Learner):
    """Trains on each incoming batch joined with a batch recalled from the store."""

    config_class = ReplayConfig
    config: ReplayConfig
    store: EpisodicStore
    needs_store = True

    def train_step(self, x: np.ndarray, y: np.ndarray, task: int) -> float:
        """Recall, stabilise the store, one model step on new + recalled, observe."""
        y = np.asarray(y, np.int32)
        tasks = np.full(len(y), task, np.int32)
        x_step, y_step, tasks_step = x, y, tasks
        if self.store.size() > 0:
            batches = max(1, self.store.stabilize_batches)
            recalled = [self.store.recall(self.config.replay_batch_size) for _ in range(batches)]
            self.store.stabilize(x, [r[0] for r in recalled])
            x_step = np.concatenate([x, recalled[0][0].numpy()])
            y_step = np.concatenate([y, recalled[0][1].numpy()])
            tasks_step = np.concatenate([tasks, recalled[0][2].numpy()])
        else:
            self.store.stabilize(x, None)
        loss = float(self._step(x_step, y_step, tasks_step))
        self.store.observe(x, y, task)
        return loss
