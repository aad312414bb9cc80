"""Bits per item against distortion: learned codes, JPEG, WebP and lossless coding.

The paper's Figure 3 (Tables 5 and 6) on test images of MNIST, CIFAR-10 and MinAtar
frames. Each method codes every test item on its own; a row is its mean bits per item
and its distortion (mean L1 on [0, 1] pixels, `recollect.metrics`, and PSNR):

```
images uint8 [N, H, W, C]    mnist / cifar10 test images; minatar: random-policy frames
  discrete_ae   c x l        trained --train_steps Adam steps; c * ceil(log2 l) bits
  discrete_grid c x l        the same with the grid codec (a spatial code, c a multiple of
                             the 4x4 patches); MNIST's trained --reference_steps
  continuous_ae h            the same network with h real latents: 32 h bits (float32),
                             16 h (float16) and 8 h (uint8 on each latent's training range)
  jpeg / webp   quality q    whole file, and with the shared header counted once
  png, zstd, packbits        lossless (L1 0): the uint8 image, and for binary frames 1 bit
                             a value (np.packbits), alone or then zstd
  v
<output_dir>/rate_distortion.csv   dataset, method, setting, bits_per_item, l1, psnr
<output_dir>/rate_distortion.png   one panel per dataset, log bits per item against L1
<output_dir>/summary.json          the flags, each codec's training, the JPEG header check
```

Header accounting, tiling and lossless coding: `benchmarks.static_codecs`. MinAtar frames
are binary 10x10xC: JPEG, WebP and PNG code the C channels tiled into a 2-D grey image
(0 or 255); every lossy reconstruction of them, learned ones too, is thresholded at 0.5.

Usage (from the repository root):
    python -m benchmarks.rate_distortion --data_dir /path/to/data \
        [--datasets mnist,cifar10,minatar] [--train_steps 800] [--reference_steps 2000] \
        [--test_items 1000] [--output_dir runs/rate_distortion] [--seed 0]
        [--methods lossless,jpeg,webp,discrete,grid,continuous]
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags
from tqdm import tqdm

from agents.lifelong import envs
from agents.stores import codecs
from benchmarks import frame_bits, static_codecs
from benchmarks.rate_distortion_plot import PAPER_POINTS, plot
from recollect import ContinuousAutoencoder, datasets, metrics
from recollect.datasets.stream import scale_pixels

COLUMNS = ("dataset", "method", "setting", "bits_per_item", "l1", "psnr")
DATASETS = ("mnist", "cifar10", "minatar")
QUALITIES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
BATCH_SIZE = 32
EVAL_BATCH_SIZE = 500
TRAIN_ITEMS = 20_000  # training subset per data set (MinAtar: frames over all games)
DISCRETE_SHAPES = {
    "mnist": ((38, 2), (168, 2), (104, 4), (208, 4), (138, 8)),
    "cifar10": ((120, 2), (608, 2), (2456, 2)),  # runners/configs/split_cifar10 budgets
    "minatar": ((40, 4),),
}
# The grid codec (one set of latents per 4x4 patch): c a multiple of the cells (49, 64);
# CIFAR-10's are the shapes the split CIFAR-10 grid rows' budgets choose.
GRID_SHAPES = {"mnist": ((147, 2),), "cifar10": ((64, 2), (576, 2), (2432, 2)), "minatar": ()}
CONTINUOUS_SIZES = {"mnist": (2, 5, 20), "cifar10": (4, 19, 77), "minatar": (1, 2, 3, 5)}


@dataclasses.dataclass(frozen=True)
class CodecRecipe:
    """The codec settings of a data set's runs (`agents.stores.codecs.CodecSettings`)."""

    codec: str
    codec_units: int
    codec_noise: float
    codec_kernel_size: int = 5
    learning_rate: float = 1e-3


