"""Where a Table 1 run's time goes: wall, training and other seconds, FLOPs, memory.

In one process, the script runs rows of runners/configs/table1/ (online, replay and
GEM, over real storage and recollections at an incremental storage of 100) on
MNIST-Rotations, seed 0, each through `agents.continual.run`, and reports per row:
wall seconds of the whole run, training seconds (`train_step` only), the rest
(evaluation, set-up), steps, retention and the process's peak RSS so far. For the
recollection rows it adds the ratio of their training seconds to the same learner's
over real storage.

It also counts FLOPs per training step (2 x multiply-adds of the Conv2D,
Conv2DTranspose and Dense layers; a training pass is 3 forward passes; biases and
activations not counted) of the codec and of the predictive model, from how each
learner uses them in a step (`STEP_USES`), and sets the rate a row reaches in
training against a large float32 matmul measured in the same process.

Usage (from the repository root):
    python -m benchmarks.speed --data_dir /path/to/data [--num_tasks 3] \
        [--rows replay_real_100,replay_recollections_100] [--extra=--some_flag] \
        [--output speed.json] [--table speed.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

import recollect
from agents import continual, models
from agents.stores import STORES
from recollect import TaskRingPolicy
from runners import continual as runner

ROWS = (
    "online",
    "replay_real_100",
    "replay_recollections_100",
    "gem_real_100",
    "gem_recollections_100",
)
FLAGFILE_DIR = "runners/configs/table1"
# MNIST-Rotations: one 28x28 grey image in, ten classes out.
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# Rows whose training seconds are compared: (learner, recollections row, real row).
RATIOS = (
    ("replay", "replay_recollections_100", "replay_real_100"),
    ("gem", "gem_recollections_100", "gem_real_100"),
)
# The codec's width argument for each architecture, as the recollection store passes it.
CODEC_UNITS_ARGUMENT = {"conv": "filters", "mlp": "hidden_units"}
TRAINING_PASSES = 3  # forward + gradient w.r.t. activations + gradient w.r.t. weights


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one example's forward pass through a model's weighted layers.

    Counts 2 x multiply-adds of every Conv2D, Conv2DTranspose and Dense layer,
    nested models included; biases, activations and weightless layers count 0.
    A transposed conv costs what the conv whose gradient it is costs: every input
    pixel meets every kernel tap once.

    Args:
        model: a built Keras model (functional or Sequential).

    Returns:
        int, FLOPs per example.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kernel = layer.kernel.shape  # [k, k, out, in]
            positions = _positions(layer.input.shape)
            total += 2 * positions * kernel[0] * kernel[1] * kernel[2] * kernel[3]
        elif isinstance(layer, keras.layers.Conv2D):
            kernel = layer.kernel.shape  # [k, k, in / groups, out]
            positions = _positions(layer.output.shape)
            total += 2 * positions * kernel[0] * kernel[1] * kernel[2] * kernel[3]
        elif isinstance(layer, keras.layers.Dense):
            kernel = layer.kernel.shape  # [in, out]
            total += 2 * _positions(layer.input.shape) * kernel[0] * kernel[1]
    return total


def _positions(shape: Sequence[int | None]) -> int:
    """Spatial positions of a [B, ..., C] shape (1 for [B, C])."""
    count = 1
    for size in shape[1:-1]:
        count *= int(size)
    return count


@dataclasses.dataclass(frozen=True)
class StepUse:
    """Images through each part in one training step (a mean over the run's tasks).

    Attributes:
        encoded: images through the codec's encoder (stored codes).
        decoded: images through the codec's decoder (recollections).
        codec_trained: images in the codec's training steps, summed over steps.
        model_trained: images in the model's gradient passes (incl. GEM's memories).
    """

    encoded: float = 0.0
    decoded: float = 0.0
    codec_trained: float = 0.0
    model_trained: float = 0.0


@dataclasses.dataclass(frozen=True)
class StepShape:
    """What a learner's step depends on.

    Attributes:
        batch_size: B, incoming examples per step.
        replay_batch_size: recalled items per batch.
        stabilize_steps: N, codec steps per incoming batch (0: one step on the
            incoming batch alone).
        num_tasks: tasks in the stream.
        memories_per_task: GEM's memories per earlier task in a step.
        codec: whether the store has a codec (recollections) or not (real storage).
    """

    batch_size: int
    replay_batch_size: int
    stabilize_steps: int
    num_tasks: int
    memories_per_task: int
    codec: bool = True


def _online_use(shape: StepShape) -> StepUse:
    return StepUse(model_trained=shape.batch_size)


def _replay_use(shape: StepShape) -> StepUse:
    """Recall max(1, N) batches, N codec steps on B + R, one model step on B + R."""
    b, r, n = shape.batch_size, shape.replay_batch_size, shape.stabilize_steps
    if not shape.codec:  # real storage
        return StepUse(model_trained=b + r)
    trained = n * (b + r) if n else b  # N = 0: one step on the incoming batch alone
    return StepUse(encoded=b, decoded=max(1, n) * r, codec_trained=trained, model_trained=b + r)


def _gem_use(shape: StepShape) -> StepUse:
    """As replay's codec work, plus every earlier task's memories, decoded and in G."""
    b, r, n = shape.batch_size, shape.replay_batch_size, shape.stabilize_steps
    memories = shape.memories_per_task * (shape.num_tasks - 1) / 2
    if not shape.codec:
        return StepUse(model_trained=b + memories)
    return StepUse(
        encoded=b,
        decoded=n * r + memories,
        codec_trained=n * (b + r) if n else b,
        model_trained=b + memories,
    )


STEP_USES: dict[str, Callable[[StepShape], StepUse]] = {
    "online": _online_use,
    "replay": _replay_use,
    "gem": _gem_use,
}


def step_flops(use: StepUse, *, encoder: int, decoder: int, model: int) -> dict[str, float]:
    """FLOPs of one training step from its use of the parts.

    Args:
        use: images through each part in the step.
        encoder: the encoder's forward FLOPs per image.
        decoder: the decoder's forward FLOPs per image.
        model: the predictive model's forward FLOPs per image.

    Returns:
        {"codec": FLOPs, "model": FLOPs} per step.
    """
    codec = use.encoded * encoder + use.decoded * decoder
    codec += TRAINING_PASSES * use.codec_trained * (encoder + decoder)
    return {"codec": float(codec), "model": float(TRAINING_PASSES * use.model_trained * model)}


def build_codec(config: continual.ContinualConfig) -> recollect.DiscreteAutoencoder:
    """The recollection store's codec for a config, built as the store builds it."""
    store_config = config.store_config
    plan = STORES["recollections"].plan(
        store_config, incremental_storage=config.incremental_storage, input_shape=INPUT_SHAPE
    )
    units = {CODEC_UNITS_ARGUMENT[store_config.codec]: store_config.codec_units}
    return recollect.DiscreteAutoencoder(
        input_shape=INPUT_SHAPE,
        num_latents=plan.num_latents,
        num_categories=plan.num_categories,
        architecture=store_config.codec,
        noise_scale=store_config.codec_noise,
        seed=0,
        kernel_size=store_config.codec_kernel_size,
        **units,
    )


