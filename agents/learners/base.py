"""The learner interface: a Keras model, its optimizer and one compiled step.

Where this sits: `agents.continual` feeds each incoming batch to
`learner.train_step(x, y, task)`, calls `learner.end_task(...)` at each task
boundary and `learner.accuracy(...)` to evaluate. Each learner is one module of
this package with its own frozen config; `agents.learners.LEARNERS` names them.

```
Learner (tf.Module: a checkpoint of it holds model, optimizer, store and state)
  config_class    its frozen config (fields become runner flags)
  needs_store     True: it replays from an episodic store (agents.stores)
  write_policy()  how that store assigns rows (reservoir; GEM: a ring per task)
  train_step      x float32 [B, *input_shape], y int [B], task int -> loss float
  end_task        after the last batch of a task
  footprint()     what it keeps beyond the model, as a recollect.Footprint
```

`train_step` is one compiled `tf.function` call (`_train`, a fixed input signature,
no retracing per batch) of the learner's whole step, `train_graph`: recall,
stabilise, model step and observe for the learners with a store. It runs on a
GPU when TensorFlow sees one, and with XLA when `jit_compile` is set.

`steps_per_batch` (k) model steps are taken on each incoming batch, all inside
that one call (a Python loop over the static k, unrolled when traced). The loss
returned is the first step's: the model's loss on the batch as it arrived, the
same quantity at any k.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from agents.stores import EpisodicStore
from recollect import Footprint, ReservoirPolicy, WritePolicy, replicas
from recollect.footprint import raw_example_bytes

MASKED_LOGIT = -1e9
OPTIMIZERS = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}


def check_config(condition: bool, expected: str, received: str) -> None:
    """Raises `ValueError("Expected {expected}. Received: {received}")` unless condition."""
    if not condition:
        raise ValueError(f"Expected {expected}. Received: {received}")


def check_count(name: str, value: object, *, optional: bool = False) -> None:
    """Raises ValueError naming --name unless value is an int >= 1 (or None, if optional)."""
    check_config(
        (optional and value is None) or (isinstance(value, int) and value >= 1),
        f"--{name} >= 1",
        f"{name}={value!r}",
    )


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """The predictive model's optimizer; every learner's config extends it.

    Attributes:
        learning_rate: step size of the predictive model's optimizer.
        optimizer: sgd (plain SGD, as GEM) or adam.
        jit_compile: compile the learner's step with XLA (try it on a GPU).
        steps_per_batch: model steps on each incoming batch, all in one compiled
            call (the paper's Omniglot runs: 3). Replay recalls a fresh batch for
            every step; a store observes the batch and stabilises its codec once
            per incoming batch, whatever the number of steps.
    """

    learning_rate: float = 0.01
    optimizer: str = "sgd"
    jit_compile: bool = False
    steps_per_batch: int = 1

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        check_config(
            self.optimizer in OPTIMIZERS,
            f"--optimizer among {sorted(OPTIMIZERS)}",
            f"optimizer={self.optimizer!r}",
        )
        check_config(
            isinstance(self.learning_rate, int | float) and self.learning_rate > 0,
            "--learning_rate > 0",
            f"learning_rate={self.learning_rate!r}",
        )
        check_count("steps_per_batch", self.steps_per_batch)


class Learner(tf.Module):
    """Base learner: a Keras model trained with SGD (or Adam), one compiled step.

    Args:
        model: a Keras model mapping x [B, *input_shape] to logits [B, num_classes].
        config: the learner's `config_class` instance.
        store: an episodic store (`agents.stores`) when `needs_store`, else None.
        strategy: a tf.distribute strategy whose scope the model, optimizer and store
            were built under (`agents.strategies`); each step then splits its batch
            over the replicas. None: one device.
        task_masks: optional float32 [num_tasks, num_classes] 0/1: the classes each
            task may predict (multi-head protocols); None for one shared head.

    Raises:
        ValueError: a store missing or of the wrong kind, or masks of another shape.
    """

    config_class: ClassVar[type[LearnerConfig]] = LearnerConfig
    needs_store: ClassVar[bool] = False
    # Whether `replica_graph` runs under a tf.distribute strategy (no synchronising
    # call inside a tf.cond): a learner that trains replicated says so.
    supports_strategy: ClassVar[bool] = False

    @classmethod
    def write_policy(cls, *, num_tasks: int, capacity: int) -> WritePolicy:
        """The write policy this learner's store needs: reservoir sampling by default."""
        del num_tasks, capacity
        return ReservoirPolicy()

    def __init__(
        self,
        model: keras.Model,
        *,
        config: LearnerConfig,
        store: EpisodicStore | None = None,
        task_masks: np.ndarray | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        super().__init__(name=type(self).__name__)
        if not isinstance(config, self.config_class):
            raise ValueError(
                f"Expected a {self.config_class.__name__} for {type(self).__name__}. "
                f"Received: {config!r}"
            )
        if self.needs_store and store is None:
            raise ValueError(
                f"Expected an episodic store for {type(self).__name__}. Received: None"
            )
        self.model = model
        self.config = config
        self.store = store
        self.optimizer = OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate)
        self.optimizer.build(model.trainable_variables)
        num_classes = int(model.output_shape[-1])
        self.task_masks = (
            None if task_masks is None else tf.constant(np.asarray(task_masks, np.float32))
        )
        if self.task_masks is not None and self.task_masks.shape[1] != num_classes:
            raise ValueError(
                f"Expected task_masks of shape [num_tasks, {num_classes}]. Received: "
                f"{self.task_masks.shape}"
            )
        x_spec, label_spec = self.input_spec(), tf.TensorSpec([None], tf.int32)
        signature = [x_spec, label_spec, tf.TensorSpec([], tf.int32)]
        self._train = tf.function(
            self.train_graph, input_signature=signature, jit_compile=config.jit_compile or None
        )
        self.strategy = strategy
        # Indexed by whether the store holds items, so that no tf.cond on it is inside.
        self._replicated = tuple(
            tf.function(
                lambda x, y, task, stored=stored: self._run_replicas(x, y, task, stored),
                input_signature=signature,
            )
            for stored in ((False, True) if strategy is not None else ())
        )
        task_spec = tf.TensorSpec([], tf.int32)
        # One compiled count per input dtype: float32 in [0, 1], or the streams' uint8.
        self._count_correct = tf.function(
            self._count_correct_graph, input_signature=[x_spec, label_spec, task_spec]
        )
        self._count_correct_uint8 = tf.function(
            self._count_correct_graph,
            input_signature=[tf.TensorSpec(x_spec.shape, tf.uint8), label_spec, task_spec],
        )

    def input_spec(self, *outer: int | None) -> tf.TensorSpec:
        """float32 [*outer, None, *input_shape]: a batch of the model's inputs."""
        return tf.TensorSpec([*outer, None, *self.model.input_shape[1:]], tf.float32)

    # ----------------------------------------------------------- graph parts
    def masked_logits(self, logits: tf.Tensor, tasks: tf.Tensor) -> tf.Tensor:
        """Sets logits outside each example's task classes to a large negative value."""
        if self.task_masks is None:
            return logits
        mask = tf.gather(self.task_masks, tasks)
        return logits + (1.0 - mask) * MASKED_LOGIT

    def cross_entropy(self, logits: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor) -> tf.Tensor:
        """Mean cross-entropy of the task-masked logits. float32 []."""
        masked = self.masked_logits(logits, tasks)
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=masked)
        )

    def extra_loss(self, x: tf.Tensor, tasks: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """Regulariser added to the cross-entropy (EWC, LwF). float32 [].

        Args:
            x: the step's inputs.
            tasks: int32 [B] task ids.
            logits: float32 [B, num_classes], the model's unmasked logits.
        """
        del x, tasks, logits
        return tf.constant(0.0)

    def model_step(self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor) -> tf.Tensor:
        """One optimizer step of the model on (x, y): float32 [] cross-entropy (graph part).

        Args:
            x: float32 [B, *input_shape].
            y: int32 [B] labels.
            tasks: int32 [B] task ids (for the output masks).
        """
        variables = self.model.trainable_variables
        context = replicas.replica_context()
        with tf.GradientTape() as tape:
            raw_logits = self.model(x, training=True)
            loss = self.cross_entropy(raw_logits, y, tasks)
            total = loss + self.extra_loss(x, tasks, raw_logits)
            if context is not None:  # this replica's share of the global batch's mean
                total = total * replicas.loss_weight(context, tf.shape(x)[0])
        self.optimizer.apply(tape.gradient(total, variables), variables)
        return loss

    def train_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """The learner's whole step on an incoming batch, compiled by `train_step`.

        Args:
            x: float32 [B, *input_shape].
            y: int32 [B] labels.
            task: int32 [], the batch's task.

        Returns:
            float32 []: the model's loss at the first of its `steps_per_batch` steps.
        """
        tasks = tf.fill(tf.shape(y), task)
        loss = self.model_step(x, y, tasks)
        for _ in range(self.config.steps_per_batch - 1):
            self.model_step(x, y, tasks)
        return loss

    def replica_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor, stored: bool) -> tf.Tensor:
        """`train_graph` on one replica's part of the batch, inside `strategy.run`.

        Args:
            x, y, task: as `train_graph`, this replica's rows.
            stored: whether the store holds items (known before the call, so that
                no synchronising call sits inside a tf.cond).

        Returns:
            float32 []: this replica's loss at the first step.
        """
        del stored
        return self.train_graph(x, y, task)

    def _run_replicas(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor, stored: bool) -> tf.Tensor:
        """The global batch split over the replicas in order; the mean of their losses."""
        strategy = self.strategy
        assert strategy is not None  # only compiled for a strategy

        def replica(x: tf.Tensor, y: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
            context = tf.distribute.get_replica_context()
            index = tf.cast(context.replica_id_in_sync_group, tf.int32)
            size = tf.shape(x)[0] // context.num_replicas_in_sync
            rows = slice(index * size, (index + 1) * size)
            return self.replica_graph(x[rows], y[rows], task, stored)

        losses = strategy.run(replica, args=(x, y, task))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    def _predict_graph(self, x: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """int32 [B]: the task-masked argmax for x float32 [B, *input_shape]."""
        tasks = tf.fill([tf.shape(x)[0]], task)
        return tf.argmax(
            self.masked_logits(self.model(x, training=False), tasks), axis=-1, output_type=tf.int32
        )

    def _count_correct_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """int32 []: correct predictions; uint8 x is scaled as `scale_pixels` does."""
        if x.dtype == tf.uint8:
            # divide_no_nan, not `/`: Grappler folds `x / 255.0` into `x * (1 / 255)`,
            # which differs from numpy's x / 255 in the last bit for about half the
            # values; a test checks all 256.
            x = tf.math.divide_no_nan(tf.cast(x, tf.float32), 255.0)
        return tf.reduce_sum(tf.cast(tf.equal(self._predict_graph(x, task), y), tf.int32))

    # ------------------------------------------------------------ public API
    def train_step(self, x: np.ndarray, y: np.ndarray, task: int) -> float:
        """`steps_per_batch` steps on an incoming batch (one compiled call).

        Returns:
            The model's loss at the first step.
        """
        labels, task_id = np.asarray(y, np.int32), np.int32(task)
        if self.strategy is None:
            return float(self._train(x, labels, task_id))
        replicas_in_sync = self.strategy.num_replicas_in_sync
        if len(labels) % replicas_in_sync:
            raise ValueError(
                f"Expected a batch that the {replicas_in_sync} replicas share equally. "
                f"Received: a batch of {len(labels)}"
            )
        stored = self.store is not None and int(self.store.size()) > 0
        return float(self._replicated[stored](x, labels, task_id))

    def end_task(self, task: int, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Called after the last batch of `task` with that task's training data."""
        del task, x_train, y_train

    def accuracy(self, x: np.ndarray, y: np.ndarray, task: int, *, batch_size: int = 2000) -> float:
        """Test accuracy on one task's data (with that task's output mask).

        Correct predictions are counted in the compiled graph, `batch_size` rows a
        call. Rows do not interact in inference, so `batch_size` sets speed and
        memory; on CPU the counts are the same at any size (a test checks).

        Args:
            x: float32 [N, *input_shape] in [0, 1], or uint8 [N, *input_shape] raw
                pixels (a stream's `task_arrays(t, dtype=np.uint8)`), scaled by x / 255
                in the graph, so both give the same accuracy.
            y: int [N] labels.
            task: the task whose output mask applies.
            batch_size: rows per compiled call.

        Returns:
            The fraction of rows predicted correctly (0.0 for no rows).
        """
        count = self._count_correct_uint8 if x.dtype == np.uint8 else self._count_correct
        labels, task_id = np.asarray(y, np.int32), tf.constant(task, tf.int32)
        correct = 0
        for start in range(0, len(labels), batch_size):
            rows = slice(start, start + batch_size)
            correct += int(count(x[rows], labels[rows], task_id))
        return correct / max(len(labels), 1)

    def footprint(self) -> Footprint:
        """What the learner keeps beyond the model: its store's, or nothing."""
        if self.store is not None:
            return self.store.footprint()
        return Footprint(kind="none", raw_example_bytes=self.raw_example_bytes())

    def report(self) -> dict[str, int | float]:
        """Counters worth reporting with the results (GEM: projections); none here."""
        return {}

    def raw_example_bytes(self) -> float:
        """Bytes of one raw 8-bit input of the model's input shape."""
        return raw_example_bytes(math.prod(self.model.input_shape[1:]))

    def parameter_bytes(self) -> int:
        """Bytes of the model's trainable parameters as float32."""
        return 4 * sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)