RECIPES = {  # as in runners/configs: mnist_rotations, split_cifar10, minatar (lifelong)
    "mnist": CodecRecipe("conv", 64, codec_noise=0.0),
    "cifar10": CodecRecipe("conv", 64, codec_noise=1.0),
    "minatar": CodecRecipe("mlp", 256, codec_noise=0.0),
}
GRID_RECIPE = CodecRecipe("grid", 64, codec_noise=0.0)  # runners/configs/split_cifar10 grid rows
METHODS = ("lossless", "jpeg", "webp", "discrete", "grid", "continuous")


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmark run; see the module docstring for what each setting changes."""

    data_dir: str | None = None
    datasets: tuple[str, ...] = DATASETS
    train_steps: int = 800
    reference_steps: int = 2000  # the paper's MNIST reference shapes, 38x2 and 168x2
    test_items: int = 1000
    seed: int = 0
    qualities: tuple[int, ...] = QUALITIES
    progress: bool = True
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        """Raises ValueError on an unknown data set or method, or a count below 1."""
        unknown = sorted(set(self.datasets) - set(DATASETS))
        if unknown or not self.datasets:
            raise ValueError(f"Expected datasets among {DATASETS}. Received: {self.datasets}")
        if set(self.methods) - set(METHODS) or not self.methods:
            raise ValueError(f"Expected methods among {METHODS}. Received: {self.methods}")
        for name in ("train_steps", "reference_steps", "test_items"):
            if getattr(self, name) < 1:
                raise ValueError(f"Expected {name} >= 1. Received: {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class Images:
    """uint8 train [N, H, W, C] and test [M, H, W, C]; binary: values are 0 or 1."""

    train: np.ndarray
    test: np.ndarray
    binary: bool

    def pixels(self, items: np.ndarray) -> np.ndarray:
        """float32 items in [0, 1]: binary values as they are, 8-bit ones divided by 255."""
        return items.astype(np.float32) if self.binary else scale_pixels(items)


def load_images(dataset: str, config: Config, *, frames_per_game: int = 4000) -> Images:
    """A data set's training subset and test items (the seed draws both).

    Raises:
        recollect.datasets.DataNotFoundError: missing mnist or cifar10 files.
    """
    rng = np.random.default_rng(config.seed)
    if dataset == "minatar":
        games = envs.make_games(list(envs.MINATAR_GAMES))
        per_game = math.ceil(config.test_items / len(games))
        try:
            train = [frame_bits.collect(g, frames_per_game, config.seed) for g in games]
            test = [frame_bits.collect(g, per_game, config.seed + 10_000) for g in games]
        finally:
            for game in games:
                game.close()
        return Images(np.concatenate(train), np.concatenate(test)[: config.test_items], True)
    arrays = datasets.load_arrays(dataset, data_dir=config.data_dir).arrays
    train, test = arrays["x_train"], arrays["x_test"]
    train = train[np.sort(rng.permutation(len(train))[:TRAIN_ITEMS])]
    return Images(train, test[np.sort(rng.permutation(len(test))[: config.test_items])], False)


def distortion_row(
    dataset: str, method: str, setting: str, bits: float, x: np.ndarray, x_hat: np.ndarray
) -> dict:
    """A CSV row: mean L1 and PSNR (dB, from the mean squared error) of x_hat on [0, 1]."""
    l1 = metrics.reconstruction_distortion(x, x_hat)
    mse = float(np.mean((x.astype(np.float64) - x_hat) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(1 / mse)
    return dict(zip(COLUMNS, (dataset, method, setting, float(bits), l1, psnr), strict=True))


def binarized(x_hat: np.ndarray, binary: bool) -> np.ndarray:
    """x_hat thresholded at 0.5 for binary data, else unchanged (float in [0, 1])."""
    return (x_hat >= 0.5).astype(np.float32) if binary else x_hat


def batched(fn: Callable[[tf.Tensor], tf.Tensor], x: np.ndarray) -> np.ndarray:
    """fn over float32 x [N, ...] in slices of EVAL_BATCH_SIZE, concatenated as numpy."""
    starts = range(0, len(x), EVAL_BATCH_SIZE)
    return np.concatenate([np.asarray(fn(tf.constant(x[i : i + EVAL_BATCH_SIZE]))) for i in starts])


def train_codec(
    codec: keras.Model, data: Images, steps: int, recipe: CodecRecipe, seed: int
) -> dict:
    """Trains codec for `steps` Adam steps on batches of the training items; returns its record."""
    keras.utils.set_random_seed(seed)
    codec.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), jit_compile=False)
    batches = (
        tf.data.Dataset.from_tensor_slices(data.train)
        .shuffle(len(data.train), seed=seed)
        .repeat()
        .batch(BATCH_SIZE)
        .map(lambda x: tf.cast(x, tf.float32) * (1.0 if data.binary else 1 / 255))
    )
    started = time.perf_counter()
    history = codec.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds, loss = time.perf_counter() - started, float(history.history["loss"][-1])
    return {"steps": steps, "seconds": seconds, "final_loss": loss}


def discrete_rows(
    dataset: str, data: Images, shape: tuple[int, int], config: Config, grid: bool = False
) -> tuple[list[dict], dict]:
    """Trains a `DiscreteAutoencoder` of shape (c, l); rows of its stored codes (the mode).

    grid: the grid codec (`GRID_RECIPE`, method "discrete_grid"), trained for
    --reference_steps on MNIST, as the paper's reference shapes are.
    """
    (c, l), recipe = shape, GRID_RECIPE if grid else RECIPES[dataset]
    setting = f"{c}x{l}"
    codec = codecs.build_codec(
        recipe, num_latents=c, num_categories=l, input_shape=data.test.shape[1:], seed=config.seed
    )
    reference = dataset == "mnist" and (setting in PAPER_POINTS or grid)
    steps = config.reference_steps if reference else config.train_steps
    record = train_codec(codec, data, steps, recipe, config.seed)
    x = data.pixels(data.test)
    x_hat = binarized(batched(lambda b: codec.decode(codec.encode(b)), x), data.binary)
    method = "discrete_grid" if grid else "discrete_ae"
    return [distortion_row(dataset, method, setting, codec.bits_per_item, x, x_hat)], record


def grid_rows(
    dataset: str, data: Images, shape: tuple[int, int], config: Config
) -> tuple[list[dict], dict]:
    """`discrete_rows` of the grid codec."""
    return discrete_rows(dataset, data, shape, config, grid=True)


def continuous_rows(
    dataset: str, data: Images, size: int, config: Config
) -> tuple[list[dict], dict]:
    """Trains a `ContinuousAutoencoder` of h = size; rows at 32, 16 and 8 bits a latent.

    The 8-bit code maps each latent's range over the training subset onto 256 levels
    (the 2 h floats of the ranges, shared by every item, are not counted).
    """
    recipe = RECIPES[dataset]
    keras.utils.set_random_seed(config.seed)
    codec = ContinuousAutoencoder(
        input_shape=data.test.shape[1:],
        latent_size=size,
        architecture=recipe.codec,
        kernel_size=recipe.codec_kernel_size,
        width=recipe.codec_units,
    )
    record = train_codec(codec, data, config.train_steps, recipe, config.seed)
    x = data.pixels(data.test)
    z = batched(codec.encode, x)
    z_train = batched(codec.encode, data.pixels(data.train[:5000]))
    low, high = z_train.min(axis=0), z_train.max(axis=0)
    step = np.maximum(high - low, 1e-12) / 255
    coded = {
        32: z,
        16: z.astype(np.float16).astype(np.float32),
        8: (np.round((np.clip(z, low, high) - low) / step) * step + low).astype(np.float32),
    }
    rows = []
    for bits, latents in coded.items():
        x_hat = binarized(batched(codec.decode, latents), data.binary)
        rows.append(
            distortion_row(dataset, f"continuous_ae_{bits}bit", f"h={size}", bits * size, x, x_hat)
        )
    return rows, record


def image_codec_rows(
    dataset: str, method: str, data: Images, quality: int
) -> tuple[list[dict], list[int]]:
    """Rows (whole file, shared header) of JPEG or WebP at quality; the distinct headers' sizes."""
    coder = static_codecs.IMAGE_CODECS[method]
    files, decoded = static_codecs.code_items(data.test, data.binary, lambda p: coder(p, quality))
    header = static_codecs.SHARED_HEADERS[method]
    shared, distinct = static_codecs.shared_header_bits(files, [header(f) for f in files])
    whole = 8.0 * np.mean([len(f) for f in files])
    x, x_hat = data.pixels(data.test), data.pixels(decoded)
    rows = [
        distortion_row(dataset, method, f"q{quality}", whole, x, x_hat),
        distortion_row(dataset, f"{method}_shared_header", f"q{quality}", shared, x, x_hat),
    ]
    return rows, distinct


