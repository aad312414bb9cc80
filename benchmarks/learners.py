"""Training throughput of every learner on MNIST-Rotations, and a whole run's wall time.

Each learner trains on the first `--num_tasks` tasks of MNIST-Rotations with the
exact settings of its flagfile in runners/configs/table1/ (LwF: the base
mnist_rotations.flags), and the script reports incoming examples per second of
training (evaluation excluded). With `--full` it also times a whole 20-task run of
runners/configs/mnist_rotations.flags, evaluation included.

Usage (from the repository root):
    python -m benchmarks.learners --data_dir /path/to/data [--num_tasks 3] [--full]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from agents import continual
from runners import continual as runner

# (name, flagfile under runners/configs/, extra flags)
CASES = [
    ("online", "table1/online.flags", []),
    ("ewc", "table1/ewc.flags", []),
    ("lwf", "mnist_rotations.flags", ["--learner=lwf"]),
    ("replay, real storage 100", "table1/replay_real_100.flags", []),
    ("replay, recollections 100", "table1/replay_recollections_100.flags", []),
    ("gem, real storage 100", "table1/gem_real_100.flags", []),
    ("gem, recollections 100", "table1/gem_recollections_100.flags", []),
]


def config_from_flagfile(path: str, extra: list[str], data_dir: str | None):
    """The config the runner builds from a flagfile, for seed 0."""
    data = [f"--data_dir={data_dir}"] if data_dir else []
    config = runner.config_from_flagfile(f"runners/configs/{path}", *extra, *data)
    return dataclasses.replace(config, seeds=(0,))


def throughput(config: continual.ContinualConfig, num_tasks: int) -> float:
    """Examples/s of training on the first tasks (evaluation time excluded)."""
    options = {**config.stream_options, "num_tasks": num_tasks, "test_examples_per_task": 100}
    config = dataclasses.replace(config, stream_options=options)
    with tempfile.TemporaryDirectory() as workdir:
        results = continual.run(config, workdir, progress=False)
    seed = results["per_seed"][0]
    return seed["steps"] * config.batch_size / seed["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None, help="data root (or $RECOLLECT_DATA_DIR)")
    parser.add_argument("--num_tasks", type=int, default=3, help="tasks per throughput run")
    parser.add_argument("--full", action="store_true", help="also time a whole 20-task run")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}")
    print("\n| learner | flagfile | examples/s (training) |")
    print("|---|---|---|")
    for name, path, extra in CASES:
        rate = throughput(config_from_flagfile(path, extra, args.data_dir), args.num_tasks)
        print(f"| {name} | `{path}` {' '.join(extra)} | {rate:,.0f} |", flush=True)
    if args.full:
        base = config_from_flagfile("mnist_rotations.flags", [], args.data_dir)
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            results = continual.run(base, workdir, progress=False)
            wall = time.perf_counter() - start
        print(
            f"\nwhole 20-task run of mnist_rotations.flags (evaluation on the 10,000 test "
            f"images of every task after every task included): {wall:.0f} s, retention "
            f"{100 * results['retention_mean']:.1f}"
        )


if __name__ == "__main__":
    main()
