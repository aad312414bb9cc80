"""Storage per item and throughput of RecollectionMemory on this machine.

Prints (and with --output writes as JSON):
1. Stored bytes per item for the paper's code shapes, read off the buffer's own
   variables, next to ceil(k/8) + label/task bytes.
2. Items/s of `observe` and of `recall` (decoded, and packed codes only) at batch
   sizes 1, 10 and 100, for the MNIST-Rotations code (104 x 4, 3,000 items).
3. Write+sample throughput of the index buffer against a plain numpy ring of raw
   uint8 images of the same capacity, run in this same process, as a ratio.

Usage:
    python -m benchmarks.memory_throughput [--seconds 2] [--output results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from recollect import DiscreteAutoencoder, IndexBuffer, RecollectionMemory
from recollect.index_buffer import supervised_fields

PAPER_SHAPES = [
    # (c, l, input shape, where the paper uses it)
    (38, 2, (28, 28, 1), "MNIST distillation, 100x"),
    (104, 4, (28, 28, 1), "MNIST-Rotations, incremental storage 100"),
    (139, 8, (28, 28, 1), "MNIST-Rotations, incremental storage 200"),
    (168, 2, (28, 28, 1), "MNIST distillation, 10x / Table 4"),
    (620, 3, (32, 32, 3), "Incremental CIFAR-100, incremental storage 200"),
]
BATCH_SIZES = (1, 10, 100)


def rate(fn, items_per_call: int, seconds: float) -> float:
    """Items per second of fn() over about `seconds`, after one warm-up call."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return calls * items_per_call / elapsed


def stored_bytes() -> list[dict]:
    rows = []
    for c, l, shape, where in PAPER_SHAPES:
        k = c * math.ceil(math.log2(l))
        buffer = IndexBuffer(
            capacity=4,
            fields=supervised_fields(code_bytes=-(-k // 8), num_classes=100, num_tasks=50),
        )
        measured = sum(
            v.value.dtype.size * int(np.prod(v.shape[1:]))
            for v in buffer.variables_by_field.values()
        )
        expected = -(-k // 8) + 4 + 4
        rows.append(
            {
                "shape": f"{c}x{l}",
                "input": "x".join(map(str, shape)),
                "used_for": where,
                "bits_per_item": k,
                "code_bytes": buffer.variables_by_field["codes"].shape[1],
                "stored_bytes_per_item": measured,
                "expected": expected,
                "exact": measured == expected,
                "raw_example_bytes": int(np.prod(shape)),
            }
        )
    return rows


def memory_rates(seconds: float) -> list[dict]:
    codec = DiscreteAutoencoder(input_shape=(28, 28, 1), num_latents=104, num_categories=4, seed=0)
    memory = RecollectionMemory(codec, capacity=3000, num_classes=10, num_tasks=20, seed=0)
    rng = np.random.default_rng(0)
    fill = rng.random((3000, 28, 28, 1), dtype=np.float32)
    memory.observe(fill, rng.integers(0, 10, 3000), rng.integers(0, 20, 3000))
    rows = []
    for batch in BATCH_SIZES:
        x = rng.random((batch, 28, 28, 1), dtype=np.float32)
        y, t = rng.integers(0, 10, batch), rng.integers(0, 20, batch)
        rows.append(
            {
                "batch_size": batch,
                "observe_items_per_s": rate(
                    lambda x=x, y=y, t=t: memory.observe(x, y, t), batch, seconds
                ),
                "recall_decoded_items_per_s": rate(
                    lambda n=batch: memory.recall(n), batch, seconds
                ),
                "recall_codes_items_per_s": rate(
                    lambda n=batch: memory.recall_items(n, decode=False), batch, seconds
                ),
            }
        )
    return rows


def buffer_vs_numpy(seconds: float, capacity: int = 3000, batch: int = 10) -> dict:
    """Write+sample rounds per second: packed-code buffer vs a numpy ring of raw images."""
    rng = np.random.default_rng(0)
    code_bytes = 26
    buffer = IndexBuffer(
        capacity=capacity,
        fields=supervised_fields(code_bytes=code_bytes, num_classes=10, num_tasks=20),
    )
    specs = {
        name: tf.TensorSpec([None, *spec.shape], spec.dtype) for name, spec in buffer.fields.items()
    }
    write = tf.function(buffer.write_unchecked, input_signature=[specs])
    sample = tf.function(lambda: buffer.sample_unchecked(tf.constant(batch)), input_signature=[])
    items = {
        "codes": tf.constant(rng.integers(0, 256, (batch, code_bytes)), tf.uint8),
        "label": tf.constant(rng.integers(0, 10, batch), tf.int32),
        "task": tf.constant(rng.integers(0, 20, batch), tf.int32),
    }
    write(items)

    def buffer_round():
        write(items)
        return sample()

    images = np.zeros((capacity, 28, 28, 1), np.uint8)
    labels = np.zeros(capacity, np.int32)
    tasks = np.zeros(capacity, np.int32)
    raw = rng.integers(0, 256, (batch, 28, 28, 1)).astype(np.uint8)
    raw_y, raw_t = items["label"].numpy(), items["task"].numpy()
    state = {"seen": 0}

    def numpy_round():
        rows = (state["seen"] + np.arange(batch)) % capacity
        images[rows], labels[rows], tasks[rows] = raw, raw_y, raw_t
        state["seen"] += batch
        pick = rng.integers(0, min(state["seen"], capacity), batch)
        return images[pick], labels[pick], tasks[pick]

    buffer_rate = rate(buffer_round, batch, seconds)
    numpy_rate = rate(numpy_round, batch, seconds)
    return {
        "capacity": capacity,
        "batch_size": batch,
        "index_buffer_items_per_s": buffer_rate,
        "numpy_raw_ring_items_per_s": numpy_rate,
        "ratio_buffer_over_numpy": buffer_rate / numpy_rate,
        "index_buffer_bytes": capacity * (code_bytes + 8),
        "numpy_raw_ring_bytes": images.nbytes + labels.nbytes + tasks.nbytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}",
        "stored_bytes": stored_bytes(),
        "memory_rates": memory_rates(args.seconds),
        "buffer_vs_numpy": [buffer_vs_numpy(args.seconds, batch=b) for b in BATCH_SIZES],
    }
    print(f"machine: {results['machine']}\n")
    print("| code | input | k bits | stored bytes/item | ceil(k/8)+8 | raw bytes | use |")
    print("|---|---|---|---|---|---|---|")
    for r in results["stored_bytes"]:
        print(
            f"| {r['shape']} | {r['input']} | {r['bits_per_item']} | {r['stored_bytes_per_item']}"
            f" | {r['expected']} | {r['raw_example_bytes']} | {r['used_for']} |"
        )
    print("\n| batch | observe items/s | recall (decoded) items/s | recall (codes) items/s |")
    print("|---|---|---|---|")
    for r in results["memory_rates"]:
        print(
            f"| {r['batch_size']} | {r['observe_items_per_s']:,.0f} | "
            f"{r['recall_decoded_items_per_s']:,.0f} | {r['recall_codes_items_per_s']:,.0f} |"
        )
    print("\n| batch | index buffer write+sample items/s | numpy raw ring items/s | ratio |")
    print("|---|---|---|---|")
    for r in results["buffer_vs_numpy"]:
        print(
            f"| {r['batch_size']} | {r['index_buffer_items_per_s']:,.0f} | "
            f"{r['numpy_raw_ring_items_per_s']:,.0f} | {r['ratio_buffer_over_numpy']:.2f} |"
        )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