def lossless_rows(dataset: str, data: Images) -> list[dict]:
    """The raw uint8 row and each lossless coding's, measured on its own decodings (L1 0)."""
    x = data.pixels(data.test)
    values = math.prod(data.test.shape[1:])
    rows = [distortion_row(dataset, "raw_uint8", "8 bits a value", 8 * values, x, x)]
    for method, (files, decoded) in static_codecs.lossless(data.test, data.binary).items():
        bits = 8.0 * np.mean([len(f) for f in files])
        rows.append(distortion_row(dataset, method, "lossless", bits, x, data.pixels(decoded)))
    return rows


def dataset_rows(dataset: str, config: Config) -> tuple[list[dict], dict]:
    """Every method's rows on one data set, and what the summary keeps of the run.

    Raises:
        recollect.datasets.DataNotFoundError: missing data.
    """
    data, chosen = load_images(dataset, config), set(config.methods)
    rows = lossless_rows(dataset, data) if "lossless" in chosen else []
    headers, training = {}, {}
    for method in sorted(chosen & set(static_codecs.IMAGE_CODECS)):
        qualities = tqdm(config.qualities, f"{dataset} {method}", disable=not config.progress)
        for quality in qualities:
            new, headers[f"{method} q{quality}"] = image_codec_rows(dataset, method, data, quality)
            rows += new
    sizes = [
        ("discrete", discrete_rows, DISCRETE_SHAPES),
        ("grid", grid_rows, GRID_SHAPES),
        ("continuous", continuous_rows, CONTINUOUS_SIZES),
    ]
    jobs: list[tuple[Callable, object]] = [
        (job, size) for name, job, table in sizes if name in chosen for size in table[dataset]
    ]
    for job, argument in tqdm(jobs, f"{dataset} codecs", disable=not config.progress):
        new, record = job(dataset, data, argument, config)
        rows += new
        training[f"{new[0]['method']} {new[0]['setting']}"] = record
    sizes = {"train_items": len(data.train), "test_items": len(data.test)}
    return rows, {**sizes, "distinct_header_bytes": headers, "codec_training": training}


