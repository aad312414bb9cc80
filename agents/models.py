"""The predictive models the continual learners train, as Keras functional models.

Where this sits: a learner in `agents/` builds its classifier here by name
(`build_model("mlp", ...)`), trains it on new and recollected examples, and the
runner evaluates it per task. Both models return logits, no softmax; they follow
GEM's `model/common.py` (Lopez-Paz and Ranzato, 2017), which the paper reuses.

```
mlp               float [B, *input_shape] -> flatten -> (Dense relu) x num_layers
                  -> Dense -> float [B, num_classes]
reduced_resnet18  float [B, H, W, C] -> conv3x3(nf) BN relu
                  -> stage nf  x2 blocks, stride 1
                  -> stage 2nf x2 blocks, stride 2
                  -> stage 4nf x2 blocks, stride 2
                  -> stage 8nf x2 blocks, stride 2
                  -> global average pool -> Dense -> float [B, num_classes]
```
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras

from agents.registry import Registry

# PyTorch's BatchNorm2d defaults, which GEM's ResNet uses: running statistics move
# by 0.1 per batch (Keras momentum 0.9) and eps is 1e-5.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def _torch_default_initializer() -> keras.initializers.Initializer:
    """PyTorch's default conv / linear weight init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def _check_shape_and_classes(input_shape: Sequence[int], num_classes: int) -> tuple[int, ...]:
    """Returns input_shape as a tuple after checking it and num_classes."""
    shape = tuple(input_shape)
    if len(shape) == 0 or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            "Expected `input_shape` to be a non-empty sequence of positive ints "
            f"(without the batch axis). Received: input_shape={input_shape!r}"
        )
    _check_positive_int("num_classes", num_classes)
    return shape


def _check_positive_int(name: str, value: int, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Expected `{name}` to be an int >= {minimum}. Received: {name}={value!r}")


def mlp(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    hidden_units: int = 200,
    num_layers: int = 2,
) -> keras.Model:
    """Returns GEM's MNIST classifier: a ReLU MLP on the flattened input.

    GEM uses 2 hidden layers of 100 units; the paper uses 200, the default here.
    Weights are Glorot (Xavier) uniform and biases zero, as GEM's `Xavier` init.

    Args:
        input_shape: sizes of one input without the batch axis, e.g. (784,) or
            (28, 28, 1); the model flattens it.
        num_classes: int >= 1, the number of logits.
        hidden_units: int >= 1, units per hidden layer.
        num_layers: int >= 0, hidden layers (0 gives a linear classifier).

    Returns:
        keras.Model mapping float [B, *input_shape] to logits float [B, num_classes].

    Raises:
        ValueError: if a size is not a positive int (`num_layers` may be 0).
    """
    shape = _check_shape_and_classes(input_shape, num_classes)
    _check_positive_int("hidden_units", hidden_units)
    _check_positive_int("num_layers", num_layers, minimum=0)
    inputs = keras.Input(shape=shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for index in range(num_layers):
        x = keras.layers.Dense(hidden_units, activation="relu", name=f"hidden_{index}")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")


def _conv3x3(x: Any, filters: int, *, stride: int, name: str) -> Any:
    """A 3x3 conv without bias, padded by 1 on every side like PyTorch's padding=1.

    Keras "same" padding pads stride-2 convolutions on the bottom/right only, which
    shifts the sampling grid relative to GEM; explicit symmetric padding keeps it.
    """
    if stride == 1:
        padding = "same"
    else:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=_torch_default_initializer(),
        name=name,
    )(x)


def _batch_norm(x: Any, *, name: str) -> Any:
    return keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=name)(x)


