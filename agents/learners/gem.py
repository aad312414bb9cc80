"""Gradient Episodic Memory over real storage or recollections (Algorithm 2).

```
train_step   recall N batches (the store's stabilize_batches; 0 for real storage)
             -> store.stabilize(x, them) -> store.observe(x, y, task)
             -> g on (x, y); G [K, P]: one gradient per earlier task on its
                (decoded) memories, all K in one vectorised call
             -> g := GEM projection of g if G g has a negative entry (scipy QP)
             -> SGD step with g
```

GEM needs a ring of rows per task (`TaskRingPolicy`), and says so through
`write_policy`; the run loop builds its store with it.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from agents.gem_projection import project_gradient
from agents.learners.base import Learner, LearnerConfig, check_config, check_count
from agents.stores import EpisodicStore
from recollect import TaskRingPolicy, WritePolicy


@dataclasses.dataclass(frozen=True)
class GemConfig(LearnerConfig):
    """GEM's settings.

    Attributes:
        replay_batch_size: recalled items per stabilising step of a recollection
            store.
        memory_strength: GEM's margin.
        gem_ridge: ridge added to G G^T in GEM's dual.
        gem_memories_per_task: memories per earlier task in each step's constraint
            gradient: None for all of them (GEM); a number draws that many
            uniformly from the task's memories at every step, which bounds the
            decoding cost of recollections.
    """

    replay_batch_size: int = 10
    memory_strength: float = 0.5
    gem_ridge: float = 1e-3
    gem_memories_per_task: int | None = None

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        super().__post_init__()
        check_count("replay_batch_size", self.replay_batch_size)
        check_count("gem_memories_per_task", self.gem_memories_per_task, optional=True)
        check_config(
            self.memory_strength >= 0 and self.gem_ridge >= 0,
            "--memory_strength >= 0 and --gem_ridge >= 0",
            f"memory_strength={self.memory_strength!r}, gem_ridge={self.gem_ridge!r}",
        )


class GemLearner(Learner):
    """GEM: project the gradient so no earlier task's memory loss goes up.

    Every step uses the memories of every earlier task (all of them, or
    `gem_memories_per_task` drawn per task), decoded afresh for recollections.
    """

    config_class = GemConfig
    config: GemConfig
    store: EpisodicStore
    needs_store = True

    @classmethod
    def write_policy(cls, *, num_tasks: int, capacity: int) -> WritePolicy:
        """An equal ring of rows per task; raises ValueError if a task would get none."""
        if capacity < num_tasks:
            raise ValueError(
                f"Expected room for one item per task for GEM ({num_tasks} tasks). Received: "
                f"capacity {capacity}; raise --incremental_storage or --items."
            )
        return TaskRingPolicy(num_tasks=num_tasks)

    def __init__(
        self,
        model: keras.Model,
        *,
        config: GemConfig,
        store: EpisodicStore | None = None,
        task_masks: np.ndarray | None = None,
    ) -> None:
        super().__init__(model, config=config, store=store, task_masks=task_masks)
        policy = self.store.policy
        if not isinstance(policy, TaskRingPolicy):
            raise ValueError(
                f"Expected a store with a TaskRingPolicy for GEM. Received: {policy!r}"
            )
        self.share = policy.share(self.store.capacity)
        variables = model.trainable_variables
        self._shapes = tuple(tuple(v.shape) for v in variables)
        self._sizes = tuple(int(np.prod(s)) for s in self._shapes)
        label_spec = tf.TensorSpec([None], tf.int32)
        self._gradient = tf.function(
            self._gradient_graph, input_signature=[self.input_spec(), label_spec, label_spec]
        )
        self._task_gradients = tf.function(
            self._task_gradients_graph,
            input_signature=[
                self.input_spec(None),
                tf.TensorSpec([None, None], tf.int32),
                label_spec,
            ],
        )
        self._apply = tf.function(
            self._apply_graph, input_signature=[tf.TensorSpec([sum(self._sizes)], tf.float32)]
        )
        self.projections = tf.Variable(0, dtype=tf.int64, trainable=False, name="gem_projections")
        per_task = config.gem_memories_per_task
        self.memories_per_task = self.share if per_task is None else min(per_task, self.share)
        self.draws = tf.Variable([7, 0], dtype=tf.int64, trainable=False, name="gem_draws")

    @property
    def num_projections(self) -> int:
        """Steps whose gradient GEM projected."""
        return int(self.projections.numpy())

    def report(self) -> dict[str, int | float]:
        """How many steps GEM projected."""
        return {"gem_projections": self.num_projections}

    def _loss(self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor, training: bool) -> tf.Tensor:
        return self.cross_entropy(self.model(x, training=training), y, tasks)

    def _flatten(self, gradients: list[tf.Tensor]) -> tf.Tensor:
        return tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0)

    def _gradient_graph(
        self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self._loss(x, y, tasks, training=True)
        return self._flatten(tape.gradient(loss, variables)), loss

    def _task_gradients_graph(self, x: tf.Tensor, y: tf.Tensor, task_ids: tf.Tensor) -> tf.Tensor:
        """x float32 [K, m, ...], y int32 [K, m], task_ids int32 [K] -> float32 [K, P]."""
        variables = self.model.trainable_variables

        def one_task(args: tuple[tf.Tensor, tf.Tensor, tf.Tensor]) -> tf.Tensor:
            x_k, y_k, task_k = args
            with tf.GradientTape() as tape:
                tasks = tf.fill([tf.shape(y_k)[0]], task_k)
                loss = self._loss(x_k, y_k, tasks, training=False)
            return self._flatten(tape.gradient(loss, variables))

        return tf.vectorized_map(one_task, (x, y, task_ids))

    def _apply_graph(self, flat: tf.Tensor) -> None:
        variables = self.model.trainable_variables
        pieces = tf.split(flat, list(self._sizes))
        gradients = [tf.reshape(p, s) for p, s in zip(pieces, self._shapes, strict=True)]
        self.optimizer.apply(gradients, variables)

    def train_step(self, x: np.ndarray, y: np.ndarray, task: int) -> float:
        """Stabilise and observe, then one projected step. Returns the model's loss."""
        y = np.asarray(y, np.int32)
        tasks = np.full(len(y), task, np.int32)
        recalled = []
        if self.store.size() > 0:
            recalled = [
                self.store.recall(self.config.replay_batch_size)[0]
                for _ in range(self.store.stabilize_batches)
            ]
        self.store.stabilize(x, recalled)
        self.store.observe(x, y, task)
        gradient, loss = self._gradient(x, y, tasks)
        past = [k for k in range(task) if self.store.task_size(k) > 0]
        if past:
            gradient = self._projected(gradient, past)
        self._apply(gradient)
        return float(loss)

    def _projected(self, gradient: tf.Tensor, past: list[int]) -> tf.Tensor:
        """The gradient, projected when it disagrees with an earlier task's memories."""
        x_mem, y_mem, _ = self.store.read_rows(self._memory_rows(past))
        shape = [len(past), self.memories_per_task]
        memories = self._task_gradients(
            tf.reshape(x_mem, shape + list(x_mem.shape[1:])),
            tf.reshape(y_mem, shape),
            tf.constant(past, tf.int32),
        ).numpy()
        g = gradient.numpy()
        if not np.any(memories @ g < 0):
            return gradient
        self.projections.assign_add(1)
        g = project_gradient(
            g, memories, margin=self.config.memory_strength, ridge=self.config.gem_ridge
        )
        return tf.constant(g.astype(np.float32))

    def _memory_rows(self, past: list[int]) -> np.ndarray:
        """Rows of each earlier task's memories, memories_per_task of each.

        All rows of each ring (repeated if it is not full) when
        gem_memories_per_task is None; else a uniform draw per task, from a seed
        counter that checkpoints with the learner.
        """
        filled = np.array([self.store.task_size(k) for k in past], np.int64)[:, None]
        if self.memories_per_task == self.share:
            offsets = np.arange(self.share)[None, :] % filled
        else:
            seed = self.draws.numpy()
            self.draws.assign_add([0, 1])
            draws = tf.random.stateless_uniform(
                [len(past), self.memories_per_task],
                seed=seed,
                minval=None,
                maxval=None,
                dtype=tf.int64,
            ).numpy()
            offsets = (draws & 0x7FFFFFFFFFFFFFFF) % filled
        return (np.asarray(past, np.int64)[:, None] * self.share + offsets).reshape(-1)