def run(config: Config, output_dir: str) -> list[dict]:
    """Measures every data set; writes the CSV, the figure and summary.json to output_dir.

    The files are rewritten after each data set, so a stopped run keeps the finished ones.

    Returns:
        The CSV's rows, dicts keyed by `COLUMNS`.

    Raises:
        recollect.datasets.DataNotFoundError: missing data (before that data set's rows).
    """
    rows, summary = [], {"config": dataclasses.asdict(config), "datasets": {}}
    for dataset in config.datasets:
        new, summary["datasets"][dataset] = dataset_rows(dataset, config)
        rows += new
        write(rows, summary, output_dir)
    return rows


def write(rows: Sequence[dict], summary: dict, output_dir: str) -> None:
    """Writes rate_distortion.csv, summary.json and rate_distortion.png to output_dir."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "rate_distortion.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(output_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    plot(rows, os.path.join(output_dir, "rate_distortion.png"))


_FLAGS = flags.FlagValues()  # its own namespace: other programs use these names
_IN = {"flag_values": _FLAGS}
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data root (else $RECOLLECT_DATA_DIR).", **_IN)
_DATASETS = flags.DEFINE_list("datasets", list(DATASETS), f"Among {DATASETS}.", **_IN)
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 800, "Adam steps (of 32 items) a codec.", **_IN)
_REFERENCE_STEPS = flags.DEFINE_integer("reference_steps", 2000, "For MNIST 38x2, 168x2.", **_IN)
_TEST_ITEMS = flags.DEFINE_integer("test_items", 1000, "Test items per data set.", **_IN)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/rate_distortion", "CSV, PNG, JSON.", **_IN)
_SEED = flags.DEFINE_integer("seed", 0, "Seeds the data, the weights and the noise.", **_IN)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show progress bars.", **_IN)
_METHODS = flags.DEFINE_list("methods", list(METHODS), f"Among {METHODS}.", **_IN)


def main(argv: Sequence[str]) -> None:
    """Runs the benchmark and prints where its files are."""
    if len(argv) > 1:
        raise app.UsageError(f"Expected only flags. Received: {list(argv[1:])}")
    config = Config(
        data_dir=_DATA_DIR.value,
        datasets=tuple(_DATASETS.value),
        train_steps=_TRAIN_STEPS.value,
        reference_steps=_REFERENCE_STEPS.value,
        test_items=_TEST_ITEMS.value,
        seed=_SEED.value,
        progress=_PROGRESS.value,
        methods=tuple(_METHODS.value),
    )
    rows = run(config, _OUTPUT_DIR.value)
    print(f"{len(rows)} rows in {os.path.join(_OUTPUT_DIR.value, 'rate_distortion.csv')}")


if __name__ == "__main__":
    from runners import program

    program.run(main, flag_values=_FLAGS)
