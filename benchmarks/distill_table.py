"""Distillation runs of one seed each, joined into one table: mean +- std over seeds.

Seeds of `runners.distill` can run as separate processes, each in its own work
directory (`--seeds=S --workdir=runs/distill/seedS`); this script reads each
directory's results.json, or, for a seed still running or stopped, the curves its
progress.json holds so far (a method is shown only where every seed has reached
the test point), and prints a markdown table of test accuracy (%) per method and
episode count, the teachers' accuracy, each memory's code shape and distortion,
and the time the students trained.

With --png it also draws the learning curves (mean +- std over seeds, one panel
per student, `agents.distill.plotting`) of the methods every seed has finished.

With --best_of, the seeds of a second run (the same methods under another
setting, as the paper reports the better of learning rates 1e-3 and 1e-4) are read
too, and a second table gives, per method and episode count, the better of the two
runs' means with its std and the run it came from (its learning rate).

Usage (from the repository root):
    python -m benchmarks.distill_table --workdirs=runs/distill/seed0,runs/distill/seed1 \
        [--episodes=1000,10000] [--output=table.md] [--png=curves.png] [--methods=a,b] \
        [--best_of=runs/distill_lr4/seed0,runs/distill_lr4/seed1]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from agents.distill.results import curve_summary
from agents.experiment import mean_std


def seed_curves(workdir: str) -> list[dict[str, Any]]:
    """Per seed of a work directory: its curves, teacher, memories, timings, and episodes."""
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    run = {"episodes": config["episodes"], "learning_rate": config["learning_rate"]}
    results_path = os.path.join(workdir, "results.json")
    if os.path.exists(results_path):
        with open(results_path) as f:
            per_seed = json.load(f)["per_seed"]
        return [{**seed, **run, "finished": True} for seed in per_seed]
    seeds = []
    for path in sorted(glob.glob(os.path.join(workdir, "seed_*", "progress.json"))):
        with open(path) as f:
            progress = json.load(f)
        seed = int(os.path.basename(os.path.dirname(path)).removeprefix("seed_"))
        seeds.append({**progress, "seed": seed, **run, "finished": False})
    return seeds


def _cell(values: Sequence[float]) -> str:
    summary = mean_std(values)
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f}"


def _column_values(seeds: list[dict[str, Any]], method: str, column: int) -> list[float] | None:
    """Every seed's accuracy of `method` at test point `column`; None unless all reached it."""
    if not all(method in s["curves"] and len(s["curves"][method]) > column for s in seeds):
        return None
    return [s["curves"][method][column] for s in seeds]


def _markdown(
    title: str,
    methods: Sequence[str],
    episodes: Sequence[int],
    shown: Sequence[int],
    cell: Callable[[str, int], str],
) -> str:
    """A row per method, a column per shown episode count; cell(method, test point index)."""
    columns = [list(episodes).index(e) for e in shown]
    lines = [
        f"| {title} | " + " | ".join(f"{e:,} episodes" for e in shown) + " |",
        "|---|" + "---:|" * len(shown),
    ]
    for method in methods:
        lines.append(f"| {method} | " + " | ".join(cell(method, c) for c in columns) + " |")
    return "\n".join(lines)


def table(seeds: list[dict[str, Any]], shown: Sequence[int]) -> str:
    """The markdown table: a row per method, a column per shown episode count."""
    methods = [m for m in seeds[0]["curves"] if all(m in s["curves"] for s in seeds)]

    def cell(method: str, column: int) -> str:
        values = _column_values(seeds, method, column)
        return "not reached" if values is None else _cell(values)

    return _markdown("method", methods, seeds[0]["episodes"], shown, cell)


