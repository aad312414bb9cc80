"""Table 4: code sampling against buffer sampling of a discrete autoencoder on MNIST.

For each code shape (c latents of l categories; the paper's 38 and 168 2-way
latents by default) the script trains a `DiscreteAutoencoder` (the conv codec, as
the recollection store builds it) offline on MNIST's training images with its own
`fit`, then measures:

- reconstruction distortion: mean L1 on [0, 1] pixels of decode(encode(x)) over
  the test images;
- buffer sampling: every training image is observed into a `RecollectionMemory`
  (its packed k-bit code), `--samples` items are recalled uniformly (with
  replacement) and decoded;
- code sampling: `--samples` codes whose every latent is a numpy random integer in
  [0, l), decoded (the paper's baseline);
- for both sets of recollections, the exact mean L1 distance of each to its nearest
  training image (`benchmarks.nearest_neighbour`), averaged over the set.

It prints a markdown table with the paper's values beside the measured ones and
writes a JSON with the settings, the seconds of every part and the machine.

Usage (from the repository root):
    python -m benchmarks.code_sampling --data_dir=/path/to/data [--shapes=38x2,168x2] \
        [--epochs=3] [--train_examples=20000] [--samples=10000] [--seed=0] \
        [--output=code_sampling.json] [--table=code_sampling.md]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchmarks import nearest_neighbour, sampling, speed
from recollect import arguments, datasets

STRATEGIES = ("code", "buffer")
# Table 4 of the paper: (c, l) -> reconstruction and nearest-neighbour distortions.
PAPER = {
    (38, 2): {"reconstruction": 0.058, "code": 0.074, "buffer": 0.054},
    (168, 2): {"reconstruction": 0.021, "code": 0.081, "buffer": 0.021},
}


@dataclasses.dataclass(frozen=True)
class CodeSamplingConfig:
    """What the benchmark trains and samples.

    Attributes:
        shapes: (c, l) code shapes, one table row pair each.
        samples: recollections drawn per sampling strategy.
        epochs: passes of the codec's training over the training images.
        batch_size: images per training step.
        learning_rate: Adam's step size for the codec.
        codec_units: conv filters per layer; None for the paper's c * l / 4.
        kernel_size: the conv layers' kernel size (the paper: 5).
        codec_noise: scale of the Gumbel noise in training (1.0: Gumbel-softmax).
        seed: seeds the weights, the Gumbel noise, the buffer and the random codes.
        query_chunk: recollections per nearest-neighbour call.
        reference_chunk: training images compared at once in a call.
        jit_compile: compile the nearest-neighbour search with XLA.
    """

    shapes: tuple[tuple[int, int], ...] = ((38, 2), (168, 2))
    samples: int = 10_000
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    codec_units: int | None = None
    kernel_size: int = 5
    codec_noise: float = 1.0
    seed: int = 0
    query_chunk: int = nearest_neighbour.QUERY_CHUNK
    reference_chunk: int = nearest_neighbour.REFERENCE_CHUNK
    jit_compile: bool = True

    def __post_init__(self) -> None:
        """Checks every value before anything is trained; ValueError naming the flag."""
        if not self.shapes:
            raise ValueError("Expected at least one code shape. Received: shapes=()")
        for c, l in self.shapes:
            arguments.check_int("num_latents", c, minimum=1)
            if not arguments.is_int(l) or not 2 <= l <= 256:
                raise ValueError(f"Expected l in [2, 256] in a shape cxl. Received: {c}x{l}")
        for name in ("samples", "epochs", "batch_size", "query_chunk", "reference_chunk"):
            arguments.check_int(name, getattr(self, name), minimum=1)
        arguments.check_int("kernel_size", self.kernel_size, minimum=1)
        arguments.check_int("codec_units", self.codec_units, minimum=1, optional=True)
        arguments.check_seed("seed", self.seed)
        if not self.learning_rate > 0 or not self.codec_noise >= 0:
            raise ValueError(
                "Expected learning_rate > 0 and codec_noise >= 0. Received: "
                f"learning_rate={self.learning_rate}, codec_noise={self.codec_noise}"
            )


def parse_shapes(text: str) -> tuple[tuple[int, int], ...]:
    """Parses "38x2,168x2" into ((38, 2), (168, 2)).

    Raises:
        ValueError: on an entry that is not two integers joined by "x".
    """
    shapes = []
    for entry in (e.strip() for e in text.split(",")):
        parts = entry.lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"Expected shapes like 38x2,168x2. Received: shapes={text!r}")
        shapes.append((int(parts[0]), int(parts[1])))
    return tuple(shapes)


def load_mnist(
    data_dir: str | None, *, train_examples: int | None, test_examples: int | None, seed: int
) -> dict[str, Any]:
    """MNIST as float32 [N, 28, 28, 1] in [0, 1], the training images a seeded subset.

    Args:
        data_dir: the data root (None: $RECOLLECT_DATA_DIR).
        train_examples: training images kept (drawn without replacement); None: all.
        test_examples: the first test images kept; None: all.
        seed: seeds the draw of the training subset.

    Returns:
        {"x_train", "y_train" int32 [N], "x_test", "location"}.

    Raises:
        ValueError: if a count is not an int >= 1 or exceeds the split.
    """
    arrays = datasets.load_arrays("mnist", data_dir=data_dir)
    x_train, y_train = arrays.arrays["x_train"], arrays.arrays["y_train"]
    x_test = arrays.arrays["x_test"]
    for name, count, total in (
        ("train_examples", train_examples, len(x_train)),
        ("test_examples", test_examples, len(x_test)),
    ):
        arguments.check_int(name, count, minimum=1, optional=True)
        if count is not None and count > total:
            raise ValueError(f"Expected {name} <= {total}. Received: {name}={count}")
    if train_examples is not None:
        keep = np.sort(
            np.random.default_rng(seed).choice(len(x_train), train_examples, replace=False)
        )
        x_train, y_train = x_train[keep], y_train[keep]
    return {
        "x_train": x_train.astype(np.float32) / 255.0,
        "y_train": y_train.astype(np.int32),
        "x_test": x_test[:test_examples].astype(np.float32) / 255.0,
        "location": arrays.metadata.get("location"),
    }


@contextlib.contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Adds the seconds the block takes to `seconds[name]`."""
    start = time.perf_counter()
    yield
    seconds[name] = time.perf_counter() - start


