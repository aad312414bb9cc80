"""Elastic Weight Consolidation (Kirkpatrick et al., 2017).

```
train_step   model step on (x, y) + s lambda sum_k F_k (theta - theta_k)^2
end_task     F_k from the first ewc_samples of task k's examples (FISHERS):
  empirical              mean of squared per-example gradients   s = 1/2
  squared_mean_gradient  square of the mean loss's gradient      s = 1
                         (one backward pass, as GEM's EWC code)
```

The penalty is kept as three running sums per parameter (A = sum F_k, B = sum
F_k theta_k, C = sum F_k theta_k^2), made once, so its state does not grow with
tasks: sum_k F_k (theta - theta_k)^2 = A theta^2 - 2 B theta + C.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from agents.learners.base import Learner, LearnerConfig, check_config, check_count
from agents.stores import EpisodicStore
from recollect import Footprint

_FISHER_BATCH = 64


@dataclasses.dataclass(frozen=True)
class EwcConfig(LearnerConfig):
    """EWC's settings.

    Attributes:
        ewc_lambda: EWC's penalty weight.
        ewc_samples: examples per task used to estimate the Fisher diagonal.
        ewc_fisher: how the Fisher diagonal is estimated: empirical (the mean of
            squared per-example gradients, penalty lambda/2 sum F (theta -
            theta_k)^2, Kirkpatrick et al.) or squared_mean_gradient (the square
            of the mean loss's gradient in one backward pass, penalty lambda sum F
            (theta - theta_k)^2 without the 1/2, as GEM's EWC code: --ewc_lambda
            is then GEM's --memory_strength).
    """

    ewc_lambda: float = 10.0
    ewc_samples: int = 256
    ewc_fisher: str = "empirical"

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        super().__post_init__()
        check_config(self.ewc_lambda >= 0, "--ewc_lambda >= 0", f"ewc_lambda={self.ewc_lambda!r}")
        check_count("ewc_samples", self.ewc_samples)
        check_config(
            self.ewc_fisher in FISHERS,
            f"--ewc_fisher among {sorted(FISHERS)}",
            f"ewc_fisher={self.ewc_fisher!r}",
        )


class EwcLearner(Learner):
    """Online learning plus a quadratic pull towards each earlier task's weights."""

    config_class = EwcConfig
    config: EwcConfig

    def __init__(
        self,
        model: keras.Model,
        *,
        config: EwcConfig,
        store: EpisodicStore | None = None,
        task_masks: np.ndarray | None = None,
    ) -> None:
        super().__init__(model, config=config, store=store, task_masks=task_masks)
        self.sums = {
            name: [
                tf.Variable(tf.zeros_like(v), trainable=False, name=f"ewc_{name}_{i}")
                for i, v in enumerate(model.trainable_variables)
            ]
            for name in ("a", "b", "c")
        }
        self.fisher = FISHERS[config.ewc_fisher]
        label_spec = tf.TensorSpec([None], tf.int32)
        signature = [self.input_spec(), label_spec, label_spec]
        self._fisher = tf.function(self._fisher_graph, input_signature=signature)
        self._mean_gradient = tf.function(self._mean_gradient_graph, input_signature=signature)

    def extra_loss(self, x: tf.Tensor, tasks: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """s lambda sum_k F_k (theta - theta_k)^2 from the running sums. float32 []."""
        del x, tasks, logits
        penalty = tf.constant(0.0)
        sums = (self.sums["a"], self.sums["b"], self.sums["c"])
        for theta, a, b, c in zip(self.model.trainable_variables, *sums, strict=True):
            penalty += tf.reduce_sum(a * tf.square(theta) - 2.0 * b * theta + c)
        return self.fisher.penalty_factor * self.config.ewc_lambda * penalty

    def _fisher_graph(self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor) -> list[tf.Tensor]:
        """Sum over examples of squared per-example log-likelihood gradients."""
        variables = self.model.trainable_variables

        def one(args: tuple[tf.Tensor, tf.Tensor, tf.Tensor]) -> list[tf.Tensor]:
            x_i, y_i, t_i = args
            with tf.GradientTape() as tape:
                logits = self.masked_logits(self.model(x_i[None], training=False), t_i[None])
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=y_i[None], logits=logits
                )
            return [tf.square(g) for g in tape.gradient(loss, variables)]

        squares = tf.vectorized_map(one, (x, y, tasks))
        return [tf.reduce_sum(s, axis=0) for s in squares]

    def fisher_diagonal(self, task: int, x: np.ndarray, y: np.ndarray) -> list[tf.Tensor]:
        """The mean empirical Fisher diagonal on x, y: one tensor per trainable variable."""
        count = len(y)
        totals: list[tf.Tensor] = []
        for start in range(0, count, _FISHER_BATCH):
            stop = min(start + _FISHER_BATCH, count)
            tasks = np.full(stop - start, task, np.int32)
            part = self._fisher(x[start:stop], np.asarray(y[start:stop], np.int32), tasks)
            totals = part if not totals else [t + p for t, p in zip(totals, part, strict=True)]
        return [total / count for total in totals]

    def _mean_gradient_graph(self, x: tf.Tensor, y: tf.Tensor, tasks: tf.Tensor) -> list[tf.Tensor]:
        """The gradient of the mean (task-masked) cross-entropy on x, y."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.cross_entropy(self.model(x, training=False), y, tasks)
        return tape.gradient(loss, variables)

    def squared_mean_gradient(self, task: int, x: np.ndarray, y: np.ndarray) -> list[tf.Tensor]:
        """GEM's EWC estimate: the square of the mean loss's gradient on x, y (one pass)."""
        tasks = np.full(len(y), task, np.int32)
        gradients = self._mean_gradient(x, np.asarray(y, np.int32), tasks)
        return [tf.square(g) for g in gradients]

    def end_task(self, task: int, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Adds this task's Fisher and weights to the running sums."""
        count = min(self.config.ewc_samples, len(y_train))
        fishers = self.fisher.estimate(self, task, x_train[:count], y_train[:count])
        sums = (self.sums["a"], self.sums["b"], self.sums["c"])
        for theta, fisher, a, b, c in zip(
            self.model.trainable_variables, fishers, *sums, strict=True
        ):
            a.assign_add(fisher)
            b.assign_add(fisher * theta)
            c.assign_add(fisher * tf.square(theta))

    def footprint(self) -> Footprint:
        """The three float32 sums it keeps per parameter, whatever the number of tasks."""
        return Footprint(
            kind="ewc",
            state_bytes=3 * self.parameter_bytes(),
            raw_example_bytes=self.raw_example_bytes(),
        )


@dataclasses.dataclass(frozen=True)
class FisherEstimate:
    """One way to estimate F_k after a task, and the factor s on lambda in the penalty."""

    estimate: Callable[[EwcLearner, int, np.ndarray, np.ndarray], list[tf.Tensor]]
    penalty_factor: float


FISHERS = {
    "empirical": FisherEstimate(EwcLearner.fisher_diagonal, 0.5),
    "squared_mean_gradient": FisherEstimate(EwcLearner.squared_mean_gradient, 1.0),
}