def best_table(runs: Sequence[list[dict[str, Any]]], shown: Sequence[int]) -> str:
    """Per method and shown episode count, the run with the higher mean: mean +- std (its lr).

    Args:
        runs: each run's seeds (`seed_curves`), the same methods and test points.
        shown: the episode counts to show, each a test point of every run.

    Raises:
        ValueError: the runs test at different episode counts.
    """
    episodes = runs[0][0]["episodes"]
    if any(run[0]["episodes"] != episodes for run in runs):
        raise ValueError(
            "Expected runs with the same --episodes. Received: "
            + "; ".join(str(run[0]["episodes"]) for run in runs)
        )
    methods = [m for m in runs[0][0]["curves"] if all(m in run[0]["curves"] for run in runs)]

    def cell(method: str, column: int) -> str:
        candidates = [
            (statistics.fmean(values), values, run[0]["learning_rate"])
            for run in runs
            if (values := _column_values(run, method, column)) is not None
        ]
        if not candidates:
            return "not reached"
        _, values, learning_rate = max(candidates, key=lambda c: c[0])
        return f"{_cell(values)} (lr {learning_rate:g})"

    return _markdown("method (better of the runs)", methods, episodes, shown, cell)


def summary(seeds: list[dict[str, Any]]) -> str:
    """Teachers, memories (code shape, L1) and student training time, in lines."""
    teacher = [s["teacher_accuracy"] for s in seeds]
    each = ", ".join(f"{100 * t:.2f}" for t in teacher)
    lines = [
        f"- seeds {[s['seed'] for s in seeds]} (finished: {[s['finished'] for s in seeds]})",
        f"- teacher test accuracy: {_cell(teacher)} % ({each})",
    ]
    for name in seeds[0]["memories"]:
        memories = [s["memories"][name] for s in seeds if name in s["memories"]]
        first = memories[0]
        l1 = ", ".join(f"{m['l1_distortion']:.4f}" for m in memories)
        lines.append(
            f"- {name}: {first['num_latents']} x {first['num_categories']} codes, "
            f"{first['items']} items, codec {first['param_count']:,} parameters, total storage "
            f"{first['total_storage']:.0f} raw examples; L1 {l1}"
        )
    steps = sum(s["steps"] for s in seeds)
    seconds = sum(s["train_seconds"] for s in seeds)
    lines.append(
        f"- student training: {seconds:.0f} s for {steps:,} steps of every method and seed "
        f"({10_000 * seconds / max(steps, 1):.0f} s per 10,000 episodes on average)"
    )
    return "\n".join(lines)


def curves_results(seeds: list[dict[str, Any]], methods: Sequence[str] | None) -> dict:
    """A results dict (`agents.distill.results.aggregate`'s shape) of the finished curves."""
    episodes = seeds[0]["episodes"]
    complete = [
        m
        for m in seeds[0]["curves"]
        if all(len(s["curves"].get(m, [])) == len(episodes) for s in seeds)
        and (not methods or m in methods)
    ]
    return {
        "episodes": episodes,
        "methods": complete,
        "curves": {m: curve_summary([s["curves"][m] for s in seeds]) for m in complete},
        "students": sorted({m.split("/")[0] for m in complete}),
        "teacher_accuracy": mean_std([s["teacher_accuracy"] for s in seeds]),
        "seeds": [s["seed"] for s in seeds],
    }


def main(argv: Sequence[str] | None = None) -> str:
    """Prints (and writes with --output) the table and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdirs", required=True, help="comma-separated work directories")
    parser.add_argument("--episodes", default="1000,10000", help="episode counts to show")
    parser.add_argument("--output", default=None, help="markdown file to write")
    parser.add_argument("--png", default=None, help="learning-curve figure to write")
    parser.add_argument("--methods", default="", help="methods to draw (default: all)")
    parser.add_argument(
        "--best_of", default="", help="a second run's work directories: also the better of the two"
    )
    args = parser.parse_args(argv)
    seeds = [s for w in args.workdirs.split(",") for s in seed_curves(w)]
    if not seeds:
        raise SystemExit(f"Expected distillation work directories. Received: {args.workdirs}")
    shown = [int(e) for e in args.episodes.split(",")]
    text = table(seeds, shown) + "\n\n" + summary(seeds) + "\n"
    if args.best_of:
        other = [s for w in args.best_of.split(",") if w for s in seed_curves(w)]
        if not other:
            raise SystemExit(f"Expected distillation work directories. Received: {args.best_of}")
        text += "\n" + best_table([seeds, other], shown) + "\n"
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    if args.png:
        from agents.distill.plotting import plot_distill

        chosen = [m for m in args.methods.split(",") if m]
        plot_distill([curves_results(seeds, chosen)], ["seeds"], args.png)
        print(f"Wrote {args.png}")
    return text


if __name__ == "__main__":
    main()
