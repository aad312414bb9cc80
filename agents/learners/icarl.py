"""iCaRL (Rebuffi et al., 2017), as GEM's re-implementation runs it, over either store.

```
train_step   model step on (x, y) + strength * KL(teacher || model) on exemplars
             recalled from the store, over each exemplar's task classes
             (the store stabilises its codec on x and the recalled batch)
end_task     teacher := a copy of the model
             herding: per class of the task, the exemplars whose running feature
             mean is nearest the class mean -> store.observe (the task's ring)
             class means of every stored exemplar, with the model as it is now
accuracy     nearest mean of exemplars over the task's classes; a task with no
             exemplars yet (not seen) falls back to the model's masked argmax
```

Features are the model's logits, L2-normalised (GEM's re-implementation uses the
logits; iCaRL normalises its features and means). Each task gets an equal share of
the store (capacity // num_tasks rows), split evenly over its classes, written
once at the task's end; nothing is stored during a task. The teacher is the model
as it was at the last task end, the targets of the distillation (GEM keeps the
same outputs per exemplar); `footprint()` counts it.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from agents.learners.base import MASKED_LOGIT, Learner, LearnerConfig, check_config, check_count
from agents.stores import EpisodicStore
from recollect import Footprint, TaskRingPolicy, WritePolicy

FEATURE_BATCH = 500


@dataclasses.dataclass(frozen=True)
class IcarlConfig(LearnerConfig):
    """iCaRL's settings.

    Attributes:
        replay_batch_size: exemplars recalled for the distillation term at each step.
        icarl_strength: weight of the distillation term (GEM's memory_strength: 1).
    """

    replay_batch_size: int = 10
    icarl_strength: float = 1.0

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        super().__post_init__()
        check_count("replay_batch_size", self.replay_batch_size)
        check_config(
            isinstance(self.icarl_strength, int | float) and self.icarl_strength >= 0,
            "--icarl_strength >= 0",
            f"icarl_strength={self.icarl_strength!r}",
        )


def herding(features: np.ndarray, count: int) -> np.ndarray:
    """iCaRL's exemplar order: rows whose running mean stays nearest the mean.

    Args:
        features: float [n, d], one class's features.
        count: exemplars to choose (at most n are).

    Returns:
        int64 [min(count, n)]: distinct row indices, in the order chosen.
    """
    features = np.asarray(features, np.float64)
    target = features.mean(axis=0)
    chosen: list[int] = []
    running = np.zeros_like(target)
    free = np.ones(len(features), bool)
    for k in range(1, min(count, len(features)) + 1):
        distance = np.linalg.norm(target - (running + features) / k, axis=1)
        distance[~free] = np.inf
        best = int(np.argmin(distance))
        chosen.append(best)
        free[best] = False
        running += features[best]
    return np.asarray(chosen, np.int64)


def _normalised(features: tf.Tensor) -> tf.Tensor:
    return tf.math.l2_normalize(features, axis=-1)


class IcarlLearner(Learner):
    """Distillation on stored exemplars, herding at task ends, nearest-mean prediction."""

    config_class = IcarlConfig
    config: IcarlConfig
    store: EpisodicStore
    needs_store = True

    @classmethod
    def write_policy(cls, *, num_tasks: int, capacity: int) -> WritePolicy:
        """An equal share of rows per task, written at the task's end."""
        del capacity
        return TaskRingPolicy(num_tasks)

    def __init__(
        self,
        model: keras.Model,
        *,
        config: IcarlConfig,
        store: EpisodicStore | None = None,
        task_masks: np.ndarray | None = None,
    ) -> None:
        super().__init__(model, config=config, store=store, task_masks=task_masks)
        num_classes = int(model.output_shape[-1])
        self.teacher = keras.models.clone_model(model)
        self.teacher.trainable = False
        self.has_teacher = tf.Variable(0.0, trainable=False, name="icarl_has_teacher")
        self.class_means = tf.Variable(
            tf.zeros([num_classes, num_classes]), trainable=False, name="icarl_class_means"
        )
        self.has_mean = tf.Variable(tf.zeros([num_classes]), trainable=False, name="icarl_has_mean")
        self._features = tf.function(
            lambda x: _normalised(self.model(x, training=False)),
            input_signature=[self.input_spec()],
        )

    def _class_mask(self, tasks: tf.Tensor) -> tf.Tensor:
        """float32 [B, num_classes]: each row's task classes (all classes, one head)."""
        if self.task_masks is None:
            return tf.ones([tf.shape(tasks)[0], int(self.class_means.shape[0])])
        return tf.gather(self.task_masks, tasks)

    def distillation(self, x_hat: tf.Tensor, tasks_hat: tf.Tensor) -> tf.Tensor:
        """Mean KL(teacher || model) over each exemplar's task classes. float32 []."""
        mask = self._class_mask(tasks_hat)
        teacher = self.masked_logits(self.teacher(x_hat, training=False), tasks_hat)
        student = self.masked_logits(self.model(x_hat, training=True), tasks_hat)
        target = tf.nn.softmax(teacher)
        gap = tf.nn.log_softmax(teacher) - tf.nn.log_softmax(student)
        return tf.reduce_mean(tf.reduce_sum(target * gap * mask, axis=-1))

    def _step(self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor, recalled: tuple) -> tf.Tensor:
        x_hat, _, tasks_hat = recalled
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.cross_entropy(self.model(x, training=True), y, tasks)
            distill = self.distillation(x_hat, tasks_hat)
            total = loss + self.config.icarl_strength * self.has_teacher * distill
        self.optimizer.apply(tape.gradient(total, variables), variables)
        return loss

    def train_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """Stabilise the store, then k model steps with distillation once exemplars exist."""
        store, size = self.store, self.config.replay_batch_size
        tasks = tf.fill(tf.shape(y), task)

        def distilled() -> tf.Tensor:
            recalled = store.recall(size)
            store.stabilize(x, [recalled[0]])
            return self._step(x, y, tasks, recalled)

        def alone() -> tf.Tensor:
            store.stabilize(x, None)
            return self.model_step(x, y, tasks)

        loss = last = tf.cond(store.size() > 0, distilled, alone)
        for _ in range(self.config.steps_per_batch - 1):
            with tf.control_dependencies([last]):
                last = tf.cond(
                    store.size() > 0,
                    lambda: self._step(x, y, tasks, store.recall(size)),
                    lambda: self.model_step(x, y, tasks),
                )
        with tf.control_dependencies([last]):
            return tf.identity(loss)

    def features(self, x: np.ndarray | tf.Tensor) -> np.ndarray:
        """float32 [N, num_classes]: L2-normalised logits, FEATURE_BATCH rows a call."""
        x = np.asarray(x, np.float32)
        parts = [
            self._features(x[i : i + FEATURE_BATCH]).numpy()
            for i in range(0, len(x), FEATURE_BATCH)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, int(self.class_means.shape[0])))

    def end_task(self, task: int, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Teacher copy, herding into the task's share of the store, fresh class means."""
        policy = self.store.policy
        if not isinstance(policy, TaskRingPolicy):
            raise ValueError(
                f"Expected a store with a TaskRingPolicy for iCaRL. Received: {policy!r}"
            )
        for mine, theirs in zip(self.teacher.weights, self.model.weights, strict=True):
            mine.assign(theirs)
        self.has_teacher.assign(1.0)
        share = policy.share(self.store.capacity)
        classes = np.unique(np.asarray(y_train))
        features = self.features(x_train)
        picked = []
        for rank, label in enumerate(classes):
            count = share // len(classes) + (1 if rank < share % len(classes) else 0)
            rows = np.flatnonzero(y_train == label)
            picked.append(rows[herding(features[rows], count)])
        chosen = np.concatenate(picked)
        if len(chosen):
            self.store.observe(x_train[chosen], np.asarray(y_train)[chosen], task)
        self._update_means(task, share)

    def _update_means(self, last_task: int, share: int) -> None:
        """Class means of the stored exemplars of tasks 0..last_task (decoded, for codes)."""
        num_classes = int(self.class_means.shape[0])
        rows = [
            task * share + np.arange(int(self.store.task_size(task)), dtype=np.int64)
            for task in range(last_task + 1)
        ]
        x_hat, y_hat, _ = self.store.read_rows(np.concatenate(rows))  # a task's ring, in order
        labels = y_hat.numpy()
        sums, counts = np.zeros((num_classes, num_classes)), np.zeros(num_classes)
        np.add.at(sums, labels, self.features(x_hat.numpy()))
        np.add.at(counts, labels, 1.0)
        means = sums / np.maximum(counts, 1.0)[:, None]
        norms = np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        self.class_means.assign((means / norms).astype(np.float32))
        self.has_mean.assign((counts > 0).astype(np.float32))

    def _predict_graph(self, x: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """int32 [B]: nearest class mean over the task's classes that have exemplars."""
        logits = self.model(x, training=False)
        tasks = tf.fill([tf.shape(x)[0]], task)
        allowed = self._class_mask(tasks) * self.has_mean
        # |f - m|^2 = |f|^2 + |m|^2 - 2 f.m with |f| = 1: one [B, C] matmul, not a
        # [B, C, C] difference (which would not fit for Omniglot's 1,623 classes).
        means = self.class_means
        squared = tf.reduce_sum(tf.square(means), axis=-1)
        distance = (
            1.0 + squared[None, :] - 2.0 * tf.matmul(_normalised(logits), means, transpose_b=True)
        )
        nearest = -distance + (1.0 - allowed) * MASKED_LOGIT
        scores = tf.where(tf.reduce_any(allowed > 0), nearest, self.masked_logits(logits, tasks))
        return tf.argmax(scores, axis=-1, output_type=tf.int32)

    def footprint(self) -> Footprint:
        """The store's, plus the teacher's weights and the class means (float32)."""
        store = self.store.footprint()
        teacher_bytes = 4 * sum(int(np.prod(w.shape)) for w in self.teacher.weights)
        means_bytes = 4 * (int(np.prod(self.class_means.shape)) + int(self.has_mean.shape[0]))
        return dataclasses.replace(
            store, state_bytes=store.state_bytes + teacher_bytes + means_bytes
        )
