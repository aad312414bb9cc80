"""Where a student's inputs come from: real images, a subset, the buffer, or random codes.

Where this sits: for each `Method` of a run (`DistillConfig.methods`), the seed's
compiled step (`agents.distill.student`) calls the method's draw with the seed's
random generator; every draw is tensor ops, traced into that step:

```
draw(generator, m) -> (x float32 [m, 28, 28, 1] in [0, 1], label int32 [m])

real            rows uniform in [0, N) of the training images      label: the true one
subset          rows uniform over a fixed random p% of them (drawn once per seed)
recollections   rows uniform in [0, N) of the memory, decoded       label: the stored one
codes           c categories uniform in [0, l), decoded by the      label: -1 (none)
                memory's codec (code sampling: no buffer)
```

The training images live in non-trainable CPU variables made once per run
(`TrainingImages`), so no step's graph holds a copy of the data set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from agents.distill.config import Method
from agents.distill.recollections import key
from agents.registry import Registry
from recollect import RecollectionMemory

Draw = Callable[[tf.random.Generator, int], tuple[tf.Tensor, tf.Tensor]]


class TrainingImages:
    """The training set as CPU variables: uint8 [N, *input_shape] and int32 [N].

    Args:
        x_train: uint8 [N, *input_shape].
        y_train: int [N].
    """

    def __init__(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        with tf.device("/CPU:0"):
            self.x = tf.Variable(x_train, trainable=False, name="x_train")
            self.y = tf.Variable(y_train.astype(np.int32), trainable=False, name="y_train")
        self.count = len(y_train)

    def rows(self, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(float32 [m, *input_shape] in [0, 1], int32 [m]) at int64 rows [m]."""
        x = tf.cast(tf.gather(self.x, rows), tf.float32) / 255.0
        return x, tf.gather(self.y, rows)


@dataclasses.dataclass
class SourceParts:
    """What a seed's draws read from.

    Attributes:
        images: the training set.
        memories: key(compression) -> the seed's filled memory.
        seed: the run seed (it draws the subsets).
    """

    images: TrainingImages
    memories: Mapping[str, RecollectionMemory]
    seed: int


def subset_rows(count: int, percent: float, seed: int) -> np.ndarray:
    """int64 [max(1, round(count * percent / 100))]: sorted distinct rows, drawn by seed."""
    size = max(1, round(count * percent / 100))
    rng = np.random.default_rng([seed, round(percent * 1000)])
    return np.sort(rng.choice(count, size=size, replace=False)).astype(np.int64)


def _uniform_rows(generator: tf.random.Generator, m: int, count: int) -> tf.Tensor:
    return generator.uniform([m], minval=0, maxval=count, dtype=tf.int64)


def _real(method: Method, parts: SourceParts) -> Draw:
    del method
    images = parts.images

    def draw(generator: tf.random.Generator, m: int) -> tuple[tf.Tensor, tf.Tensor]:
        return images.rows(_uniform_rows(generator, m, images.count))

    return draw


def _subset(method: Method, parts: SourceParts) -> Draw:
    images = parts.images
    rows = tf.constant(subset_rows(images.count, float(method.amount or 0), parts.seed))

    def draw(generator: tf.random.Generator, m: int) -> tuple[tf.Tensor, tf.Tensor]:
        return images.rows(tf.gather(rows, _uniform_rows(generator, m, len(rows))))

    return draw


def _recollections(method: Method, parts: SourceParts) -> Draw:
    memory = parts.memories[key(float(method.amount or 0))]
    stored = parts.images.count

    def draw(generator: tf.random.Generator, m: int) -> tuple[tf.Tensor, tf.Tensor]:
        items = memory.recall_rows(_uniform_rows(generator, m, stored))
        return items["x"], items["label"]

    return draw


def _codes(method: Method, parts: SourceParts) -> Draw:
    memory = parts.memories[key(float(method.amount or 0))]
    codec = memory.codec

    def draw(generator: tf.random.Generator, m: int) -> tuple[tf.Tensor, tf.Tensor]:
        indices = generator.uniform(
            [m, codec.num_latents], minval=0, maxval=codec.num_categories, dtype=tf.int32
        )
        return memory.decode(indices), -tf.ones([m], tf.int32)

    return draw


SOURCES: Registry[Callable[[Method, SourceParts], Draw]] = Registry(
    "source",
    "a method's source",
    {"real": _real, "subset": _subset, "recollections": _recollections, "codes": _codes},
)


def get(identifier: Any) -> Callable[[Method, SourceParts], Draw]:
    """The draw builder a source name, a {"name": ...} dict or the builder identifies.

    Raises:
        ValueError: an unknown name or object (`agents.registry.Registry.resolve`).
    """
    return SOURCES.resolve(identifier)


def make_draw(method: Method, parts: SourceParts) -> Draw:
    """The draw of method's source, reading from parts."""
    return get(method.source)(method, parts)
