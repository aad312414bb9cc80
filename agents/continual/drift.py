"""Code drift (the paper's Figure 5): how codes written early decode as the codec trains on.

Where this sits: with `ContinualConfig.drift_probe_items = K > 0`, `agents.continual.loop`
makes a `DriftProbe` per seed, calls `record` after every `learner.train_step` and
`measure` after every task; the seed's checkpoint holds the probe, so a resumed run
measures the same. The probe is a diagnosis kept outside the storage budget: it
reads the store's codec and never trains it, and draws no random numbers, so the
run trains exactly as it would without it.

```
DriftProbe  pixels    uint8   [num_tasks, K, *input_shape]  the first K training inputs of each task
            codes     uint8   [num_tasks, K, code_bytes]    their codes as the buffer got them
            at_write  float64 [num_tasks, K]                L1 distortion of each when written
            recorded  int32   [num_tasks]                   items recorded per task (<= K)

record(store, x, task=t, first_item=i)   after the step on items i.. of task t
measure(store, after_task=a)             -> row a: mean L1 distortion of each task's
                                            codes decoded now (None for tasks after a)
```

Right after a step its codes are the ones that step wrote (`CodeStore.codes`), so
`at_write` is each item's distortion under the codec that encoded it. Distortion is
the paper's: mean absolute error on [0, 1] pixels (`recollect.metrics`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from agents.stores import CodeStore
from recollect import metrics
from recollect.datasets.stream import scale_pixels


class DriftProbe(tf.Module):
    """The originals and written codes of the first items of every task (state made once).

    Args:
        num_tasks: tasks in the stream.
        items_per_task: K, the first training items of each task to follow.
        input_shape: shape of one input.
        code_bytes: bytes of one packed code.
    """

    def __init__(
        self,
        *,
        num_tasks: int,
        items_per_task: int,
        input_shape: tuple[int, ...],
        code_bytes: int,
    ) -> None:
        super().__init__(name="drift_probe")
        self.items_per_task = int(items_per_task)
        shape = [num_tasks, self.items_per_task]
        with tf.device("/CPU:0"):
            self.pixels = _state([*shape, *input_shape], tf.uint8)
            self.codes = _state([*shape, code_bytes], tf.uint8)
            self.at_write = _state(shape, tf.float64)
            self.recorded = _state([num_tasks], tf.int32)

    def record(self, store: CodeStore, x: np.ndarray, *, task: int, first_item: int) -> None:
        """Keeps the items of x among the first K of its task, with the codes just written.

        Call it right after the learner's step on x, before the next step.

        Args:
            store: the learner's store.
            x: float32 [B, *input_shape], 8-bit pixels / 255: the batch the step took.
            task: its task.
            first_item: the position of x's first item in the task's training data.
        """
        take = min(len(x), self.items_per_task - first_item)
        if take <= 0:
            return
        # The whole batch is encoded, as the step encoded it; then its first rows kept.
        codes = store.codes(x)[:take]
        decoded = store.decode_codes(codes).numpy()
        originals = x[:take]
        axes = tuple(range(1, originals.ndim))
        errors = np.mean(np.abs(originals.astype(np.float64) - decoded), axis=axes)
        rows = slice(first_item, first_item + take)
        self.pixels[task, rows].assign(np.round(originals * 255.0).astype(np.uint8))
        self.codes[task, rows].assign(codes)
        self.at_write[task, rows].assign(errors)
        self.recorded[task].assign(first_item + take)

    def measure(self, store: CodeStore, *, after_task: int) -> list[float | None]:
        """Row after_task of the drift matrix: each earlier task's codes decoded now.

        Args:
            store: the learner's store, its codec as trained so far.
            after_task: the task just finished.

        Returns:
            num_tasks entries: entry j <= after_task is the mean L1 distortion of task
            j's recorded codes decoded by the current codec; later entries are None.
        """
        row: list[float | None] = [None] * int(self.recorded.shape[0])
        for task in range(after_task + 1):
            count = int(self.recorded[task])
            if count == 0:
                continue
            decoded = store.decode_codes(self.codes[task, :count]).numpy()
            originals = scale_pixels(self.pixels[task, :count].numpy())
            row[task] = metrics.reconstruction_distortion(originals, decoded)
        return row

    def at_write_distortion(self, task: int) -> float | None:
        """Mean L1 distortion of a task's recorded items when written (None: none recorded)."""
        count = int(self.recorded[task])
        return float(np.mean(self.at_write[task, :count].numpy())) if count else None


def _state(shape: list[int], dtype: tf.DType) -> tf.Variable:
    return tf.Variable(tf.zeros(shape, dtype), trainable=False)
