"""Experience replay over real storage or recollections (Algorithm 1).

```
train_graph  recall max(1, N) batches of replay_batch_size items (N: the store's
             stabilize_batches; 0 for real storage)
             -> store.stabilize(x, their inputs)      the codec's own self-replay
             -> model step on x ++ the first batch    (decoded once for both)
             -> store.observe(x, y, task)
```

The whole step is one compiled call (`Learner.train_step`); an empty store skips
the recall inside the graph.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

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

    def train_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """Recall, stabilise the store, one model step on new + recalled, observe (graph)."""
        store, size = self.store, self.config.replay_batch_size
        tasks = tf.fill(tf.shape(y), task)

        def replayed() -> tf.Tensor:
            recalled = [store.recall(size) for _ in range(max(1, store.stabilize_batches))]
            store.stabilize(x, [r[0] for r in recalled])  # the first batch serves both
            x_hat, y_hat, tasks_hat = recalled[0]
            return self.model_step(
                tf.concat([x, x_hat], 0), tf.concat([y, y_hat], 0), tf.concat([tasks, tasks_hat], 0)
            )

        def alone() -> tf.Tensor:
            store.stabilize(x, None)
            return self.model_step(x, y, tasks)

        loss = tf.cond(store.size() > 0, replayed, alone)
        with tf.control_dependencies([loss]):
            store.observe(x, y, task)
        return tf.identity(loss)