def config_flops(config: continual.ContinualConfig, num_tasks: int) -> dict[str, float]:
    """Codec and model FLOPs per training step of a config's run (codec 0 without one)."""
    recollections = config.uses_store and config.storage == "recollections"
    learner_config = config.learner_config
    memories = 0
    if config.uses_store:
        capacity = (
            STORES[config.storage]
            .plan(
                config.store_config,
                incremental_storage=config.incremental_storage,
                input_shape=INPUT_SHAPE,
            )
            .capacity
        )
        share = TaskRingPolicy(num_tasks=num_tasks).share(capacity)
        per_task = getattr(learner_config, "gem_memories_per_task", None)
        memories = share if per_task is None else min(per_task, share)
    shape = StepShape(
        batch_size=config.batch_size,
        replay_batch_size=getattr(learner_config, "replay_batch_size", 0),
        stabilize_steps=config.store_config.stabilize_steps if recollections else 0,
        num_tasks=num_tasks,
        memories_per_task=memories,
        codec=recollections,
    )
    encoder = decoder = 0
    if recollections:
        codec = build_codec(config)
        encoder, decoder = forward_flops(codec.encoder), forward_flops(codec.decoder)
    model = models.build_model(config.model, INPUT_SHAPE, NUM_CLASSES, **config.model_options)
    use = STEP_USES[config.learner](shape)
    return step_flops(use, encoder=encoder, decoder=decoder, model=forward_flops(model))


