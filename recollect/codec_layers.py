"""The codecs' encoder and decoder stacks, and their parameter counts.

Where this sits: `autoencoder.py` builds its encoder and decoder here; `budget.py`
counts |theta|(c, l) here without building a model. Nothing here holds state.

```
conv  x [B, H, W, C] --conv5/2--conv5/2--conv5/2--flatten--dense--> [B, units]
      [B, units] --dense--reshape [B, ceil(H/8), ceil(W/8), f]
                 --deconv5/2--deconv5/2--deconv5/2--crop--> logits [B, H, W, C]
mlp   x [B, *input_shape] --(flatten)--dense h--dense h--dense--> [B, units]
      [B, units] --dense h--dense h--dense n--(reshape)--> logits [B, *input_shape]
grid  x [B, H, W, C] --conv5/2--conv5/2--conv5/1--conv1x1 (u = units/cells)--flatten--> [B, units]
      [B, units] --reshape [B, ceil(H/4), ceil(W/4), u]--conv3/1--deconv5/2--deconv5/2
                 --deconv5/1--crop--> logits [B, H, W, C]
```

The grid codec keeps the code spatial: each of its ceil(H/4) * ceil(W/4) cells holds
c / cells latents, encoded from (and decoded into) its own patch of the image, so c
must be a multiple of the cells (`grid_cells`). On natural images it learns far faster
than the dense bottleneck of "conv" at the same bits.

n = prod(input_shape). The mlp's flatten and reshape exist only when input_shape
has more than one axis; they hold no weights, so an mlp codec on (28, 28, 1) has
exactly the weights (same layers, same order, same initial values under one seed)
of an mlp codec on (784,).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from recollect.arguments import check_int, is_int

KERNEL_SIZE = 5
NUM_STAGES = 3  # three stride-2 convs, three stride-2 transposed convs
GRID_STAGES = 2  # the grid codec's stride-2 stages: one cell per 4x4 patch
GRID_FILTERS = 64  # the grid codec's default filters per layer
ARCHITECTURES = ("conv", "mlp", "grid")
IMAGE_ARCHITECTURES = ("conv", "grid")


def resolve_architecture(
    input_shape: Sequence[int], architecture: str | None = None
) -> tuple[tuple[int, ...], str]:
    """Checks an input shape against an architecture and resolves the default.

    Args:
        input_shape: (H, W, C) for "conv" and "grid"; any non-empty shape for "mlp".
        architecture: "conv", "mlp", "grid", or None for "conv" on a 3-D input_shape and
            "mlp" on a 1-D one.

    Returns:
        (input_shape as a tuple of ints, "conv", "mlp" or "grid").

    Raises:
        ValueError: on an unknown architecture, or an input_shape it cannot take
            (sizes must be ints >= 1).
    """
    if architecture is not None and architecture not in ARCHITECTURES:
        raise ValueError(
            "Expected architecture 'conv', 'mlp', 'grid' or None. "
            f"Received: architecture={architecture!r}"
        )
    try:
        dims = list(input_shape)
    except TypeError:
        dims = []
    # Sizes must be ints: int(8.5) would build a codec for another shape without a word.
    shape = tuple(int(d) for d in dims) if all(is_int(d) for d in dims) else ()
    positive = bool(shape) and min(shape) >= 1
    if architecture is None:
        if len(shape) not in (1, 3) or not positive:
            raise ValueError(
                "Expected input_shape (height, width, channels) for images or (features,) "
                f"for vectors. Received: input_shape={input_shape!r}"
            )
        return shape, "conv" if len(shape) == 3 else "mlp"
    if architecture in IMAGE_ARCHITECTURES and (len(shape) != 3 or not positive):
        raise ValueError(
            f"Expected input_shape (height, width, channels) for architecture={architecture!r}. "
            f"Received: input_shape={input_shape!r}"
        )
    if not positive:
        raise ValueError(
            "Expected input_shape a non-empty shape of sizes >= 1 for architecture='mlp'. "
            f"Received: input_shape={input_shape!r}"
        )
    return shape, architecture


def default_filters(num_latents: int, num_categories: int) -> int:
    """The paper's filter count per conv layer: c * l / 4 (at least 1).

    Args:
        num_latents: c.
        num_categories: l.

    Returns:
        int >= 1.
    """
    return max(1, (num_latents * num_categories) // 4)


def resolve_units(
    bottleneck: int,
    filters: int | None,
    hidden_units: int | None,
    *,
    width: int | None = None,
    architecture: str = "conv",
) -> tuple[int, int]:
    """Checks the stacks' sizes and fills in the defaults.

    Args:
        bottleneck: width of the code layer (c * l, or h).
        filters: conv filters per layer, or None for max(1, bottleneck // 4)
            ("conv") or GRID_FILTERS ("grid").
        hidden_units: dense units of the mlp, or None for bottleneck.
        width: the one size argument whatever the architecture: the filters of a
            "conv" or "grid" codec, the hidden units of an "mlp" one; None: filters and
            hidden_units as given.
        architecture: the resolved architecture, which width sizes.

    Returns:
        (filters, hidden_units), ints >= 1.

    Raises:
        ValueError: if width, filters or hidden_units is neither None nor an int
            >= 1, or width comes with filters or hidden_units.
    """
    if width is not None:
        check_int("width", width, minimum=1)
        if filters is not None or hidden_units is not None:
            raise ValueError(
                "Expected width, or filters and hidden_units, not both. Received: "
                f"width={width}, filters={filters}, hidden_units={hidden_units}"
            )
        image = architecture in IMAGE_ARCHITECTURES
        filters, hidden_units = (width, None) if image else (None, width)
    check_int("filters", filters, minimum=1, optional=True)
    check_int("hidden_units", hidden_units, minimum=1, optional=True)
    default = GRID_FILTERS if architecture == "grid" else max(1, bottleneck // 4)
    return int(filters or default), int(hidden_units or bottleneck)


def grid_cells(input_shape: Sequence[int]) -> int:
    """Cells of a grid codec's code map: ceil(H/4) * ceil(W/4); c must be a multiple.

    Args:
        input_shape: (H, W, C).

    Returns:
        int >= 1.
    """
    height, width = int(input_shape[0]), int(input_shape[1])
    return math.ceil(height / 2**GRID_STAGES) * math.ceil(width / 2**GRID_STAGES)


def check_grid_latents(input_shape: Sequence[int], num_latents: int) -> None:
    """Refuses a grid codec whose c is not a multiple of its cells (`grid_cells`).

    Raises:
        ValueError: saying which multiples would fit.
    """
    cells = grid_cells(input_shape)
    if num_latents % cells:
        raise ValueError(
            f"Expected num_latents a multiple of {cells} for architecture='grid' on "
            f"input_shape={tuple(input_shape)} (one set of latents per 4x4 patch). "
            f"Received: num_latents={num_latents}; the nearest that fit: "
            f"{max(cells, num_latents // cells * cells)} or {(num_latents // cells + 1) * cells}"
        )


def count_autoencoder_params(
    input_shape: Sequence[int],
    bottleneck: int,
    *,
    filters: int | None = None,
    hidden_units: int | None = None,
    architecture: str | None = None,
    kernel_size: int = KERNEL_SIZE,
    width: int | None = None,
) -> int:
    """Parameters of an autoencoder built by this module, without building it.

    Args:
        input_shape: (H, W, C) or (n,); any shape for architecture "mlp".
        bottleneck: width of the code layer: c * l for the discrete
            autoencoder, h for the continuous one.
        filters: conv filters; default bottleneck // 4.
        hidden_units: dense units of the mlp; default bottleneck.
        architecture: "conv", "mlp" or None (as `resolve_architecture`).
        kernel_size: the conv layers' kernel size.
        width: filters (conv) or hidden units (mlp), as `resolve_units`.

    Returns:
        int, trainable parameters of encoder + decoder. An mlp on an input shape
        counts the same as an mlp on that shape flattened.

    Raises:
        ValueError: as `resolve_architecture` and `resolve_units`.
    """
    shape, architecture = resolve_architecture(input_shape, architecture)
    filters, hidden_units = resolve_units(
        bottleneck, filters, hidden_units, width=width, architecture=architecture
    )
    if architecture == "conv":
        return _count_conv(shape, bottleneck, filters, kernel_size)
    if architecture == "grid":
        return _count_grid(shape, bottleneck, filters, kernel_size)
    return _count_mlp(math.prod(shape), bottleneck, hidden_units)


def _count_conv(shape: tuple[int, ...], bottleneck: int, f: int, kernel_size: int) -> int:
    height, width, channels = shape
    cells = reduced_size(height) * reduced_size(width)
    conv = kernel_size * kernel_size
    encoder = (conv * channels * f + f) + 2 * (conv * f * f + f) + cells * f * bottleneck
    encoder += bottleneck
    decoder = bottleneck * cells * f + cells * f + 2 * (conv * f * f + f)
    decoder += conv * f * channels + channels
    return encoder + decoder


def _count_grid(shape: tuple[int, ...], bottleneck: int, f: int, kernel_size: int) -> int:
    # A bottleneck that is not a whole number of units a cell (a c the codec refuses)
    # counts as the next whole number, so the count grows with c for a budget search.
    channels, conv = shape[2], kernel_size * kernel_size
    units = math.ceil(bottleneck / grid_cells(shape))
    encoder = (conv * channels * f + f) + 2 * (conv * f * f + f) + (f * units + units)
    decoder = (9 * units * f + f) + 2 * (conv * f * f + f) + (conv * f * channels + channels)
    return encoder + decoder


def _count_mlp(features: int, bottleneck: int, h: int) -> int:
    encoder = (features * h + h) + (h * h + h) + (h * bottleneck + bottleneck)
    decoder = (bottleneck * h + h) + (h * h + h) + (h * features + features)
    return encoder + decoder


def reduced_size(size: int) -> int:
    """Spatial size after NUM_STAGES stride-2 convs with "same" padding.

    Args:
        size: an input height or width.

    Returns:
        ceil(size / 8).
    """
    return math.ceil(size / 2**NUM_STAGES)


def build_encoder(
    shape: tuple[int, ...],
    out_units: int,
    *,
    architecture: str,
    filters: int,
    hidden_units: int,
    name: str,
    kernel_size: int = KERNEL_SIZE,
) -> keras.Sequential:
    """The encoder stack: float32 [B, *shape] -> float32 [B, out_units].

    Args:
        shape: the input shape, checked by `resolve_architecture`.
        out_units: width of the code layer.
        architecture: "conv", "mlp" or "grid".
        filters: conv filters per layer.
        hidden_units: dense units per hidden layer of the mlp.
        name: the model's name.
        kernel_size: the conv layers' kernel size.

    Returns:
        A built `keras.Sequential`.
    """
    if architecture == "grid":
        strides = [2] * GRID_STAGES + [1]
        layers = [
            keras.layers.Conv2D(filters, kernel_size, strides=s, padding="same", activation="relu")
            for s in strides
        ]
        layers += [keras.layers.Conv2D(out_units // grid_cells(shape), 1), keras.layers.Flatten()]
    elif architecture == "conv":
        layers = [
            keras.layers.Conv2D(filters, kernel_size, strides=2, padding="same", activation="relu")
            for _ in range(NUM_STAGES)
        ]
        layers += [keras.layers.Flatten(), keras.layers.Dense(out_units)]
    else:
        layers = [keras.layers.Flatten()] if len(shape) > 1 else []
        layers += [
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(out_units),
        ]
    return keras.Sequential([keras.Input(shape), *layers], name=name)


def build_decoder(
    shape: tuple[int, ...],
    in_units: int,
    *,
    architecture: str,
    filters: int,
    hidden_units: int,
    name: str,
    kernel_size: int = KERNEL_SIZE,
) -> keras.Sequential:
    """The decoder stack: float32 [B, in_units] -> float32 logits [B, *shape].

    Args:
        shape: the output (input) shape, checked by `resolve_architecture`.
        in_units: width of the code layer.
        architecture: "conv", "mlp" or "grid".
        filters: conv filters per layer.
        hidden_units: dense units per hidden layer of the mlp.
        name: the model's name.
        kernel_size: the conv layers' kernel size.

    Returns:
        A built `keras.Sequential`.
    """
    if architecture == "conv":
        layers = _conv_decoder_layers(shape, filters, kernel_size)
    elif architecture == "grid":
        layers = _grid_decoder_layers(shape, in_units, filters, kernel_size)
    else:
        layers = [
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(math.prod(shape)),
        ]
        if len(shape) > 1:
            layers.append(keras.layers.Reshape(shape))
    return keras.Sequential([keras.Input((in_units,)), *layers], name=name)


def _conv_decoder_layers(
    shape: tuple[int, ...], filters: int, kernel: int
) -> list[keras.layers.Layer]:
    height, width, channels = shape
    rows, cols = reduced_size(height), reduced_size(width)
    return [
        keras.layers.Dense(rows * cols * filters, activation="relu"),
        keras.layers.Reshape((rows, cols, filters)),
        keras.layers.Conv2DTranspose(filters, kernel, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2DTranspose(filters, kernel, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2DTranspose(channels, kernel, strides=2, padding="same"),
        keras.layers.Cropping2D(((0, rows * 8 - height), (0, cols * 8 - width))),
    ]


def _grid_decoder_layers(
    shape: tuple[int, ...], in_units: int, filters: int, kernel: int
) -> list[keras.layers.Layer]:
    height, width, channels = shape
    scale = 2**GRID_STAGES
    rows, cols = math.ceil(height / scale), math.ceil(width / scale)
    up = [
        keras.layers.Conv2DTranspose(filters, kernel, strides=2, padding="same", activation="relu")
        for _ in range(GRID_STAGES)
    ]
    return [
        keras.layers.Reshape((rows, cols, in_units // (rows * cols))),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
        *up,
        keras.layers.Conv2DTranspose(channels, kernel, padding="same"),
        keras.layers.Cropping2D(((0, rows * scale - height), (0, cols * scale - width))),
    ]
