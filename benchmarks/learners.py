"""Training throughput of every learner on MNIST-Rotations, and a whole run's wall time.

For each learner (and storage) this trains on the first `--num_tasks` tasks of
MNIST-Rotations with the settings of runners/configs/mnist_rotations.flags and
reports incoming examples per second of training (evaluation excluded). With
`--full` it also times a whole 20-task replay-with-recollections run, evaluation
included.

Usage:
    python -m benchmarks.learners --data_dir /path/to/data [--num_tasks 4] [--full]
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
from agents.learners import LearnerConfig

CASES = [
    ("online", "real", 0),
    ("ewc", "real", 0),
    ("lwf", "real", 0),
    ("replay", "real", 100),
    ("replay", "recollections", 100),
    ("gem", "real", 100),
    ("gem", "recollections", 100),
]


def base_config(data_dir: str | None) -> continual.ContinualConfig:
    """The settings of runners/configs/mnist_rotations.flags."""
    return continual.ContinualConfig(
        stream="mnist_rotations",
        data_dir=data_dir,
        batch_size=10,
        learner="replay",
        storage="recollections",
        incremental_storage=100,
        items=3000,
        num_categories=4,
        codec="conv",
        codec_units=32,
        codec_noise=0.0,
        learner_config=LearnerConfig(learning_rate=0.1, replay_batch_size=10),
    )


def throughput(config: continual.ContinualConfig, num_tasks: int) -> dict:
    """Examples/s of training on the first tasks (evaluation time subtracted)."""
    config = dataclasses.replace(
        config,
        stream_options={"num_tasks": num_tasks, "test_examples_per_task": 100},
    )
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        results = continual.run(config, workdir, progress=False)
        wall = time.perf_counter() - start
    steps = results["steps_per_seed"]
    train_seconds = results["per_seed"][0]["train_seconds"]
    return {
        "learner": config.learner,
        "storage": results["storage"],
        "steps": steps,
        "examples_per_second": steps * config.batch_size / train_seconds,
        "seconds": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None, help="data root (or $RECOLLECT_DATA_DIR)")
    parser.add_argument("--num_tasks", type=int, default=4, help="tasks per throughput run")
    parser.add_argument("--full", action="store_true", help="also time a whole 20-task run")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}")
    base = base_config(args.data_dir)
    print("\n| learner | storage | examples/s (training) |")
    print("|---|---|---|")
    for learner, storage, budget in CASES:
        config = dataclasses.replace(
            base, learner=learner, storage=storage, incremental_storage=budget or 100
        )
        row = throughput(config, args.num_tasks)
        print(f"| {row['learner']} | {row['storage']} | {row['examples_per_second']:,.0f} |")
    if args.full:
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            results = continual.run(base, workdir, progress=False)
            wall = time.perf_counter() - start
        print(
            f"\nwhole 20-task replay/recollections run (evaluation on all 10,000 test images "
            f"per task after every task included): {wall:.0f} s, retention "
            f"{100 * results['retention_mean']:.1f}"
        )


if __name__ == "__main__":
    main()