def matmul_flops_per_second(*, size: int = 2048, repeats: int = 5) -> float:
    """The best rate of a float32 [size, size] @ [size, size] matmul, after a warm-up."""
    a = tf.random.stateless_normal([size, size], seed=[0, 1])
    b = tf.random.stateless_normal([size, size], seed=[0, 2])

    @tf.function
    def product(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.matmul(a, b))

    product(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def machine() -> dict[str, Any]:
    """The platform, CPU count, TensorFlow version and TensorFlow's devices."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "devices": [
            {"name": d.name, "device_type": d.device_type}
            for d in tf.config.list_physical_devices()
        ],
    }


def run_row(
    row: str, *, num_tasks: int, extra: Sequence[str], data_dir: str | None, matmul_rate: float
) -> dict[str, Any]:
    """Runs one row's flagfile (seed 0, the first num_tasks tasks); its numbers."""
    path = f"{FLAGFILE_DIR}/{row}.flags"
    data = [f"--data_dir={data_dir}"] if data_dir else []
    config = runner.config_from_flagfile(path, *extra, *data)
    options = {**config.stream_options, "num_tasks": num_tasks}
    config = dataclasses.replace(config, seeds=(0,), stream_options=options)
    flops = config_flops(config, num_tasks)
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        results = continual.run(config, workdir, progress=False)
        wall = time.perf_counter() - start
    seed = results["per_seed"][0]
    train, steps = seed["train_seconds"], seed["steps"]
    rate = (flops["codec"] + flops["model"]) * steps / train if train > 0 else 0.0
    return {
        "row": row,
        "flagfile": path,
        "wall_seconds": wall,
        "train_seconds": train,
        "other_seconds": wall - train,
        "steps": steps,
        "retention_mean": results["retention_mean"],
        "peak_rss_mib": peak_rss_mib(),
        "codec_flops_per_step": flops["codec"],
        "model_flops_per_step": flops["model"],
        "train_flops_per_second": rate,
        "fraction_of_matmul": rate / matmul_rate,
    }


def benchmark(
    *,
    rows: Sequence[str] = ROWS,
    num_tasks: int = 20,
    extra: Sequence[str] = (),
    data_dir: str | None = None,
    matmul_size: int = 2048,
) -> dict[str, Any]:
    """Runs the rows in this process and returns the report (the JSON's content).

    Args:
        rows: names of flagfiles in runners/configs/table1/, without `.flags`.
        num_tasks: tasks of MNIST-Rotations per run.
        extra: flags added to every row's flagfile.
        data_dir: data root (None: $RECOLLECT_DATA_DIR).
        matmul_size: side of the reference matmul.

    Returns:
        {"machine", "num_tasks", "extra", "matmul", "rows": [per row], "ratios"}.

    Raises:
        ValueError: on an unknown row or num_tasks < 1, before any run.
    """
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        raise ValueError(f"Expected rows among {ROWS}. Received: rows={list(rows)}")
    if num_tasks < 1:
        raise ValueError(f"Expected num_tasks >= 1. Received: num_tasks={num_tasks}")
    matmul_rate = matmul_flops_per_second(size=matmul_size)
    numbers = [
        run_row(r, num_tasks=num_tasks, extra=extra, data_dir=data_dir, matmul_rate=matmul_rate)
        for r in rows
    ]
    by_row = {n["row"]: n for n in numbers}
    ratios = {
        f"{learner}_recollections_over_real_train_seconds": (
            by_row[rec]["train_seconds"] / by_row[real]["train_seconds"]
        )
        for learner, rec, real in RATIOS
        if rec in by_row and real in by_row
    }
    return {
        "machine": machine(),
        "num_tasks": num_tasks,
        "extra": list(extra),
        "matmul": {"size": matmul_size, "flops_per_second": matmul_rate},
        "rows": numbers,
        "ratios": ratios,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a markdown table, with the ratios and the matmul rate below it."""
    lines = [
        "| row | wall s | train s | other s | steps | retention | peak RSS MiB "
        "| codec MFLOP/step | model MFLOP/step | train GFLOP/s | of matmul |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in report["rows"]:
        lines.append(
            f"| {n['row']} | {n['wall_seconds']:.1f} | {n['train_seconds']:.1f} "
            f"| {n['other_seconds']:.1f} | {n['steps']} | {100 * n['retention_mean']:.1f} "
            f"| {n['peak_rss_mib']:.0f} | {n['codec_flops_per_step'] / 1e6:.1f} "
            f"| {n['model_flops_per_step'] / 1e6:.2f} | {n['train_flops_per_second'] / 1e9:.2f} "
            f"| {100 * n['fraction_of_matmul']:.1f}% |"
        )
    lines.append("")
    for name, ratio in report["ratios"].items():
        lines.append(f"- {name}: {ratio:.2f}")
    matmul = report["matmul"]
    m = report["machine"]
    lines.append(
        f"- float32 [{matmul['size']}]^2 matmul: {matmul['flops_per_second'] / 1e9:.1f} GFLOP/s "
        f"({m['machine']}, {m['cpu_count']} CPUs, TF {m['tensorflow']}, "
        f"{report['num_tasks']} tasks, extra flags: {' '.join(report['extra']) or 'none'})"
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Parses the options, runs the rows, writes the JSON and the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None, help="data root (or $RECOLLECT_DATA_DIR)")
    parser.add_argument("--num_tasks", type=int, default=20, help="tasks per run")
    parser.add_argument(
        "--rows", default=",".join(ROWS), help=f"comma list among {', '.join(ROWS)}"
    )
    parser.add_argument("--output", default="speed.json", help="the JSON report's path")
    parser.add_argument("--table", default=None, help="markdown table path (default: stdout)")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        help="a flag added to every row, e.g. --extra=--jit_compile (repeat for more)",
    )
    args = parser.parse_args(argv)
    report = benchmark(
        rows=[r for r in args.rows.split(",") if r],
        num_tasks=args.num_tasks,
        extra=args.extra,
        data_dir=args.data_dir,
    )
    with open(args.output, "w") as file:
        json.dump(report, file, indent=2)
    table = markdown_table(report)
    if args.table:
        with open(args.table, "w") as file:
            file.write(table)
    else:
        print(table, end="")


if __name__ == "__main__":
    main()
