"""The teacher: a LeNet trained on MNIST, or a saved one; and test accuracy for any model.

Where this sits: each distillation seed (`agents.distill.loop`) gets its teacher here
once (trained and saved to seed_<s>/teacher.keras, or read from --teacher), and
scores the teacher and every student with `accuracy_fn`.

```
uint8 [N, 28, 28, 1] --/255--> lenet --Adam, sparse cross-entropy--> teacher.keras
teacher(x float32 [B, 28, 28, 1]) -> logits float32 [B, 10]   (frozen: training=False)
```
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from agents.distill.networks import lenet
from agents.experiment.settings import check

NUM_CLASSES = 10


def train_teacher(
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
) -> keras.Model:
    """A LeNet trained on the training set (its weights and shuffling drawn from seed).

    Args:
        x_train: uint8 [N, 28, 28, 1].
        y_train: int [N] in [0, 10).
        epochs: passes over the training set.
        batch_size: images per Adam step.
        seed: seeds the initial weights and the shuffling.

    Returns:
        The trained keras.Model (logits).
    """
    keras.utils.set_random_seed(seed)
    model = lenet(x_train.shape[1:], NUM_CLASSES)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    batches = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32)))
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
    )
    model.fit(batches, epochs=epochs, verbose=0, shuffle=False)  # shuffled above, by seed
    return model


def save_teacher(model: keras.Model, path: str) -> None:
    """Writes model to path (a .keras file) atomically: a kill leaves the old file or none."""
    partial = f"{path[: -len('.keras')]}.partial.keras"
    model.save(partial)
    os.replace(partial, path)


def load_teacher(path: str, input_shape: tuple[int, ...]) -> keras.Model:
    """The saved teacher in path, checked to map input_shape to 10 logits.

    Raises:
        ValueError: a file Keras cannot read, or a model of other input or output shape.
    """
    try:
        model = keras.models.load_model(path, compile=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"Expected --teacher to name a saved Keras model. Received: {path} ({error})"
        ) from error
    inputs, outputs = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])
    check(
        inputs == tuple(input_shape) and outputs == (NUM_CLASSES,),
        f"a teacher mapping {tuple(input_shape)} to {NUM_CLASSES} logits",
        f"{path} maps {inputs} to {outputs}",
    )
    model.trainable = False
    return model


def accuracy_fn(
    model: keras.Model, x_test: np.ndarray, y_test: np.ndarray, *, batch_size: int
) -> Callable[[], float]:
    """A function that returns model's test accuracy now (one compiled count per batch).

    Args:
        model: maps float32 [B, *input_shape] to logits [B, classes].
        x_test: uint8 [M, *input_shape], scaled by 1/255 inside the compiled count.
        y_test: int [M].
        batch_size: test images per call.
    """
    spec = tf.TensorSpec([None, *x_test.shape[1:]], tf.uint8)

    @tf.function(input_signature=[spec, tf.TensorSpec([None], tf.int32)])
    def correct(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        logits = model(tf.cast(x, tf.float32) / 255.0, training=False)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return tf.reduce_sum(tf.cast(predicted == y, tf.int64))

    labels = y_test.astype(np.int32)

    def accuracy() -> float:
        total = sum(
            int(correct(x_test[i : i + batch_size], labels[i : i + batch_size]))
            for i in range(0, len(labels), batch_size)
        )
        return total / len(labels)

    return accuracy
