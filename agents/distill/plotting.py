"""Figures of distillation runs: learning curves, test accuracy against episodes.

Where this sits: reads the results.json that `agents.distill.run` writes;
`runners/plot.py` draws these (through `agents.plotting`) when its work directories
hold distillation runs.

```
one panel per run and student: per method, test accuracy (%) after each episode count, mean +- std
over seeds (a band), x on a log scale; the teacher's mean accuracy as a dashed line
```
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np


def _title(results: dict, workdir: str, student: str) -> str:
    folder = os.path.basename(os.path.normpath(workdir))
    return f"{folder}: {student} student (n={len(results['seeds'])} seeds)"


def _panels(runs: list[dict], workdirs: list[str]) -> list[tuple[dict, str, str]]:
    """(results, workdir, student) per panel: one per run and student."""
    return [
        (results, workdir, student)
        for results, workdir in zip(runs, workdirs, strict=True)
        for student in results["students"]
    ]


def plot_distill(runs: list[dict], workdirs: list[str], output: str) -> str:
    """Writes the PNG described in the module docstring; returns output."""
    panels = _panels(runs, workdirs)
    count = len(panels)
    figure, axes = plt.subplots(
        1, count, figsize=(1.5 + 5.0 * count, 4.0), squeeze=False, layout="constrained"
    )
    for axis, (results, workdir, student) in zip(axes[0], panels, strict=True):
        episodes = np.asarray(results["episodes"], float)
        for name in results["methods"]:
            if not name.startswith(f"{student}/"):
                continue
            curve = results["curves"][name]
            mean = 100 * np.asarray(curve["mean"], float)
            std = 100 * np.asarray(curve["std"], float)
            style = "--" if "/codes_" in name else "-"
            label = name.removeprefix(f"{student}/")
            axis.plot(episodes, mean, style, marker="o", ms=3, label=label)
            axis.fill_between(episodes, mean - std, mean + std, alpha=0.15)
        teacher = results["teacher_accuracy"]["mean"]
        if teacher is not None:
            axis.axhline(100 * teacher, color="black", ls=":", lw=1, label="teacher")
        axis.set_xscale("log")
        axis.set_xlabel("episodes (examples trained on)")
        axis.set_ylabel("test accuracy (%)")
        axis.set_ylim(0, 100)
        axis.set_title(_title(results, workdir, student), fontsize=8)
        axis.legend(fontsize=7)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return output