def run_shape(
    data: dict[str, Any], shape: tuple[int, int], config: CodeSamplingConfig, *, progress: bool
) -> dict[str, Any]:
    """One shape's two table rows: its distortions and the seconds of every part."""
    seconds: dict[str, float] = {}
    with _timed(seconds, "train"):
        codec = sampling.train_codec(
            data["x_train"],
            num_latents=shape[0],
            num_categories=shape[1],
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            filters=config.codec_units,
            kernel_size=config.kernel_size,
            noise_scale=config.codec_noise,
            seed=config.seed,
            progress=progress,
        )
    with _timed(seconds, "reconstruction"):
        reconstruction = sampling.reconstruction_distortion(codec, data["x_test"])
    recollections = {}
    with _timed(seconds, "buffer_sampling"):
        recollections["buffer"], memory = sampling.buffer_recollections(
            codec, data["x_train"], data["y_train"], samples=config.samples, seed=config.seed
        )
    with _timed(seconds, "code_sampling"):
        codes = sampling.draw_codes(*shape, samples=config.samples, seed=config.seed)
        recollections["code"] = sampling.decode_codes(codec, codes)
    nearest = {}
    for strategy in STRATEGIES:
        with _timed(seconds, f"nearest_{strategy}"):
            distances = nearest_neighbour.nearest_l1(
                recollections[strategy],
                data["x_train"],
                query_chunk=config.query_chunk,
                reference_chunk=config.reference_chunk,
                jit_compile=config.jit_compile,
                progress=progress,
            )
        nearest[strategy] = float(np.mean(distances))
    return {
        "shape": f"{shape[0]}x{shape[1]}",
        "num_latents": shape[0],
        "num_categories": shape[1],
        "bits_per_item": codec.bits_per_item,
        "code_bytes_per_item": memory.code_bytes_per_item,
        "filters": codec.filters,
        "kernel_size": codec.kernel_size,
        "reconstruction_distortion": reconstruction,
        "nearest_neighbour_distortion": nearest,
        "buffer_below_code": 1.0 - nearest["buffer"] / nearest["code"],
        "seconds": seconds,
        "paper": PAPER.get(shape),
    }


