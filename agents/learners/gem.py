"""Gradient Episodic Memory over real storage or recollections (Algorithm 2).

```
train_graph  recall N batches (the store's stabilize_batches; 0 for real storage)
             -> store.stabilize(x, them) -> store.observe(x, y, task)
             -> g on (x, y); G [K, P]: one gradient per earlier task on its
                (decoded) memories, all K in one vectorised call
             -> SGD step with g, unless G g has a negative entry
train_step   one compiled call of train_graph; only when G g < 0 somewhere:
             g := GEM projection of g (scipy QP) -> SGD step with it
```

With `steps_per_batch` k > 1 the compiled call takes k - 1 more steps first, each
with its own g and G at the current weights (memories drawn afresh when
`gem_memories_per_task` is set, decoded afresh for recollections), and solves
their QPs inside the graph (`tf.numpy_function` over the same scipy solver); the
last step is the one above. The store stabilises and observes once per incoming
batch. GEM's constraints read only earlier tasks' rings, so observing the batch
before its steps leaves them unchanged.

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
from recollect.write_policies import uniform_below


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

    With steps_per_batch > 1 the QPs of all but the last step are solved inside the
    compiled step by scipy, which XLA cannot compile: jit_compile needs
    steps_per_batch 1.
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
        check_config(
            not (self.jit_compile and self.steps_per_batch > 1),
            "--steps_per_batch=1 with --jit_compile for GEM (its in-graph QP is scipy)",
            f"steps_per_batch={self.steps_per_batch!r}, jit_compile=True",
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
        self.num_tasks = policy.num_tasks
        self.share = policy.share(self.store.capacity)
        variables = model.trainable_variables
        self._shapes = tuple(tuple(v.shape) for v in variables)
        self._sizes = tuple(int(np.prod(s)) for s in self._shapes)
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

    def _gradient(
        self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(flat gradient float32 [P], loss float32 []) of the current batch."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self._loss(x, y, tasks, training=True)
        return self._flatten(tape.gradient(loss, variables)), loss

    def task_gradients(self, x: tf.Tensor, y: tf.Tensor, task_ids: tf.Tensor) -> tf.Tensor:
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

    def memory_rows(self, task: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The earlier tasks that hold memories, and the rows of their memories.

        All rows of each ring (repeated if it is not full) when
        gem_memories_per_task is None; else a uniform draw per task, from a seed
        counter that checkpoints with the learner (drawn only when some earlier
        task holds memories). Works eagerly and in the compiled step.

        Args:
            task: int32 [], the current task.

        Returns:
            (past int32 [K], rows int64 [K * memories_per_task]), task-major.
        """
        sizes = tf.stack([self.store.task_size(k) for k in range(self.num_tasks)])
        earlier = tf.logical_and(tf.range(self.num_tasks) < task, sizes > 0)
        past = tf.cast(tf.where(earlier)[:, 0], tf.int32)
        filled = tf.gather(sizes, past)[:, None]
        count, m = tf.size(past), self.memories_per_task
        if m == self.share:
            offsets = tf.range(self.share, dtype=tf.int64)[None, :] % tf.maximum(filled, 1)
        else:

            def drawn() -> tf.Tensor:
                seed = tf.identity(self.draws.value())
                self.draws.assign_add([0, 1])
                bits = tf.random.stateless_uniform(
                    [count, m], seed=seed, minval=None, maxval=None, dtype=tf.int64
                )
                return uniform_below(bits, filled)

            offsets = tf.cond(count > 0, drawn, lambda: tf.zeros([0, m], tf.int64))
        rows = tf.cast(past, tf.int64)[:, None] * self.share + offsets
        return past, tf.reshape(rows, [-1])

    def _constraints(self, past: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """G float32 [K, P]: one gradient per earlier task on its (decoded) memories."""
        x_mem, y_mem, _ = self.store.read_rows(rows)
        shape = tf.stack([tf.size(past), self.memories_per_task])
        return self.task_gradients(
            tf.reshape(x_mem, tf.concat([shape, tf.shape(x_mem)[1:]], 0)),
            tf.reshape(y_mem, shape),
            past,
        )

    def train_graph(self, x: tf.Tensor, y: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
        """Stabilise, observe, k steps; the last applies g unless it is violated (graph).

        Returns:
            (loss float32 [], g float32 [P], G float32 [K, P], violated bool []): the
            first step's loss, and the last step's g and G; when violated, g was not
            applied and `train_step` projects it.
        """
        tasks = tf.fill(tf.shape(y), task)
        self._stabilize(x)
        self.store.observe(x, y, task)
        losses = [
            self._projected_step(x, y, tasks, task) for _ in range(self.config.steps_per_batch - 1)
        ]
        loss, gradient, memories, violated = self._constraint_step(x, y, tasks, task)
        tf.cond(violated, lambda: tf.constant(False), lambda: self._apply_then_false(gradient))
        return (losses[0] if losses else loss), gradient, memories, violated

    def _stabilize(self, x: tf.Tensor) -> None:
        """The store's stabilising on x, with recalled batches when it uses them (graph)."""
        store, batches = self.store, self.store.stabilize_batches
        if batches:

            def replayed() -> tf.Tensor:
                recalled = [store.recall(self.config.replay_batch_size)[0] for _ in range(batches)]
                store.stabilize(x, recalled)
                return tf.constant(0)

            def alone() -> tf.Tensor:
                store.stabilize(x, None)
                return tf.constant(0)

            tf.cond(store.size() > 0, replayed, alone)
        else:
            store.stabilize(x, None)

    def _constraint_step(
        self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor, task: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """(loss [], g [P], G [K, P], violated bool []) at the current weights (graph)."""
        gradient, loss = self._gradient(x, y, tasks)
        past, rows = self.memory_rows(task)
        size = sum(self._sizes)
        memories = tf.cond(
            tf.size(past) > 0,
            lambda: self._constraints(past, rows),
            lambda: tf.zeros([0, size], tf.float32),
        )
        violated = tf.reduce_any(tf.linalg.matvec(memories, gradient) < 0)
        return loss, gradient, memories, violated

    def _projected_step(
        self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor, task: tf.Tensor
    ) -> tf.Tensor:
        """One GEM step with its QP solved in the graph; float32 [] loss (graph)."""
        loss, gradient, memories, violated = self._constraint_step(x, y, tasks, task)

        def projected() -> tf.Tensor:
            self.projections.assign_add(1)
            solved = tf.numpy_function(self._solve, [gradient, memories], tf.float32)
            self._apply_graph(tf.ensure_shape(solved, gradient.shape))
            return tf.constant(False)

        tf.cond(violated, projected, lambda: self._apply_then_false(gradient))
        return loss

    def _apply_then_false(self, gradient: tf.Tensor) -> tf.Tensor:
        self._apply_graph(gradient)
        return tf.constant(False)

    def train_step(self, x: np.ndarray, y: np.ndarray, task: int) -> float:
        """One compiled call of the k steps; the last one's scipy QP only when violated."""
        loss, gradient, memories, violated = self._train(x, np.asarray(y, np.int32), np.int32(task))
        if bool(violated):
            self._apply(tf.constant(self.project(gradient.numpy(), memories.numpy())))
        return float(loss)

    def project(self, gradient: np.ndarray, memories: np.ndarray) -> np.ndarray:
        """GEM's projection of g [P] against G [K, P] (scipy QP); counts the projection."""
        self.projections.assign_add(1)
        return self._solve(gradient, memories)

    def _solve(self, gradient: np.ndarray, memories: np.ndarray) -> np.ndarray:
        """float32 [P]: GEM's projection of g [P] against G [K, P] (scipy QP)."""
        g = project_gradient(
            gradient, memories, margin=self.config.memory_strength, ridge=self.config.gem_ridge
        )
        return g.astype(np.float32)
