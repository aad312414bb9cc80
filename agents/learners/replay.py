"""Experience replay over real storage or recollections (Algorithm 1).

```
train_graph  recall max(1, N) batches of replay_batch_size items (N: the store's
             stabilize_batches; 0 for real storage)
             -> store.stabilize(x, their inputs)      the codec's own self-replay
             -> model step on x ++ the first batch    (decoded once for both)
             -> k - 1 times (k: steps_per_batch):
                recall a fresh batch -> model step on x ++ it
             -> store.observe(x, y, task)             once, after the last step
```

The whole step is one compiled call (`Learner.train_step`); an empty store skips
the recall inside the graph. The codec stabilises once per incoming batch, on the
first step, as Algorithm 1 trains it N times per incoming batch: the further model
steps only recall, decode and train the model, so k does not multiply the codec's
training.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from agents.learners.base import Learner, LearnerConfig, check_count
from agents.stores import EpisodicStore, StoreItems


@dataclasses.dataclass(frozen=True)
class ReplayConfig(LearnerConfig):
    """Replay's settings.

    With steps_per_batch k > 1, every model step recalls its own batch, while a
    recollection store's codec stabilises once per incoming batch (on the first
    step, as Algorithm 1 trains it N times per batch) and the batch is observed
    once, after the last step.

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
    """Trains on each incoming batch joined with a batch recalled from the store.

    With `steps_per_batch` k > 1, each of the k model steps joins the incoming batch
    with its own freshly recalled batch; the store stabilises and observes once.
    """

    config_class = ReplayConfig
    config: ReplayConfig
    store: EpisodicStore
    needs_store = True
    supports_strategy = True

    def train_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """Recall and stabilise, k model steps on new + recalled, observe (graph).

        Returns:
            float32 []: the model's loss at the first step.
        """
        store, size = self.store, self.config.replay_batch_size
        tasks = tf.fill(tf.shape(y), task)

        def replayed() -> tf.Tensor:
            return self._stabilized_step(x, y, tasks, size)

        def alone() -> tf.Tensor:
            store.stabilize(x, None)
            return self.model_step(x, y, tasks)

        loss = last = tf.cond(store.size() > 0, replayed, alone)
        for _ in range(self.config.steps_per_batch - 1):
            with tf.control_dependencies([last]):
                last = tf.cond(
                    store.size() > 0,
                    lambda: self._replayed_step(x, y, tasks, store.recall(size)),
                    lambda: self.model_step(x, y, tasks),
                )
        with tf.control_dependencies([last]):
            store.observe(x, y, task)
        return tf.identity(loss)

    def replica_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor, stored: bool) -> tf.Tensor:
        """`train_graph` on one replica's rows, the store's state known: no tf.cond.

        Each replica recalls its share of `replay_batch_size`; the memory draws
        every replica's share at once, so the step is the one-device step on the
        global batch. An empty store stabilises on x alone, as `train_graph` does.
        """
        store = self.store
        context = tf.distribute.get_replica_context()
        size = self.config.replay_batch_size // context.num_replicas_in_sync
        tasks = tf.fill(tf.shape(y), task)
        if not stored:
            store.stabilize(x, [x[:0]] * max(1, store.stabilize_batches))  # x alone
            loss = self.model_step(x, y, tasks)
            for _ in range(self.config.steps_per_batch - 1):
                self.model_step(x, y, tasks)
            store.observe(x, y, task)
            return loss
        loss = self._stabilized_step(x, y, tasks, size)
        for _ in range(self.config.steps_per_batch - 1):
            self._replayed_step(x, y, tasks, store.recall(size))
        store.observe(x, y, task)
        return loss

    def _stabilized_step(
        self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor, size: int
    ) -> tf.Tensor:
        """Recalls max(1, N) batches, stabilises on x with them, steps on x ++ the first."""
        store = self.store
        recalled = [store.recall(size) for _ in range(max(1, store.stabilize_batches))]
        store.stabilize(x, [r[0] for r in recalled])  # the first batch serves both
        return self._replayed_step(x, y, tasks, recalled[0])

    def _replayed_step(
        self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor, recalled: StoreItems
    ) -> tf.Tensor:
        """One model step on the incoming batch joined with a recalled one."""
        x_hat, y_hat, tasks_hat = recalled
        return self.model_step(
            tf.concat([x, x_hat], 0), tf.concat([y, y_hat], 0), tf.concat([tasks, tasks_hat], 0)
        )
