"""Retention against codec cost: where the codec's FLOPs buy retention.

Runs one Table 1 row (replay with recollections at 100 by default) on MNIST-Rotations,
seed 0, once per codec setting: N self-replay steps (0, 1, 3), filters (16, 32, 64,
and the paper's c*l/4 = 104 for 104 4-way latents), kernel 3 or 5, and the MLP codec
(units: hidden units, the paper's c*l = 416 or 1024). Every setting
decodes each recalled batch once per step (it serves both the codec's stabilising
and the learner). For each it reports retention, training seconds, and the codec's
FLOPs per step (`benchmarks.speed.config_flops`), as a markdown table and a JSON.

Usage (from the repository root):
    python -m benchmarks.codec_sweep --data_dir /path/to/data \
        [--row table1_algorithm1/replay_recollections_100.flags] [--settings f64_k5_n3,f32_k3_n1] \
        [--output codec_sweep.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from agents import continual
from benchmarks import speed
from runners import continual as runner

# name -> (architecture, filters or hidden units, kernel size, N)
SETTINGS = {
    "f64_k5_n3": ("conv", 64, 5, 3),
    "f64_k5_n1": ("conv", 64, 5, 1),
    "f64_k5_n0": ("conv", 64, 5, 0),
    "f104_k5_n1": ("conv", 104, 5, 1),
    "f32_k5_n1": ("conv", 32, 5, 1),
    "f16_k5_n1": ("conv", 16, 5, 1),
    "f64_k3_n1": ("conv", 64, 3, 1),
    "f32_k3_n1": ("conv", 32, 3, 1),
    "f32_k3_n0": ("conv", 32, 3, 0),
    "f16_k3_n1": ("conv", 16, 3, 1),
    "f32_k3_n3": ("conv", 32, 3, 3),
    "f64_k3_n3": ("conv", 64, 3, 3),
    "mlp_h416_n3": ("mlp", 416, 5, 3),
    "mlp_h1024_n3": ("mlp", 1024, 5, 3),
    "mlp_h416_n1": ("mlp", 416, 5, 1),
}


def run_setting(row: str, name: str, data_dir: str | None, extra: list[str]) -> dict:
    """One 20-task seed-0 run of the row with the named codec setting."""
    architecture, filters, kernel, steps = SETTINGS[name]
    flags = [
        f"--codec={architecture}",
        f"--codec_units={filters}",
        f"--codec_kernel_size={kernel}",
        f"--stabilize_steps={steps}",
        *extra,
        *([f"--data_dir={data_dir}"] if data_dir else []),
    ]
    config = runner.config_from_flagfile(f"runners/configs/{row}", *flags)
    config = dataclasses.replace(config, seeds=(0,))
    with tempfile.TemporaryDirectory() as workdir:
        results = continual.run(config, workdir, progress=False)
    seed = results["per_seed"][0]
    flops = speed.config_flops(config, len(seed["accuracy_matrix"]))
    return {
        "setting": name,
        "codec": architecture,
        "filters": filters,
        "kernel_size": kernel,
        "stabilize_steps": steps,
        "retention": 100 * results["retention_mean"],
        "bwt": 100 * results["bwt_mean"],
        "train_seconds": seed["train_seconds"],
        "codec_mflop_per_step": flops["codec"] / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None, help="data root (or $RECOLLECT_DATA_DIR)")
    parser.add_argument("--row", default="table1_algorithm1/replay_recollections_100.flags")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--extra", action="append", default=[], help="one more flag per use")
    parser.add_argument("--output", default="codec_sweep.json")
    args = parser.parse_args()
    names = args.settings.split(",")
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {sorted(SETTINGS)}")
    print(f"row `{args.row}`, seed 0\n")
    print("| setting | codec | units | kernel | N | codec MFLOP/step | train s | retention | BWT |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        r = run_setting(args.row, name, args.data_dir, args.extra)
        rows.append(r)
        print(
            f"| {name} | {r['codec']} | {r['filters']} | {r['kernel_size']} | "
            f"{r['stabilize_steps']} | "
            f"{r['codec_mflop_per_step']:,.0f} | {r['train_seconds']:.0f} | "
            f"{r['retention']:.1f} | {r['bwt']:.1f} |",
            flush=True,
        )
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump({"row": args.row, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
