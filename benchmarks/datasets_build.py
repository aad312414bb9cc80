"""Builds every task stream the local data allows, cold and from the cache, and times it.

For each stream (mnist_rotations, permuted_mnist, omniglot, split_cifar10,
incremental_cifar100) this prints the task and example counts, the sha256 of the
stream's stored arrays (the checksum in `stream.metadata["sha256"]`), the sha256 of
the source files, the time of a cold build (an empty cache folder of its own, so
nothing is shared between streams) and of the second, cached load. For
MNIST-Rotations it also prints the angles; for CIFAR-10 it times `load_arrays`, the
whole set for codec pretraining. A stream whose data is missing is reported as such.

Usage:
    python -m benchmarks.datasets_build --data_dir DATA_ROOT [--seed 0] [--output out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from recollect import datasets
from recollect.datasets import cache as cache_lib

STREAMS = ("mnist_rotations", "permuted_mnist", "omniglot", "split_cifar10", "incremental_cifar100")


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _entry_bytes(cache_dir: str, prefix: str) -> int:
    return sum(
        os.path.getsize(os.path.join(cache_dir, f))
        for f in os.listdir(cache_dir)
        if f.startswith(prefix)
    )


def build_stream(name: str, data_dir: str, cache_root: str, seed: int) -> dict:
    """Cold build, then cached load, of one stream; returns what the note needs."""
    cache_dir = os.path.join(cache_root, name)
    os.makedirs(cache_dir)

    def load():
        return datasets.load_stream(name, data_dir=data_dir, seed=seed, cache_dir=cache_dir)

    try:
        cold, cold_s = _timed(load)
    except datasets.DataNotFoundError as err:
        return {"name": name, "available": False, "reason": str(err).splitlines()[0]}
    warm, warm_s = _timed(load)
    if warm.metadata != cold.metadata:
        raise RuntimeError(f"{name}: the cached stream's metadata differs from the built one")
    first_x, first_y = next(iter(warm[0].train))
    meta = cold.metadata
    row = {
        "name": name,
        "available": True,
        "num_tasks": len(cold),
        "num_classes": cold.num_classes,
        "input_shape": list(cold.input_shape),
        "train_examples": int(sum(meta["train_sizes"])),
        "test_examples": int(sum(meta["test_sizes"])),
        "train_sizes": meta["train_sizes"],
        "test_sizes": meta["test_sizes"],
        "first_batch": [list(first_x.shape), str(first_x.dtype.name), list(first_y.shape)],
        "pixel_range": [float(np.min(first_x)), float(np.max(first_x))],
        "sha256": meta["sha256"],
        "sha256_recomputed": cache_lib.arrays_sha256(warm.stored_arrays()),
        "source_format": meta["source"]["format"],
        "source_files": meta["source"]["files"],
        "source_note": meta["source"].get("note"),
        "cold_build_s": round(cold_s, 2),
        "cache_hit_s": round(warm_s, 2),
        "cache_mb": round(_entry_bytes(cache_dir, f"stream-{name}") / 2**20, 1),
    }
    if "angles" in meta:
        row["angles"] = meta["angles"]
        row["train_indices_task0_first10"] = meta["train_indices"][0][:10]
    if "alphabets" in meta:
        row["alphabets_first3"] = meta["alphabets"][:3]
    if name == "split_cifar10":
        data, arrays_s = _timed(
            lambda: datasets.load_arrays("cifar10", data_dir=data_dir, cache_dir=cache_dir)
        )
        row["load_arrays_cifar10"] = {
            "shapes": {k: list(v.shape) for k, v in data.arrays.items()},
            "sha256": cache_lib.arrays_sha256(data.arrays),
            "cache_hit_s": round(arrays_s, 2),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="root with mnist/, cifar10/, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--streams", default=",".join(STREAMS), help="comma-separated")
    parser.add_argument("--output", default=None, help="also write the results as JSON")
    args = parser.parse_args()

    cache_root = tempfile.mkdtemp(prefix="recollect_datasets_build_")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"data_dir: {args.data_dir}  seed: {args.seed}  empty cache: {cache_root}\n")
    rows = []
    try:
        for name in args.streams.split(","):
            row = build_stream(name, args.data_dir, cache_root, args.seed)
            rows.append(row)
            _print_row(row)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
    print("\nstream                 tasks classes  train   test  cold s  cache s  sha256")
    for row in rows:
        if row["available"]:
            print(
                f"{row['name']:<22} {row['num_tasks']:>5} {row['num_classes']:>7} "
                f"{row['train_examples']:>6} {row['test_examples']:>6} "
                f"{row['cold_build_s']:>7.2f} {row['cache_hit_s']:>8.2f}  {row['sha256'][:16]}"
            )
        else:
            print(f"{row['name']:<22} not available here")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


def _print_row(row: dict) -> None:
    print(f"== {row['name']}")
    if not row["available"]:
        print(f"   not available: {row['reason']}\n")
        return
    same = "matches" if row["sha256"] == row["sha256_recomputed"] else "DIFFERS"
    print(
        f"   tasks {row['num_tasks']}, classes {row['num_classes']}, input {row['input_shape']}, "
        f"train {row['train_examples']}, test {row['test_examples']}"
    )
    print(
        f"   train sizes {_compact(row['train_sizes'])}; test sizes {_compact(row['test_sizes'])}"
    )
    x_shape, x_dtype, y_shape = row["first_batch"]
    print(f"   first batch x {x_shape} {x_dtype}, y {y_shape}")
    print(f"   pixel range of the first batch {row['pixel_range']}")
    print(f"   sha256 {row['sha256']} (cache hit recomputed: {same})")
    print(f"   source {row['source_format']}:")
    for file_name, digest in row["source_files"].items():
        print(f"      {file_name}  sha256 {digest}")
    if row["source_note"]:
        print(f"   note: {row['source_note']}")
    print(
        f"   cold build {row['cold_build_s']:.2f} s, cache hit {row['cache_hit_s']:.2f} s, "
        f"cache entry {row['cache_mb']} MiB"
    )
    if "angles" in row:
        print("   angles (degrees): " + ", ".join(f"{a:.4f}" for a in row["angles"]))
        print(f"   task 0 train indices, first 10: {row['train_indices_task0_first10']}")
    if "alphabets_first3" in row:
        print(f"   first alphabets: {row['alphabets_first3']}")
    if "load_arrays_cifar10" in row:
        arrays = row["load_arrays_cifar10"]
        hit_s = arrays["cache_hit_s"]
        print(f"   load_arrays('cifar10') from cache {hit_s:.2f} s: {arrays['shapes']}")
        print(f"      sha256 {arrays['sha256']}")
    print()


def _compact(sizes: list[int]) -> str:
    distinct = sorted(set(sizes))
    if len(distinct) == 1:
        return f"{len(sizes)} x {distinct[0]}"
    return f"{min(sizes)}..{max(sizes)} (sum {sum(sizes)})"


if __name__ == "__main__":
    main()
