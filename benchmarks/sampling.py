"""Table 4's parts: a codec fit offline, and its two ways of sampling recollections.

Where this sits: `benchmarks.code_sampling` calls these per code shape, then scores
each set of recollections with `benchmarks.nearest_neighbour`.

```
x_train float32 [N, 28, 28, 1] --train_codec (codec.fit)--> DiscreteAutoencoder
buffer sampling: x_train --memory.observe--> codes uint8 [N, ceil(k/8)]
                 --memory.recall_items(n), uniform with replacement--> x^ [n, 28, 28, 1]
code sampling:   draw_codes: int32 [n, c], each latent uniform in [0, l)
                 --codec.decode--> x^ [n, 28, 28, 1]
```

Encodes and decodes run `CODEC_BATCH` items at a time to bound the memory of the
conv activations.
"""

from __future__ import annotations

import keras
import numpy as np
import tqdm

from recollect import DiscreteAutoencoder, RecollectionMemory, metrics

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
CODEC_BATCH = 500


class _BatchBar(keras.callbacks.Callback):
    """Advances a tqdm bar by one step per training batch and shows the loss."""

    def __init__(self, bar: tqdm.tqdm) -> None:
        super().__init__()
        self.bar = bar

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)


def train_codec(
    x_train: np.ndarray,
    *,
    num_latents: int,
    num_categories: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    filters: int | None,
    kernel_size: int,
    noise_scale: float,
    seed: int,
    progress: bool = False,
) -> DiscreteAutoencoder:
    """Builds the conv codec as the recollection store does and fits it offline.

    The training step is the codec's own (`DiscreteAutoencoder.train_step`: binary
    cross-entropy through a straight-through Gumbel-softmax sample), with Adam.

    Args:
        x_train: float32 [N, 28, 28, 1] in [0, 1].
        num_latents: c.
        num_categories: l.
        epochs: passes over x_train, shuffled each time.
        batch_size: images per step.
        learning_rate: Adam's step size.
        filters: conv filters per layer; None for the paper's c * l / 4.
        kernel_size: the conv layers' kernel size.
        noise_scale: scale of the Gumbel noise in training.
        seed: seeds the weights, the shuffles and the Gumbel noise.
        progress: show a tqdm bar over the training steps.

    Returns:
        The trained codec.
    """
    keras.utils.set_random_seed(seed)
    codec = DiscreteAutoencoder(
        input_shape=INPUT_SHAPE,
        num_latents=num_latents,
        num_categories=num_categories,
        architecture="conv",
        filters=filters,
        kernel_size=kernel_size,
        noise_scale=noise_scale,
        seed=seed,
    )
    codec.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    steps = epochs * -(-len(x_train) // batch_size)
    desc = f"train {num_latents}x{num_categories}"
    with tqdm.tqdm(total=steps, desc=desc, unit="step", disable=not progress) as bar:
        codec.fit(
            x_train,
            batch_size=batch_size,
            epochs=epochs,
            shuffle=True,
            verbose=0,
            callbacks=[_BatchBar(bar)],
        )
    return codec


def reconstruction_distortion(codec: DiscreteAutoencoder, x: np.ndarray) -> float:
    """Mean L1 on [0, 1] pixels of decode(encode(x)) (the code's mode), over all of x."""
    x_hat = np.concatenate(
        [
            codec.decode(codec.encode(x[start : start + CODEC_BATCH])).numpy()
            for start in range(0, len(x), CODEC_BATCH)
        ]
    )
    return metrics.reconstruction_distortion(x, x_hat)


def draw_codes(num_latents: int, num_categories: int, *, samples: int, seed: int) -> np.ndarray:
    """Code sampling's codes: int32 [samples, c], every latent uniform in [0, l)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_categories, size=(samples, num_latents)).astype(np.int32)


def decode_codes(codec: DiscreteAutoencoder, codes: np.ndarray) -> np.ndarray:
    """float32 [n, 28, 28, 1]: int codes [n, c] decoded a batch at a time."""
    return np.concatenate(
        [
            codec.decode(codes[start : start + CODEC_BATCH]).numpy()
            for start in range(0, len(codes), CODEC_BATCH)
        ]
    )


def buffer_recollections(
    codec: DiscreteAutoencoder, x_train: np.ndarray, y_train: np.ndarray, *, samples: int, seed: int
) -> tuple[np.ndarray, RecollectionMemory]:
    """Buffer sampling: every training image observed, `samples` recalled and decoded.

    Args:
        codec: the trained codec.
        x_train: float32 [N, 28, 28, 1] in [0, 1]; the buffer holds all N codes.
        y_train: int32 [N] labels (the memory stores them beside the codes).
        samples: items recalled, uniformly with replacement.
        seed: seeds the buffer's draws.

    Returns:
        (float32 [samples, 28, 28, 1] recollections, the memory).
    """
    memory = RecollectionMemory(
        codec, capacity=len(x_train), num_classes=NUM_CLASSES, num_tasks=1, seed=seed
    )
    for start in range(0, len(x_train), CODEC_BATCH):
        end = start + CODEC_BATCH
        memory.observe(x_train[start:end], y_train[start:end], 0)
    batches = [
        memory.recall_items(min(CODEC_BATCH, samples - start))["x"].numpy()
        for start in range(0, samples, CODEC_BATCH)
    ]
    return np.concatenate(batches), memory
