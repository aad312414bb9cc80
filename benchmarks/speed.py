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
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from agents import continual
from benchmarks.flops import config_flops
from runners import continual as runner

ROWS = (
    "online",
    "replay_real_100",
    "replay_recollections_100",
    "gem_real_100",
    "gem_recollections_100",
)
FLAGFILE_DIR = "runners/configs/table1"
# Rows whose training seconds are compared: (learner, recollections row, real row).
RATIOS = (
    ("replay", "replay_recollections_100", "replay_real_100"),
    ("gem", "gem_recollections_100", "gem_real_100"),
)


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
