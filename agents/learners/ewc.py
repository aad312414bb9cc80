"""Elastic Weight Consolidation (Kirkpatrick et al., 2017).

```
train_step   model step on (x, y) + lambda/2 sum_k F_k (theta - theta_k)^2
end_task     F_k = diagonal empirical Fisher on ewc_samples of task k's examples
```

The penalty is kept as three running sums per parameter (A = sum F_k, B = sum
F_k theta_k, C = sum F_k theta_k^2), made once, so its state does not grow with
tasks: sum_k F_k (theta - theta_k)^2 = A theta^2 - 2 B theta + C.
"""

from __future__ import annotations

import dataclasses

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
    """

    ewc_lambda: float = 10.0
    ewc_samples: int = 256

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        super().__post_init__()
        check_config(self.ewc_lambda >= 0, "--ewc_lambda >= 0", f"ewc_lambda={self.ewc_lambda!r}")
        check_count("ewc_samples", self.ewc_samples)


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
        label_spec = tf.TensorSpec([None], tf.int32)
        self._fisher = tf.function(
            self._fisher_graph, input_signature=[self.input_spec(), label_spec, label_spec]
        )

    def extra_loss(self, x: tf.Tensor, tasks: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """lambda/2 sum_k F_k (theta - theta_k)^2 from the running sums. float32 []."""
        del x, tasks, logits
        penalty = tf.constant(0.0)
        sums = (self.sums["a"], self.sums["b"], self.sums["c"])
        for theta, a, b, c in zip(self.model.trainable_variables, *sums, strict=True):
            penalty += tf.reduce_sum(a * tf.square(theta) - 2.0 * b * theta + c)
        return 0.5 * self.config.ewc_lambda * penalty

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

    def end_task(self, task: int, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Adds this task's Fisher and weights to the running sums."""
        count = min(self.config.ewc_samples, len(y_train))
        fishers = self.fisher_diagonal(task, x_train[:count], y_train[:count])
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
