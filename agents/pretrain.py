"""Pretrains a recollection store's codec on the unlabelled images of a data set.

Where this sits: `runners/pretrain_codec.py` builds a `PretrainConfig` from flags
and calls `pretrain(config, output)`; a continual run then starts its codec from
the file it writes (`RecollectionStoreConfig.codec_init`), the paper's transfer
from unlabelled background data (Question 3, Table 3: CIFAR-10 for CIFAR-100).

```
load_arrays(dataset)   uint8 images, labels dropped: mnist, cifar10, cifar100: x_train
                       [N, H, W, C]; omniglot: every drawing [chars * drawers, 28, 28, 1]
convert_images         to input_shape: resized (bilinear, antialiased), grey <-> RGB,
                       or flattened to (H * W * C,)
exclude_stream         the rows a stream's seeds train on, dropped (optional)
split (seed)           heldout_examples held out, then `examples` to train on (None: the rest)
build_codec            the store's own codec for (c, l) and the codec settings
codec.fit              the codec's train_step (reconstruction loss) with Adam, epochs
heldout L1             mean |x - x^| on [0, 1] pixels, the code's mode, before and after
pretrained_codec.save  output .npz (encoder and decoder weights) + .json (settings)
```
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agents.learners.base import check_config
from agents.stores.codecs import CODECS, build_codec
from recollect import bits, datasets
from recollect import pretrained_codec as pretrained
from recollect.arguments import is_int
from recollect.datasets.catalog import DATASETS
from recollect.datasets.protocols import split_cifar10
from recollect.datasets.stream import scale_pixels

EVAL_BATCH_SIZE = 500
# Streams whose training images a pretraining run can leave out: (data set, options, rows).
EXCLUDABLE: dict[str, tuple[str, Any, Any]] = {
    "split_cifar10": ("cifar10", split_cifar10.SplitCifar10Options, split_cifar10.train_rows),
}
_CONVERT_CHUNK = 4096


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """What a codec is pretrained on and how; invalid values raise ValueError here.

    The codec settings (codec, codec_units, codec_kernel_size, codec_noise) mean
    what they mean for `RecollectionStoreConfig`, with its defaults, so a run that
    names the same flags builds the codec the file holds.

    Attributes:
        num_latents: c.
        num_categories: l, in [2, 256].
        dataset: a data set of `recollect.datasets` (mnist, cifar10, cifar100,
            omniglot); its labels are not used.
        data_dir: data root (None: $RECOLLECT_DATA_DIR, else tensorflow_datasets).
        input_shape: the run's input shape, (H, W, C) or (H * W * C,); None: the
            data set's own.
        codec: the autoencoder's architecture, mlp or conv.
        codec_units: hidden units (mlp) or filters (conv); None: c*l (mlp), c*l/4 (conv).
        codec_kernel_size: kernel size of the conv codec's layers.
        codec_noise: scale of the Gumbel noise in training.
        codec_learning_rate: Adam step size.
        epochs: passes over the training images.
        batch_size: images per step.
        examples: training images, drawn by the seed (None: all but the held-out ones).
        heldout_examples: images held out to measure the reconstruction L1.
        seed: seeds the split, the shuffling, the initial weights and the noise.
        exclude_stream: a stream of this data set (split_cifar10) whose training
            images are left out, so that the codec never sees an image it will be
            used on; None: every image is eligible.
        exclude_seeds: the stream seeds whose images are left out (their union).
        exclude_examples_per_task: the stream's --examples_per_task (None: all).
    """

    num_latents: int
    num_categories: int
    dataset: str = "mnist"
    data_dir: str | None = None
    input_shape: tuple[int, ...] | None = None
    codec: str = "mlp"
    codec_units: int | None = None
    codec_kernel_size: int = 5
    codec_noise: float = 1.0
    codec_learning_rate: float = 1e-3
    epochs: int = 1
    batch_size: int = 32
    examples: int | None = None
    heldout_examples: int = 1000
    seed: int = 0
    exclude_stream: str | None = None
    exclude_seeds: tuple[int, ...] = (0,)
    exclude_examples_per_task: int | None = None

    def __post_init__(self) -> None:
        """Checks every setting; raises ValueError naming the flag."""
        check_config(
            self.dataset in DATASETS, f"--dataset among {DATASETS}", f"dataset={self.dataset!r}"
        )
        check_config(self.codec in CODECS, f"--codec among {CODECS}", f"codec={self.codec!r}")
        bits.bits_per_item(self.num_latents, self.num_categories)  # c >= 1, l in [2, 256]
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", tuple(self.input_shape))
            check_config(
                len(self.input_shape) in (1, 3)
                and all(is_int(d) and d >= 1 for d in self.input_shape),
                "--input_shape H,W,C or a flat size",
                f"input_shape={self.input_shape!r}",
            )
        for name in ("epochs", "batch_size", "heldout_examples", "codec_kernel_size"):
            value = getattr(self, name)
            check_config(is_int(value) and value >= 1, f"--{name} >= 1", f"{name}={value!r}")
        for name in ("examples", "codec_units"):
            value = getattr(self, name)
            check_config(
                value is None or (is_int(value) and value >= 1),
                f"--{name} >= 1 or unset",
                f"{name}={value!r}",
            )
        check_config(
            self.codec_learning_rate > 0 and self.codec_noise >= 0,
            "--codec_learning_rate > 0 and --codec_noise >= 0",
            f"codec_learning_rate={self.codec_learning_rate}, codec_noise={self.codec_noise}",
        )
        check_config(is_int(self.seed) and self.seed >= 0, "--seed >= 0", f"seed={self.seed!r}")
        self._check_exclusion()

    def _check_exclusion(self) -> None:
        """Checks --exclude_stream and its seeds and per-task limit."""
        stream = self.exclude_stream
        if stream is None:
            return
        check_config(
            stream in EXCLUDABLE and EXCLUDABLE[stream][0] == self.dataset,
            "--exclude_stream a stream of --dataset: "
            + ", ".join(f"{s} ({d})" for s, (d, _, _) in EXCLUDABLE.items()),
            f"exclude_stream={stream!r} with dataset={self.dataset!r}",
        )
        object.__setattr__(self, "exclude_seeds", tuple(self.exclude_seeds))
        check_config(
            bool(self.exclude_seeds) and all(is_int(s) and s >= 0 for s in self.exclude_seeds),
            "--exclude_seeds: one or more seeds >= 0",
            f"exclude_seeds={self.exclude_seeds!r}",
        )
        limit = self.exclude_examples_per_task
        check_config(
            limit is None or (is_int(limit) and limit >= 1),
            "--exclude_examples_per_task >= 1 or unset",
            f"exclude_examples_per_task={limit!r}",
        )


def pretrain(
    config: PretrainConfig,
    output: str,
    *,
    progress: bool = True,
    cache_dir: str | None = None,
) -> pretrained.PretrainedCodec:
    """Trains a codec on the data set's images and writes it to output (.npz + .json).

    Args:
        config: the `PretrainConfig`.
        output: the weights file, `<name>.npz`; `<name>.json` gets the settings.
            Neither may exist yet.
        progress: show Keras' progress bar.
        cache_dir: where decoded data sets are cached (see `recollect.datasets`).

    Returns:
        The written file, as `PretrainedCodec.read` returns it.

    Raises:
        ValueError: an output that is not a new .npz path, an input_shape the
            images cannot be converted to, or too few images for the split; all
            before any training.
        recollect.datasets.DataNotFoundError: missing data.
    """
    _check_output(output)
    images, source = training_images(config, cache_dir=cache_dir)
    heldout, train = split_images(images, config)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    codec = build_codec(
        config,
        num_latents=config.num_latents,
        num_categories=config.num_categories,
        input_shape=tuple(images.shape[1:]),
        seed=config.seed,
    )
    initial_l1 = heldout_l1(codec, heldout)
    codec.compile(optimizer=keras.optimizers.Adam(config.codec_learning_rate), jit_compile=False)
    batches = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(len(train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(lambda x: tf.cast(x, tf.float32) / 255.0)
    )
    started = time.perf_counter()
    history = codec.fit(batches, epochs=config.epochs, verbose=1 if progress else 0)
    training = {
        "dataset": config.dataset,
        "data": source,
        "examples": len(train),
        "heldout_examples": len(heldout),
        "epochs": config.epochs,
        "steps": int(codec.optimizer.iterations),
        "seconds": time.perf_counter() - started,
        "final_loss": float(history.history["loss"][-1]),
        "heldout_l1_initial": initial_l1,
        "heldout_l1": heldout_l1(codec, heldout),
        "config": dataclasses.asdict(config),
    }
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    return pretrained.save(codec, output, training=training)


def training_images(
    config: PretrainConfig, *, cache_dir: str | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The data set's images at the config's input shape, and where they came from.

    Returns:
        (uint8 [N, *input_shape], {"source_shape", "source", "format", "files", ...}).

    Raises:
        ValueError: an input_shape the images cannot be converted to.
    """
    data = datasets.load_arrays(config.dataset, data_dir=config.data_dir, cache_dir=cache_dir)
    if config.dataset == "omniglot":
        x = data.arrays["x"]
        images = x.reshape(-1, *x.shape[2:])
    else:
        images = data.arrays["x_train"]
    source = {
        "source_shape": list(images.shape[1:]),
        **{k: data.metadata.get(k) for k in ("source", "format", "files", "note")},
    }
    if config.exclude_stream is not None:
        rows = stream_rows(config, data)
        images = np.delete(images, rows, axis=0)
        source["excluded"] = {
            "stream": config.exclude_stream,
            "seeds": list(config.exclude_seeds),
            "examples_per_task": config.exclude_examples_per_task,
            "images": len(rows),
        }
    shape = config.input_shape or tuple(images.shape[1:])
    return convert_images(images, shape), source


