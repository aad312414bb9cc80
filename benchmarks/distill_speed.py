"""Seconds per 10,000 distillation episodes, per student and sampler, on this machine.

One compiled student step (`agents.distill.student.train_step`, batches of 1, as
`runners/configs/distill_mnist.flags`) drawing from a `RecollectionMemory` of the
10x code shape (127 x 2 codes, the conv codec) filled with random images: the
codec's weights do not change what a step costs. A LeNet teacher labels the
examples. Each step is timed after one warm-up call.

Usage (from the repository root):
    python -m benchmarks.distill_speed [--steps=200] [--students=cnn,mlp]
        [--samplers=uniform,active,active_diverse]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ITEMS = 2000


def main(argv: Sequence[str] | None = None) -> list[tuple[str, str, float]]:
    """Prints a markdown table: student, sampler, ms a step, s per 10,000 episodes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--students", default="cnn,mlp")
    parser.add_argument("--samplers", default="uniform,active,active_diverse")
    args = parser.parse_args(argv)

    import dataclasses

    from agents import distill
    from agents.distill import networks, recollections, sources
    from agents.distill import student as student_lib

    config = distill.DistillConfig(compressions=(10.0,))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (ITEMS, 28, 28, 1), dtype=np.uint8)
    y = (np.arange(ITEMS) % 10).astype(np.int32)
    shape = recollections.code_shapes(config, items=60000, input_shape=(28, 28, 1))["10x"]
    shape = dataclasses.replace(shape, items=ITEMS)
    memory = recollections.build_memory(config, shape, input_shape=(28, 28, 1), seed=0)
    for start in range(0, ITEMS, 1000):
        memory.observe(x[start : start + 1000], y[start : start + 1000], task=0)
    parts = sources.SourceParts(sources.TrainingImages(x, y), {"10x": memory}, seed=0)
    teacher = networks.lenet((28, 28, 1), 10)
    rows = []
    print("| student | sampler | ms a step | s per 10,000 episodes |\n|---|---|---:|---:|")
    for student in args.students.split(","):
        for name in args.samplers.split(","):
            method = distill.Method("timed", "recollections", "teacher", 10.0, True, student, name)
            state = student_lib.StudentState(
                networks.get(student)((28, 28, 1), 10), learning_rate=1e-3, seed=0
            )
            step = student_lib.train_step(
                state,
                teacher,
                method,
                sources.make_draw(method, parts),
                distill.build_sampler(name),
                batch_size=1,
            )
            step()
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            seconds = (time.perf_counter() - started) / args.steps
            rows.append((student, name, seconds))
            print(f"| {student} | {name} | {1e3 * seconds:.1f} | {1e4 * seconds:.0f} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
