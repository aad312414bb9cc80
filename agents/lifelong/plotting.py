"""Figures of lifelong runs: evaluation curves per game and return-matrix heat maps.

Where this sits: reads the results.json that `agents.lifelong.run` writes;
`runners/plot.py` draws these when its work directories hold lifelong runs.

```
row 1: one panel per game: its evaluation return after every phase, mean +- std
       over seeds, one line per run (normalised when the run had references)
row 2: one heat map per run: seed 0's return matrix (rows: after phase p,
       columns: evaluated game)
```
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np


def _matrices(results: dict) -> tuple[np.ndarray, str]:
    """Normalised matrices when every seed normalised every game, else raw returns."""
    seeds = results["seeds"]
    every_game = all(s.get("normalised_games") == s["games"] for s in seeds)
    key = "normalised_matrix" if every_game else "return_matrix"
    unit = "normalised return" if key == "normalised_matrix" else "return"
    return np.asarray([s[key] for s in results["seeds"]], float), unit


def _name(results: dict, workdir: str) -> str:
    folder = os.path.basename(os.path.normpath(workdir))
    return f"{results['footprint']['kind']} ({folder})"


def plot_lifelong(runs: list[dict], workdirs: list[str], output: str) -> str:
    """Writes the PNG described in the module docstring; returns output.

    Raises:
        ValueError: if the runs do not share one cycle of games.
    """
    games = runs[0]["seeds"][0]["games"]
    if any(r["seeds"][0]["games"] != games for r in runs):
        raise ValueError("Expected runs over the same games. Received: different cycles")
    width = max(len(games), len(runs))
    figure, axes = plt.subplots(
        2, width, figsize=(3.2 * width, 6.4), squeeze=False, layout="constrained"
    )
    phases = None
    for results, workdir in zip(runs, workdirs, strict=True):
        matrices, unit = _matrices(results)
        phases = np.arange(1, matrices.shape[1] + 1)
        mean, std = matrices.mean(0), matrices.std(0)
        for g, axis in enumerate(axes[0, : len(games)]):
            axis.plot(phases, mean[:, g], marker="o", ms=3, label=_name(results, workdir))
            axis.fill_between(phases, mean[:, g] - std[:, g], mean[:, g] + std[:, g], alpha=0.2)
            axis.set_title(games[g], fontsize=9)
            axis.set_xlabel("after phase")
            axis.set_ylabel(unit, fontsize=8)
    axes[0, 0].legend(fontsize=7)
    played = runs[0]["seeds"][0]["phase_games"]
    for g, axis in enumerate(axes[0, : len(games)]):
        for p, game in enumerate(played):
            if game == g and phases is not None:
                axis.axvspan(p + 0.5, p + 1.5, color="grey", alpha=0.12, lw=0)
    for axis, results, workdir in zip(axes[1], runs, workdirs, strict=False):
        matrices, unit = _matrices(results)
        image = axis.imshow(matrices[0], aspect="auto", cmap="viridis")
        axis.set_title(f"{_name(results, workdir)}, seed {results['seeds'][0]['seed']}", fontsize=8)
        axis.set_xticks(range(len(games)), games, rotation=45, fontsize=7)
        axis.set_ylabel("after phase")
        figure.colorbar(image, ax=axis, label=unit, shrink=0.8)
    for axis in [*axes[0, len(games) :], *axes[1, len(runs) :]]:
        axis.axis("off")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return output
