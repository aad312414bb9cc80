"""Learning without Forgetting (Li and Hoiem, 2016).

```
train_step   model step on (x, y) + alpha T^2 KL(teacher_T || student_T), on the
             incoming inputs, over the classes of earlier tasks
end_task     teacher := a copy of the model; the task's classes join the seen ones
```

The teacher is made once, at start, and overwritten at each task boundary.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from agents.learners.base import MASKED_LOGIT, Learner, LearnerConfig, check_config
from agents.stores import EpisodicStore
from recollect import Footprint


@dataclasses.dataclass(frozen=True)
class LwfConfig(LearnerConfig):
    """LwF's settings.

    Attributes:
        lwf_alpha: weight of LwF's distillation term.
        lwf_temperature: LwF's softmax temperature.
    """

    lwf_alpha: float = 1.0
    lwf_temperature: float = 2.0

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        super().__post_init__()
        check_config(self.lwf_alpha >= 0, "--lwf_alpha >= 0", f"lwf_alpha={self.lwf_alpha!r}")
        check_config(
            self.lwf_temperature > 0,
            "--lwf_temperature > 0",
            f"lwf_temperature={self.lwf_temperature!r}",
        )


class LwfLearner(Learner):
    """Online learning plus distillation from the model as it was at the last task end."""

    config_class = LwfConfig
    config: LwfConfig

    def __init__(
        self,
        model: keras.Model,
        *,
        config: LwfConfig,
        store: EpisodicStore | None = None,
        task_masks: np.ndarray | None = None,
    ) -> None:
        super().__init__(model, config=config, store=store, task_masks=task_masks)
        self.teacher = keras.models.clone_model(model)
        self.teacher.trainable = False
        self.has_teacher = tf.Variable(0.0, trainable=False, name="lwf_has_teacher")
        num_classes = int(model.output_shape[-1])
        self.seen_classes = tf.Variable(
            tf.zeros([num_classes]), trainable=False, name="lwf_seen_classes"
        )

    def extra_loss(self, x: tf.Tensor, tasks: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """alpha T^2 KL(teacher_T || student_T) over seen classes; 0 before a teacher."""
        del tasks
        temperature = self.config.lwf_temperature
        teacher_logits = self.teacher(x, training=False)
        seen = self.seen_classes
        masked_teacher = teacher_logits + (1.0 - seen) * MASKED_LOGIT
        masked_student = logits + (1.0 - seen) * MASKED_LOGIT
        target = tf.nn.softmax(masked_teacher / temperature)
        log_student = tf.nn.log_softmax(masked_student / temperature)
        log_target = tf.nn.log_softmax(masked_teacher / temperature)
        kl = tf.reduce_sum(target * (log_target - log_student) * seen, axis=-1)
        scale = self.config.lwf_alpha * temperature**2 * self.has_teacher
        return scale * tf.reduce_mean(kl)

    def end_task(self, task: int, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Copies the model into the teacher and marks the task's classes seen."""
        del x_train, y_train
        for mine, theirs in zip(self.teacher.weights, self.model.weights, strict=True):
            mine.assign(theirs)
        self.has_teacher.assign(1.0)
        if self.task_masks is not None:
            seen = tf.maximum(self.seen_classes, self.task_masks[task])
        else:
            seen = tf.ones_like(self.seen_classes)
        self.seen_classes.assign(seen)

    def footprint(self) -> Footprint:
        """The teacher's weights (float32) and the seen-class mask."""
        teacher_bytes = 4 * sum(int(np.prod(w.shape)) for w in self.teacher.weights)
        return Footprint(
            kind="lwf",
            state_bytes=teacher_bytes + 4 * int(self.seen_classes.shape[0]),
            raw_example_bytes=self.raw_example_bytes(),
        )
