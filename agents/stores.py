"""Episodic stores a learner replays from: real examples or recollections.

Where this sits: a learner's `train_step` calls `recall` (and, for recollections,
`stabilize`) before its model step and `observe` after it. Both stores share one
interface, so every learner works with either storage:

```
RealStore          IndexBuffer of raw uint8 inputs [capacity, *input_shape] + label + task
RecollectionStore  RecollectionMemory: packed k-bit codes + label + task, decoded on recall
```

The write policy is injected: reservoir sampling for replay, an equal ring per
task for GEM.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from recollect import Field, IndexBuffer, RecollectionMemory, WritePolicy


class RealStore:
    """A buffer of real examples, stored as 8-bit values (the paper's raw unit).

    Args:
        capacity: examples kept.
        input_shape: shape of one input.
        num_classes: labels are in [0, num_classes).
        num_tasks: task ids are in [0, num_tasks).
        policy: the write policy.
        seed: seeds the buffer's draws.
    """

    kind = "real"

    def __init__(
        self,
        *,
        capacity: int,
        input_shape,
        num_classes: int,
        num_tasks: int,
        policy: WritePolicy,
        seed: int = 0,
    ):
        self.input_shape = tuple(int(d) for d in input_shape)
        self.buffer = IndexBuffer(
            capacity=capacity,
            fields={
                "x": Field(self.input_shape, "uint8"),
                "label": Field((), "int32", num_classes),
                "task": Field((), "int32", num_tasks),
            },
            policy=policy,
            seed=seed,
        )
        specs = {
            name: tf.TensorSpec([None, *spec.shape], spec.dtype)
            for name, spec in self.buffer.fields.items()
        }
        self._write = tf.function(self.buffer.write_unchecked, input_signature=[specs])

    def trackables(self) -> dict:
        """Objects to checkpoint."""
        return {"buffer": self.buffer}

    @property
    def policy(self) -> WritePolicy:
        return self.buffer.policy

    @property
    def capacity(self) -> int:
        return self.buffer.capacity

    def read_rows(self, rows: np.ndarray):
        """The items at the given rows: (x float32 [m, ...], y int32 [m], task int32 [m])."""
        items = self.buffer.read(tf.constant(np.asarray(rows, np.int64)))
        return tf.cast(items["x"], tf.float32) / 255.0, items["label"], items["task"]

    def size(self) -> int:
        return int(self.buffer.size())

    def task_size(self, task: int) -> int:
        return int(self.buffer.task_size(task))

    def observe(self, x: np.ndarray, y: np.ndarray, task: int) -> None:
        """Stores x float32 [B, *input_shape] in [0, 1] as uint8, with labels and task."""
        pixels = np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)
        self._write(
            {
                "x": tf.constant(pixels),
                "label": tf.constant(np.asarray(y), tf.int32),
                "task": tf.fill([len(pixels)], tf.constant(task, tf.int32)),
            }
        )

    def recall(self, n: int, task: int | None = None):
        """Returns (x float32 [n, ...] in [0, 1], y int32 [n], task int32 [n])."""
        items = self.buffer.sample(n, task)
        return tf.cast(items["x"], tf.float32) / 255.0, items["label"], items["task"]

    def stabilize(self, x, recollections) -> None:
        """Real examples need no stabilising."""
        del x, recollections

    def footprint(self) -> dict:
        raw_bits = math.prod(self.input_shape) * 8
        capacity = self.buffer.capacity
        return {
            "storage": "real",
            "items": self.size(),
            "capacity": capacity,
            "bits_per_item": raw_bits,
            "code_bytes": capacity * raw_bits // 8,
            "autoencoder_bytes": 0,
            "incremental_storage": float(capacity),
        }


class RecollectionStore:
    """Recollections: a `RecollectionMemory` trained online on the stream.

    Args:
        memory: the memory (codec + packed buffer with its write policy).
        stabilize_steps: N, autoencoder steps per incoming batch (Algorithm 1).
    """

    kind = "recollections"

    def __init__(self, memory: RecollectionMemory, *, stabilize_steps: int = 1):
        self.memory = memory
        self.stabilize_steps = stabilize_steps
        self.input_shape = memory.codec.input_spec_shape

    def trackables(self) -> dict:
        return {"memory": self.memory, "memory_optimizer": self.memory.optimizer}

    @property
    def policy(self) -> WritePolicy:
        return self.memory.buffer.policy

    @property
    def capacity(self) -> int:
        return self.memory.buffer.capacity

    def read_rows(self, rows: np.ndarray):
        """The decoded items at the given rows: (x float32 [m, ...], y [m], task [m])."""
        items = self.memory.recall_rows(rows)
        return items["x"], items["label"], items["task"]

    def size(self) -> int:
        return int(self.memory.size())

    def task_size(self, task: int) -> int:
        return int(self.memory.buffer.task_size(task))

    def observe(self, x: np.ndarray, y: np.ndarray, task: int) -> None:
        self.memory.observe(x, y, task)

    def recall(self, n: int, task: int | None = None):
        return self.memory.recall(n, task)

    def stabilize(self, x, recollections) -> None:
        """N autoencoder steps on x joined with each recalled batch (or x alone)."""
        if recollections:
            self.memory.stabilize(x, recollections)
        else:
            self.memory.stabilize(x, num_steps=self.stabilize_steps)

    def footprint(self) -> dict:
        footprint = self.memory.footprint()
        return {
            "storage": "recollections",
            "items": footprint["items"],
            "capacity": footprint["capacity"],
            "bits_per_item": footprint["bits_per_item"],
            "code_bytes": footprint["code_bytes"],
            "autoencoder_bytes": footprint["decoder_bytes"] + footprint["encoder_bytes"],
            "incremental_storage": footprint["incremental_storage"],
            "num_latents": self.memory.codec.num_latents,
            "num_categories": self.memory.codec.num_categories,
        }