def _basic_block(x: Any, filters: int, *, stride: int, name: str) -> Any:
    """GEM's BasicBlock: two 3x3 convs with BN, identity or 1x1-conv shortcut."""
    in_filters = x.shape[-1]
    out = _conv3x3(x, filters, stride=stride, name=f"{name}_conv1")
    out = keras.layers.ReLU(name=f"{name}_relu1")(_batch_norm(out, name=f"{name}_bn1"))
    out = _conv3x3(out, filters, stride=1, name=f"{name}_conv2")
    out = _batch_norm(out, name=f"{name}_bn2")
    shortcut = x
    if stride != 1 or in_filters != filters:
        shortcut = keras.layers.Conv2D(
            filters,
            1,
            strides=stride,
            use_bias=False,
            kernel_initializer=_torch_default_initializer(),
            name=f"{name}_shortcut_conv",
        )(x)
        shortcut = _batch_norm(shortcut, name=f"{name}_shortcut_bn")
    out = keras.layers.Add(name=f"{name}_add")([out, shortcut])
    return keras.layers.ReLU(name=f"{name}_relu2")(out)


def reduced_resnet18(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    base_filters: int = 20,
) -> keras.Model:
    """Returns GEM's reduced ResNet-18 (BasicBlock, [2, 2, 2, 2], nf = 20).

    Same layers as GEM's `ResNet18(nclasses, nf=20)`: a 3x3 stride-1 stem, four
    stages of two BasicBlocks with nf, 2nf, 4nf, 8nf filters and strides 1, 2, 2, 2,
    batch norm with PyTorch's momentum and eps, and a linear output. GEM ends with
    `avg_pool2d(out, 4)`, which on 32x32 inputs is a global average over the 4x4
    map; global average pooling is used here so any input size works (28x28x1
    Omniglot included). Conv and linear weights use PyTorch's default init, as GEM
    does not re-initialise its ResNet. The model must be called with
    `training=True` while learning so that batch norm uses batch statistics.

    Args:
        input_shape: (H, W, C) of one image, channels last.
        num_classes: int >= 1, the number of logits.
        base_filters: int >= 1, nf, the filters of the first stage.

    Returns:
        keras.Model mapping float [B, H, W, C] to logits float [B, num_classes].
        For (32, 32, 3) and 100 classes it has 1,109,240 trainable parameters,
        the count of GEM's PyTorch model.

    Raises:
        ValueError: if `input_shape` is not (H, W, C) of positive ints or a size
            is not a positive int.
    """
    shape = _check_shape_and_classes(input_shape, num_classes)
    if len(shape) != 3:
        raise ValueError(
            "Expected `input_shape` to be (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    _check_positive_int("base_filters", base_filters)
    inputs = keras.Input(shape=shape, name="inputs")
    x = _conv3x3(inputs, base_filters, stride=1, name="stem_conv")
    x = keras.layers.ReLU(name="stem_relu")(_batch_norm(x, name="stem_bn"))
    for stage, (multiplier, stride) in enumerate(((1, 1), (2, 2), (4, 2), (8, 2))):
        for block in range(2):
            x = _basic_block(
                x,
                base_filters * multiplier,
                stride=stride if block == 0 else 1,
                name=f"stage{stage + 1}_block{block + 1}",
            )
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    bias_limit = 1.0 / math.sqrt(8 * base_filters)
    logits = keras.layers.Dense(
        num_classes,
        kernel_initializer=_torch_default_initializer(),
        bias_initializer=keras.initializers.RandomUniform(-bias_limit, bias_limit),
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name="reduced_resnet18")


MODELS: Registry[Callable[..., keras.Model]] = Registry(
    "model", "--model", {"mlp": mlp, "reduced_resnet18": reduced_resnet18}
)


def get(identifier: Any) -> Callable[..., keras.Model]:
    """The model builder a name, a {"name": ...} dict or the builder identifies.

    Raises:
        ValueError: an unknown name or object (`agents.registry.Registry.resolve`).
    """
    return MODELS.resolve(identifier)


def build_model(
    name: str, input_shape: Sequence[int], num_classes: int, **kwargs: Any
) -> keras.Model:
    """Returns the model registered under `name`, built for the given input.

    Args:
        name: a key of `MODELS`.
        input_shape: sizes of one input without the batch axis.
        num_classes: int >= 1, the number of logits.
        **kwargs: the keyword-only size arguments of that model (for example
            `hidden_units` for "mlp", `base_filters` for "reduced_resnet18").

    Returns:
        keras.Model returning logits float [B, num_classes].

    Raises:
        ValueError: if `name` is not registered, or as the model's builder.
    """
    return get(name)(input_shape, num_classes, **kwargs)
