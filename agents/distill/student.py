"""The student: its state (checkpointed) and its compiled training step.

Where this sits: a distillation seed (`agents.distill.loop`) keeps one `StudentState`
in its `agents.experiment.SeedState`, resets it at the start of each method, and
calls the step `train_step` makes once per batch:

```
train_step() =                                       one tf.function per method, no inputs
  x = sampler.sample(draw, hardness, batch_size=B)   teacher-labelled methods
      (sampler: the method's for recollections and codes, uniform for real images)
  target = softmax(teacher(x))                       or one_hot(true label) (method "real")
  loss = mean cross-entropy(target, student(x))      one Adam step on the student
hardness(x) = KL(softmax(teacher(x)) || softmax(student(x)))   per candidate, float32 [m]
```

The cross-entropy against the teacher's distribution has the gradient of the KL
divergence; the KL is what ranks candidates, as the teacher's own entropy (which
the cross-entropy adds) says nothing about how wrong the student is.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from agents.distill import samplers
from agents.distill.config import Method
from agents.distill.sources import Draw

NUM_CLASSES = 10


class StudentState(tf.Module):
    """What a seed's checkpoint holds: the student, its optimizer and the draws' generator.

    Args:
        model: the student network (logits).
        learning_rate: Adam's step size.
        seed: seeds the generator until the first `reset`.
    """

    def __init__(self, model: keras.Model, *, learning_rate: float, seed: int) -> None:
        super().__init__(name="student_state")
        self.model = model
        self.learning_rate = float(learning_rate)
        self.optimizer = self._new_optimizer()
        self.generator = tf.random.Generator.from_seed(seed)

    def _new_optimizer(self) -> keras.optimizers.Optimizer:
        optimizer = keras.optimizers.Adam(self.learning_rate)
        optimizer.build(self.model.trainable_variables)  # its slots exist before a restore
        return optimizer

    def reset(self, weights: list[np.ndarray], *, seed: int) -> None:
        """A fresh student: weights, a new optimizer, the generator at seed."""
        self.model.set_weights(weights)
        self.optimizer = self._new_optimizer()
        self.generator.reset_from_seed(seed)


class Students(tf.Module):
    """Every student of a seed, by name: what the seed's checkpoint holds.

    Args:
        states: student name -> its `StudentState`.
    """

    def __init__(self, states: dict[str, StudentState]) -> None:
        super().__init__(name="students")
        self.states = states


def kl_divergence(teacher_logits: tf.Tensor, student_logits: tf.Tensor) -> tf.Tensor:
    """float32 [m]: KL(softmax(teacher) || softmax(student)) per row of logits [m, classes]."""
    teacher_log = tf.nn.log_softmax(teacher_logits)
    student_log = tf.nn.log_softmax(student_logits)
    return tf.reduce_sum(tf.exp(teacher_log) * (teacher_log - student_log), axis=-1)


def train_step(
    state: StudentState,
    teacher: keras.Model,
    method: Method,
    draw: Draw,
    sampler: samplers.Sampler,
    *,
    batch_size: int,
) -> Callable[[], tf.Tensor]:
    """The compiled step of one method: pick a batch, label it, one Adam step.

    Args:
        state: the seed's student state (its current optimizer is the one stepped).
        teacher: the frozen teacher (logits).
        method: where inputs come from and who labels them.
        draw: the method's draw (`agents.distill.sources.make_draw`).
        sampler: the method's sampler, used when method.sampled.
        batch_size: examples per step.

    Returns:
        A tf.function of no arguments returning the batch's mean loss, float32 [].
    """
    model, optimizer, generator = state.model, state.optimizer, state.generator
    picker = sampler if method.sampled else samplers.UniformSampler()

    def candidates(m: int) -> tf.Tensor:
        return draw(generator, m)[0]

    def hardness(x: tf.Tensor) -> tf.Tensor:
        return kl_divergence(teacher(x, training=False), model(x, training=False))

    def batch() -> tuple[tf.Tensor, tf.Tensor]:
        if method.targets == "labels":
            x, labels = draw(generator, batch_size)
            return x, tf.one_hot(labels, NUM_CLASSES)
        x = picker.sample(candidates, hardness, batch_size=batch_size)
        return x, tf.nn.softmax(teacher(x, training=False))

    @tf.function
    def step() -> tf.Tensor:
        x, target = batch()
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, logits))
        variables = model.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    return step
