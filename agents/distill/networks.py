"""The teacher's and the students' networks: LeNet, and the MLP of the continual runs.

Where this sits: a distillation seed (`agents.distill.loop`) builds its teacher with
`lenet` (or loads a saved one) and each of config.students with `STUDENTS[name]`;
both return logits, no softmax.

```
cnn (lenet)  float [B, 28, 28, 1] -> conv5x5(20) relu -> maxpool2 -> conv5x5(50) relu
             -> maxpool2 -> flatten -> Dense(500) relu -> Dense -> float [B, num_classes]
mlp          agents.models.mlp: flatten -> (Dense(200) relu) x 2 -> Dense
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from agents import models
from agents.registry import Registry


def lenet(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    filters: int = 20,
    hidden_units: int = 500,
) -> keras.Model:
    """A LeNet (LeCun et al., 1998) as in Caffe's MNIST example, the paper's teacher.

    Args:
        input_shape: (H, W, C) of one image, at least 12 x 12.
        num_classes: the number of logits.
        filters: filters of the first convolution; the second has 2.5 times as many.
        hidden_units: units of the dense layer.

    Returns:
        keras.Model mapping float [B, H, W, C] to logits float [B, num_classes].

    Raises:
        ValueError: an input_shape that is not (H, W, C) of at least 12 x 12, or a
            size that is not an int >= 1.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or min(shape[:2]) < 12:
        raise ValueError(
            f"Expected an input_shape (H, W, C) of at least 12 x 12. Received: {input_shape!r}"
        )
    for name, value in (("num_classes", num_classes), ("filters", filters)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected {name} an int >= 1. Received: {name}={value!r}")
    inputs = keras.Input(shape=shape, name="inputs")
    x = keras.layers.Conv2D(filters, 5, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(filters * 5 // 2, 5, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="lenet")


STUDENTS: Registry[Callable[..., keras.Model]] = Registry(
    "student", "--students", {"cnn": lenet, "mlp": models.mlp}
)


def get(identifier: Any) -> Callable[..., keras.Model]:
    """The student builder a name, a {"name": ...} dict or the builder identifies.

    Raises:
        ValueError: an unknown name or object (`agents.registry.Registry.resolve`).
    """
    return STUDENTS.resolve(identifier)
