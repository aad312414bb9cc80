"""Figures of continual runs: retention bars, accuracy-matrix heat maps, code drift.

Where this sits: reads the results.json that `agents.continual.run` writes;
`runners/plot.py` is its command line.

```
plot_runs    retention (mean +- std over seeds) per run; seed 0's accuracy matrix per run
plot_drift   one panel per run with a drift probe: one curve per write task j, the
             L1 distortion of task j's probe codes after each task trained (mean over
             seeds), from its at-write value (hollow marker at x = j)
```
"""

from __future__ import annotations

import json
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from agents.distill import plotting as distill_plotting
from agents.lifelong import plotting as lifelong_plotting

# The `kind` of a results.json (agents.experiment.run).
KINDS = ("continual", "lifelong", "distill")


def load_results(workdir: str) -> dict:
    """Reads workdir/results.json, with a clear error when it is missing or of no known kind."""
    path = os.path.join(workdir, "results.json")
    if not os.path.exists(path):
        raise ValueError(
            f"Expected a finished run with results.json in each workdir. Received: no {path}"
        )
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    if results.get("kind") not in KINDS:
        raise ValueError(
            f"Expected a results.json whose kind is one of {list(KINDS)}. Received: "
            f"{results.get('kind')!r} in {path}; a run written before results had a kind "
            'plots once "kind" is added to it.'
        )
    return results


def label(results: dict) -> str:
    """A short name for a run: learner, storage and budget."""
    if not results["incremental_storage"]:
        return results["learner"]
    return f"{results['learner']} {results['storage']} {results['incremental_storage']:g}"


def run_names(runs: list[dict], workdirs: list[str]) -> list[str]:
    """A label per run; runs of the same method also get their folder's name."""
    names = [label(r) for r in runs]
    return [
        f"{name} ({os.path.basename(os.path.normpath(w))})" if names.count(name) > 1 else name
        for name, w in zip(names, workdirs, strict=True)
    ]


def plot_runs(workdirs: list[str], output: str) -> str:
    """Writes a PNG with retention bars and one accuracy matrix per run.

    Lifelong runs (`agents.lifelong.run`) get their own figure instead: evaluation
    returns per game after every phase, and return matrices
    (`agents.lifelong.plotting`); distillation runs (`agents.distill.run`) their
    learning curves (`agents.distill.plotting`).

    Args:
        workdirs: run directories, each with results.json.
        output: the PNG path.

    Returns:
        output.

    Raises:
        ValueError: if a workdir has no results.json or the list is empty.
    """
    if not workdirs:
        raise ValueError("Expected at least one workdir. Received: none")
    runs = [load_results(w) for w in workdirs]
    kinds = sorted({r["kind"] for r in runs})
    if len(kinds) > 1:
        raise ValueError(f"Expected runs of one kind. Received: {kinds}")
    if kinds == ["lifelong"]:
        return lifelong_plotting.plot_lifelong(runs, workdirs, output)
    if kinds == ["distill"]:
        return distill_plotting.plot_distill(runs, workdirs, output)
    count = len(runs)
    figure, axes = plt.subplots(
        1, count + 1, figsize=(4 + 3.2 * count, 3.6), squeeze=False, layout="constrained"
    )
    bars = axes[0, 0]
    means = [100 * r["retention_mean"] for r in runs]
    stds = [100 * (r["retention_std"] or 0.0) for r in runs]
    names = run_names(runs, workdirs)
    bars.barh(range(count), means, xerr=stds, color="tab:blue", alpha=0.8)
    bars.set_yticks(range(count), names, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel("retention (%)")
    bars.set_xlim(0, 100)
    for i, (m, s, r) in enumerate(zip(means, stds, runs, strict=True)):
        bars.text(m + s + 1, i, f"{m:.1f}±{s:.1f} (n={len(r['seeds'])})", va="center", fontsize=7)
    for axis, results, name in zip(axes[0, 1:], runs, names, strict=True):
        matrix = np.asarray(results["per_seed"][0]["accuracy_matrix"])
        image = axis.imshow(100 * matrix, vmin=0, vmax=100, cmap="viridis")
        axis.set_title(f"{name}\nseed {results['per_seed'][0]['seed']}", fontsize=8)
        axis.set_xlabel("test task")
        axis.set_ylabel("after training task")
    figure.colorbar(image, ax=axes[0, 1:].tolist(), label="accuracy (%)", shrink=0.8)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return output


def plot_drift(workdirs: list[str], output: str) -> str:
    """Writes a PNG of code drift (the paper's Figure 5) for runs made with a drift probe.

    One panel per run. Curve j: the mean over seeds of the L1 distortion of task
    j's probe codes decoded after 1, 2, ... tasks trained, drawn from x = j + 1 on;
    a dashed segment joins it to the hollow marker at x = j, their distortion when
    they were written (while task j was trained).

    Args:
        workdirs: run directories, each with a results.json of a run with
            `--drift_probe_items` > 0.
        output: the PNG path.

    Returns:
        output.

    Raises:
        ValueError: if the list is empty or a run has no drift measurements.
    """
    if not workdirs:
        raise ValueError("Expected at least one workdir. Received: none")
    runs = [load_results(w) for w in workdirs]
    for results, workdir in zip(runs, workdirs, strict=True):
        if "drift_matrix_mean" not in results:
            raise ValueError(
                "Expected runs made with --drift_probe_items > 0. Received: no drift "
                f"measurements in {os.path.join(workdir, 'results.json')}"
            )
    count = len(runs)
    figure, axes = plt.subplots(
        1, count, figsize=(1.5 + 4.2 * count, 3.6), squeeze=False, layout="constrained"
    )
    colours = None
    for axis, results, name in zip(axes[0], runs, run_names(runs, workdirs), strict=True):
        colours = _drift_panel(axis, results)
        axis.set_title(f"{name} (n={len(results['seeds'])})", fontsize=8)
    if colours is not None:
        bar = figure.colorbar(colours, ax=axes[0].tolist(), label="write task", shrink=0.8)
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return output


def _drift_panel(axis: plt.Axes, results: dict) -> matplotlib.cm.ScalarMappable:
    """Draws one run's drift curves on axis; returns the write-task colour scale."""
    matrix = np.asarray(results["drift_matrix_mean"], dtype=np.float64)  # None -> nan
    at_write = np.asarray(results["drift_at_write_mean"], dtype=np.float64)
    num_tasks = len(matrix)
    colours, norm = matplotlib.colormaps["viridis"], plt.Normalize(0, max(num_tasks - 1, 1))
    for task in range(num_tasks):
        colour = colours(norm(task))
        trained = np.arange(task + 1, num_tasks + 1)
        later = matrix[task:, task]
        axis.plot(trained, later, color=colour, marker="o", ms=2.5, lw=1.2)
        axis.plot([task, task + 1], [at_write[task], later[0]], color=colour, ls="--", lw=0.8)
        axis.plot(task, at_write[task], marker="o", ms=5, mfc="none", mec=colour)
    axis.set_xlabel("tasks trained")
    axis.set_ylabel("L1 distortion of the task's codes")
    axis.set_xlim(-0.3, num_tasks + 0.3)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    return matplotlib.cm.ScalarMappable(norm, colours)