def stream_rows(config: PretrainConfig, data: datasets.DataArrays) -> np.ndarray:
    """The sorted rows of `x_train` that the excluded stream's seeds train on."""
    _, options_class, rows_of = EXCLUDABLE[str(config.exclude_stream)]
    options = options_class(examples_per_task=config.exclude_examples_per_task)
    rows = [np.concatenate(rows_of(data, options, seed)) for seed in config.exclude_seeds]
    return np.unique(np.concatenate(rows))


def convert_images(images: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    """Resizes and recolours images to a run's input shape.

    Args:
        images: uint8 [N, H, W, C], C 1 (grey) or 3 (RGB).
        input_shape: (H', W', C') with C' 1 or 3, or (H * W * C,) to flatten.

    Returns:
        uint8 [N, *input_shape]: resized bilinearly with antialiasing, RGB turned to
        grey by luminance or grey repeated to RGB, rounded back to 8 bits.

    Raises:
        ValueError: a shape the images cannot take.
    """
    shape = tuple(int(d) for d in input_shape)
    count, height, width, channels = images.shape
    if len(shape) == 1:
        check_config(
            shape[0] == height * width * channels,
            f"a flat --input_shape of {height}*{width}*{channels}={height * width * channels}",
            f"input_shape={shape}",
        )
        return images.reshape(count, -1)
    check_config(
        len(shape) == 3 and shape[2] in (1, 3) and channels in (1, 3),
        "--input_shape H,W,C with 1 or 3 channels (images of 1 or 3)",
        f"input_shape={shape} for images of {images.shape[1:]}",
    )
    if shape == (height, width, channels):
        return images
    out = np.empty((count, *shape), np.uint8)
    for start in range(0, count, _CONVERT_CHUNK):
        x = tf.cast(images[start : start + _CONVERT_CHUNK], tf.float32)
        if channels == 3 and shape[2] == 1:
            x = tf.image.rgb_to_grayscale(x)
        elif channels == 1 and shape[2] == 3:
            x = tf.image.grayscale_to_rgb(x)
        if shape[:2] != (height, width):
            x = tf.image.resize(x, shape[:2], method="bilinear", antialias=True)
        out[start : start + _CONVERT_CHUNK] = tf.cast(
            tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8
        ).numpy()
    return out


def split_images(images: np.ndarray, config: PretrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, training) images, drawn without overlap by the config's seed.

    Raises:
        ValueError: fewer images than heldout_examples + examples (or + 1).
    """
    wanted = config.heldout_examples + (config.examples or 1)
    check_config(
        len(images) >= wanted,
        f"at least --heldout_examples + --examples = {wanted} images",
        f"{len(images)} in {config.dataset}",
    )
    rows = np.random.default_rng(config.seed).permutation(len(images))
    heldout = rows[: config.heldout_examples]
    train = rows[config.heldout_examples :]
    if config.examples is not None:
        train = train[: config.examples]
    return images[np.sort(heldout)], images[np.sort(train)]


def heldout_l1(codec: keras.Model, images: np.ndarray) -> float:
    """Mean L1 distance on [0, 1] pixels between images and their reconstructions.

    Args:
        codec: a `DiscreteAutoencoder`; reconstructions use the code's mode (what
            a stored code decodes to).
        images: uint8 [N, *input_shape].

    Returns:
        The mean over every pixel of every image.
    """
    total = 0.0
    for start in range(0, len(images), EVAL_BATCH_SIZE):
        x = scale_pixels(images[start : start + EVAL_BATCH_SIZE])
        total += float(codec.distortion(x)) * len(x)
    return total / len(images)


def _check_output(output: str) -> None:
    check_config(
        output.endswith(pretrained.WEIGHTS_SUFFIX),
        f"--output ending in {pretrained.WEIGHTS_SUFFIX} (the settings go beside it in .json)",
        f"output={output!r}",
    )
    for path in (output, pretrained.settings_path(output)):
        check_config(
            not os.path.exists(path),
            "a new --output",
            f"{path} exists; delete it or choose another --output",
        )
