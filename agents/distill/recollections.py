"""One recollection memory per compression: its code shape, its codec, every image's code.

Where this sits: `DistillExperiment.prepare` asks `code_shapes` for the largest code
that fits each total compression (refusing one that cannot hold the codec and a
code per image, before any training); each seed then builds, trains and fills one
`RecollectionMemory` per compression here, and checkpoints it beside the seed.

```
compression r, N training images:  total budget N / r raw examples
    = N * ceil(c * ceil(log2 l) / 8) bytes of codes + 32 * |theta|(c, l) bits of codec
    --recollect.budget.best_code_shape--> (c, l), the most bits c * log2 l that fit
build_codec (agents.stores.codecs) --fit codec_epochs--> RecollectionMemory(capacity=N)
    observe(every training image)  rows 0..N-1 hold the codes, in order
seed_<s>/memories/<r>x.*           memory.save_checkpoint (codec, codes, their digests)
```
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agents.distill.config import DistillConfig
from agents.stores import codecs
from recollect import RecollectionMemory, budget

NUM_CLASSES = 10
_CHUNK = 1000


def key(ratio: float) -> str:
    """The name of a compression in results and file names: 10.0 -> "10x"."""
    return f"{ratio:g}x"


def code_shapes(
    config: DistillConfig, *, items: int, input_shape: Sequence[int]
) -> dict[str, budget.CodeShape]:
    """The largest code shape that fits each total compression, counting the codec.

    Args:
        config: the run's settings (compressions, num_categories, codec settings).
        items: training images, one code each.
        input_shape: one image's shape.

    Returns:
        key(ratio) -> `recollect.budget.CodeShape`, in config.compressions' order.

    Raises:
        ValueError: a compression whose budget cannot hold the codec and one code
            of at least one latent per image.
    """
    count = codecs.param_count_fn(config, tuple(input_shape))
    shapes = {}
    for ratio in config.compressions:
        total = items / ratio
        try:
            shapes[key(ratio)] = budget.best_code_shape(
                incremental_storage=total,
                total_storage=total,
                items=items,
                input_shape=input_shape,
                num_categories=config.num_categories,
                param_count_fn=count,
            )
        except ValueError as error:
            raise ValueError(
                f"Expected --compressions whose budget holds the codec and a code per "
                f"training image. Received: {ratio:g}x leaves {total:g} raw examples for "
                f"{items} images and a {config.codec} codec (try a smaller --codec_units or "
                f"compression): {error}"
            ) from error
    return shapes


def build_memory(
    config: DistillConfig, shape: budget.CodeShape, *, input_shape: Sequence[int], seed: int
) -> RecollectionMemory:
    """An empty memory of shape.items rows whose codec has the code shape (c, l)."""
    codec = codecs.build_codec(
        config,
        num_latents=shape.num_latents,
        num_categories=shape.num_categories,
        input_shape=tuple(input_shape),
        seed=seed,
    )
    return RecollectionMemory(
        codec,
        capacity=shape.items,
        num_classes=NUM_CLASSES,
        num_tasks=1,
        learning_rate=config.codec_learning_rate,
        seed=seed,
    )


def fill_memory(
    memory: RecollectionMemory,
    config: DistillConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    seed: int,
) -> dict[str, Any]:
    """Trains the memory's codec on the images, then stores every image's code.

    Args:
        memory: an empty memory from `build_memory`.
        config: codec_epochs, codec_learning_rate, fit_batch_size.
        x_train: uint8 [N, *input_shape], N the memory's capacity.
        y_train: int [N], stored beside the codes.
        seed: seeds the shuffling.

    Returns:
        What it cost and how close the recollections are: fit_seconds, final_loss,
        and l1_distortion, the mean |x - x_hat| of the stored codes decoded.
    """
    started = time.perf_counter()
    codec = memory.codec
    # The memory froze its codec for hosts (`host_trainable=False`); it trains here, before
    # any code is stored, and is frozen again after.
    codec.trainable = True
    codec.compile(optimizer=keras.optimizers.Adam(config.codec_learning_rate), jit_compile=False)
    batches = (
        tf.data.Dataset.from_tensor_slices(x_train)
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(config.fit_batch_size)
        .map(lambda x: tf.cast(x, tf.float32) / 255.0)
    )
    history = codec.fit(batches, epochs=config.codec_epochs, verbose=0, shuffle=False)
    codec.trainable = False
    labels = y_train.astype(np.int32)
    for start in range(0, len(x_train), _CHUNK):
        rows = slice(start, start + _CHUNK)
        memory.observe(x_train[rows], labels[rows], task=0)
    return {
        "fit_seconds": time.perf_counter() - started,
        "final_loss": float(history.history["loss"][-1]),
        "l1_distortion": l1_distortion(memory, x_train),
    }


def l1_distortion(memory: RecollectionMemory, x_train: np.ndarray) -> float:
    """Mean |x - x_hat| over every stored image, x in [0, 1], x_hat its code decoded."""
    total = 0.0
    for start in range(0, len(x_train), _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, len(x_train)))
        decoded = memory.recall_rows(rows)["x"].numpy()
        original = x_train[rows].astype(np.float32) / 255.0
        total += float(np.abs(decoded - original).sum())
    return total / x_train.size


def describe(shape: budget.CodeShape, memory: RecollectionMemory) -> dict[str, Any]:
    """The code shape and the memory's storage, in the paper's units (results.json)."""
    footprint = memory.footprint()
    return {
        "num_latents": shape.num_latents,
        "num_categories": shape.num_categories,
        "bits_per_item": shape.bits_per_item,
        "code_bytes": shape.code_bytes,
        "items": shape.items,
        "param_count": shape.param_count,
        "incremental_storage": footprint.incremental_storage_raw_examples,
        "total_storage": footprint.total_storage_raw_examples,
    }


def checkpoint_path(directory: str, ratio: float) -> str:
    """seed_<s>/memories/<r>x: where a seed's filled memory of compression ratio lies."""
    return os.path.join(directory, "memories", key(ratio))
