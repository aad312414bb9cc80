"""Reproduces the paper's Table 1 (MNIST-Rotations) and prints it next to the paper's.

Runs every flagfile in runners/configs/table1/ (5 seeds each) with
`python -m runners.continual`, one after another, each into ROOT/<row>/, resuming
rows that were interrupted and skipping rows already finished, then prints a
markdown table of retention (mean +- std over seeds) against the paper.

Usage:
    python -m benchmarks.table1 --data_dir /path/to/data --root runs/table1 [--rows a,b]
    python -m benchmarks.table1 --root runs/table1 --report_only
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

PAPER = {
    "online": 51.9,
    "replay_real_100": 63.4,
    "replay_real_200": 71.3,
    "replay_recollections_100": 75.6,
    "replay_recollections_200": 81.1,
    "gem_real_100": 62.5,
    "gem_real_200": 67.4,
    "gem_recollections_100": 79.0,
    "gem_recollections_200": 81.5,
    "ewc": 54.6,
}
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runners")


def run_row(name: str, root: str, data_dir: str | None, extra: list[str]) -> None:
    workdir = os.path.join(root, name)
    if os.path.exists(os.path.join(workdir, "results.json")):
        return
    command = [
        sys.executable,
        "-m",
        "runners.continual",
        f"--flagfile=runners/configs/table1/{name}.flags",
        f"--workdir={workdir}",
        "--resume",
        *extra,
    ]
    if data_dir:
        command.append(f"--data_dir={data_dir}")
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=os.path.dirname(CONFIGS))


def report(root: str) -> str:
    lines = [
        "| method | incremental storage | items | bits/item | retention (ours, 5 seeds) | paper |",
        "|---|---|---|---|---|---|",
    ]
    for name, paper in PAPER.items():
        path = os.path.join(root, name, "results.json")
        if not os.path.exists(path):
            lines.append(f"| {name} | | | | not run | {paper} |")
            continue
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        std = 100 * (r["retention_std"] or 0.0)
        method = f"{r['learner']} {r['storage']}" if r["storage"] != "none" else r["learner"]
        lines.append(
            f"| {method} | {r['incremental_storage']:g} | {r['items']} | {r['bits_per_item']} | "
            f"{100 * r['retention_mean']:.1f} +- {std:.1f} (n={len(r['seeds'])}) | {paper} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None, help="data root (or $RECOLLECT_DATA_DIR)")
    parser.add_argument("--root", default="runs/table1", help="where the rows' workdirs go")
    parser.add_argument("--rows", default=None, help="comma-separated rows (default: all)")
    parser.add_argument("--report_only", action="store_true", help="print the table only")
    parser.add_argument("extra", nargs="*", help="more flags for every row, after --")
    args = parser.parse_args()
    available = sorted(
        os.path.basename(p)[: -len(".flags")]
        for p in glob.glob(os.path.join(CONFIGS, "configs", "table1", "*.flags"))
    )
    rows = args.rows.split(",") if args.rows else available
    unknown = sorted(set(rows) - set(available))
    if unknown:
        parser.error(f"unknown rows {unknown}; available: {available}")
    if not args.report_only:
        for name in rows:
            run_row(name, os.path.abspath(args.root), args.data_dir, args.extra)
    print(report(os.path.abspath(args.root)))


if __name__ == "__main__":
    main()