def benchmark(
    data: dict[str, Any], config: CodeSamplingConfig, *, progress: bool = False
) -> dict[str, Any]:
    """Runs every shape in `config` on the data; the report (the JSON's content).

    Args:
        data: {"x_train" float32 [N, 28, 28, 1], "y_train" int32 [N], "x_test"
            float32 [M, 28, 28, 1], optional "location"}, as `load_mnist` returns.
        config: the shapes and settings.
        progress: show tqdm bars for training and the nearest-neighbour search.

    Returns:
        {"settings", "data", "machine", "rows": [one per shape], "seconds"}.

    Raises:
        ValueError: if the training or the test set is empty.
    """
    if len(data["x_train"]) < 1 or len(data["x_test"]) < 1:
        raise ValueError(
            "Expected at least one training and one test image. Received: "
            f"{len(data['x_train'])} and {len(data['x_test'])}"
        )
    start = time.perf_counter()
    rows = [run_shape(data, shape, config, progress=progress) for shape in config.shapes]
    return {
        "settings": dataclasses.asdict(config),
        "data": {
            "train_examples": len(data["x_train"]),
            "test_examples": len(data["x_test"]),
            "nearest_neighbour_reference": "the training images the codec was fit on",
            "location": data.get("location"),
        },
        "machine": speed.machine(),
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The report as Table 4: our distortions beside the paper's, then the settings."""
    lines = [
        "| latent representation | sampling strategy | reconstruction distortion "
        "| nearest-neighbour distortion | paper: reconstruction | paper: nearest neighbour |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        paper = row["paper"] or {}
        for i, strategy in enumerate(STRATEGIES):
            name = f"{row['num_latents']} {row['num_categories']}-way latents" if i == 0 else ""
            lines.append(
                f"| {name} | {strategy} sampling | {row['reconstruction_distortion']:.3f} "
                f"| {row['nearest_neighbour_distortion'][strategy]:.3f} "
                f"| {_value(paper.get('reconstruction'))} | {_value(paper.get(strategy))} |"
            )
    lines.append("")
    for row in report["rows"]:
        s = row["seconds"]
        lines.append(
            f"- {row['shape']} ({row['bits_per_item']} bits, {row['filters']} filters): buffer "
            f"sampling's nearest-neighbour distortion is {100 * row['buffer_below_code']:.0f}% "
            f"below code sampling's; seconds: train {s['train']:.0f}, nearest neighbours "
            f"{s['nearest_code'] + s['nearest_buffer']:.0f} (code {s['nearest_code']:.0f}, "
            f"buffer {s['nearest_buffer']:.0f})"
        )
    settings, data, m = report["settings"], report["data"], report["machine"]
    lines.append(
        f"- {data['train_examples']:,} training images (the nearest-neighbour reference), "
        f"{data['test_examples']:,} test images, {settings['epochs']} epochs, "
        f"{settings['samples']:,} samples per strategy, seed {settings['seed']}; "
        f"{report['seconds']:.0f} s in all ({m['machine']}, {m['cpu_count']} CPUs, "
        f"TF {m['tensorflow']})"
    )
    return "\n".join(lines) + "\n"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> None:
    """Parses the options, loads MNIST, runs every shape, prints and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = CodeSamplingConfig()
    parser.add_argument("--data_dir", default=None, help="data root (or $RECOLLECT_DATA_DIR)")
    parser.add_argument("--shapes", default="38x2,168x2", help="code shapes cxl, comma-separated")
    parser.add_argument("--samples", type=int, default=defaults.samples)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--train_examples", type=int, default=None, help="default: all 60,000")
    parser.add_argument("--test_examples", type=int, default=None, help="default: all 10,000")
    parser.add_argument("--batch_size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning_rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--codec_units", type=int, default=None, help="filters; default c*l/4")
    parser.add_argument("--kernel_size", type=int, default=defaults.kernel_size)
    parser.add_argument("--codec_noise", type=float, default=defaults.codec_noise)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--query_chunk", type=int, default=defaults.query_chunk)
    parser.add_argument("--reference_chunk", type=int, default=defaults.reference_chunk)
    parser.add_argument("--jit_compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--output", default="code_sampling.json", help="the JSON report's path")
    parser.add_argument("--table", default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    try:
        config = CodeSamplingConfig(
            shapes=parse_shapes(args.shapes),
            **{
                f.name: getattr(args, f.name)
                for f in dataclasses.fields(CodeSamplingConfig)
                if f.name != "shapes"
            },
        )
        data = load_mnist(
            args.data_dir,
            train_examples=args.train_examples,
            test_examples=args.test_examples,
            seed=args.seed,
        )
    except ValueError as error:
        parser.error(str(error))
    for path in (args.output, args.table):  # made before the long run, not after it
        if path and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
    report = {"flags": vars(args), **benchmark(data, config, progress=args.progress)}
    table = markdown_table(report)
    print(table, end="", flush=True)
    with open(args.output, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
    if args.table:
        with open(args.table, "w", encoding="utf-8") as file:
            file.write(table)


if __name__ == "__main__":
    main()
