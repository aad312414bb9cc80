"""A run's results: per-seed summaries, their aggregate, and the files they go to.

Where this sits: `agents.continual.loop` calls `seed_result` when a seed finishes
and `aggregate` at the end of the run; `agents.plotting` and `benchmarks.tables`
read what `aggregate` returns from workdir/results.json.

```
results.json
  stream, learner, storage (footprint kind), incremental_storage (the budget)
  budget              what the budget pays for: incremental (codes) or total (+ codec)
  footprint           recollect.Footprint.to_dict() of seed 0's learner (codec_bytes,
                      incremental_ and total_storage_raw_examples among its fields)
  retention_mean/std, bwt_mean/std, fwt_mean/std    over seeds (population std)
  per_seed            [{seed, retention, bwt, fwt, accuracy_matrix, initial_accuracy,
                        wall_seconds, train_seconds, steps, footprint, ...}]
                      with the drift probe on, also drift_matrix (row i: after task i;
                      column j: L1 distortion of task j's probe codes; None for j > i)
                      and drift_at_write (entry j: task j's when written)
  drift_matrix_mean/std, drift_at_write_mean/std    over seeds (drift probe on only)
  data                the stream's name, seed, options, sha256, shape, classes
accuracy_matrix_seed<s>.csv   row i: after task i; column j: test accuracy on task j
```
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.continual.config import ContinualConfig
from agents.continual.progress import ContinualProgress
from agents.experiment import mean_std
from agents.learners import Learner
from recollect import datasets, metrics


def seed_result(seed: int, progress: ContinualProgress, learner: Learner) -> dict[str, Any]:
    """One finished seed: retention, BWT, FWT, its matrices, timings and footprint."""
    matrix = np.asarray(progress.accuracy_matrix)
    initial = np.asarray(progress.initial_accuracy)
    summary = (
        metrics.summarize(matrix, initial)
        if len(matrix) > 1
        else {"retention": metrics.retention(matrix), "bwt": None, "fwt": None}
    )
    return {
        "seed": seed,
        "retention": summary["retention"],
        "bwt": summary["bwt"],
        "fwt": summary["fwt"],
        "accuracy_matrix": matrix.tolist(),
        "initial_accuracy": initial.tolist(),
        "wall_seconds": progress.wall_seconds,
        "train_seconds": progress.train_seconds,
        "steps": progress.steps,
        "footprint": learner.footprint().to_dict(),
        **learner.report(),
        **_drift(progress),
    }


def _drift(progress: ContinualProgress) -> dict[str, Any]:
    if not progress.drift_matrix:
        return {}
    return {"drift_matrix": progress.drift_matrix, "drift_at_write": progress.drift_at_write}


def aggregate(
    config: ContinualConfig, stream: datasets.TaskStream, per_seed: list[dict[str, Any]]
) -> dict[str, Any]:
    """Mean +- std over seeds and everything needed to trace the run to its data."""
    footprint = per_seed[0]["footprint"]
    out = {
        "stream": config.stream,
        "learner": config.learner,
        "storage": footprint["kind"],
        "incremental_storage": config.incremental_storage if config.uses_store else 0,
        "budget": config.budget,
        "footprint": footprint,
        "seeds": [r["seed"] for r in per_seed],
        **_mean_and_std(per_seed, ("retention", "bwt", "fwt")),
        "wall_seconds": float(sum(r["wall_seconds"] for r in per_seed)),
        "steps_per_seed": per_seed[0]["steps"],
        "per_seed": per_seed,
        "data": {
            k: stream.metadata.get(k)
            for k in ("name", "seed", "options", "sha256", "num_classes", "input_shape")
        },
        "data_note": (stream.metadata.get("source") or {}).get("note"),
        "std_is_population": True,
    }
    if stream.metadata.get("angles") is not None:
        out["data"]["angles"] = stream.metadata["angles"]
    if "drift_matrix" in per_seed[0]:
        for name in ("drift_matrix", "drift_at_write"):
            values = np.asarray([r[name] for r in per_seed], dtype=np.float64)  # None -> nan
            out[f"{name}_mean"] = _with_none(np.mean(values, axis=0))
            out[f"{name}_std"] = _with_none(np.std(values, axis=0))
    return out


def _with_none(values: np.ndarray) -> list:
    """A nested list of floats, None where values is nan (entries the run never measured)."""
    return [_with_none(v) if v.ndim else None if np.isnan(v) else float(v) for v in values]


def _mean_and_std(per_seed: list[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        summary = mean_std([r[name] for r in per_seed])
        out[f"{name}_mean"], out[f"{name}_std"] = summary["mean"], summary["std"]
    return out


def write_matrix_csv(path: str, matrix: list[list[float]]) -> None:
    """Writes an accuracy matrix as CSV: one row per task trained, one column per task."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["after_task", *[f"task_{j}" for j in range(len(matrix[0]))]])
        for i, row in enumerate(matrix):
            writer.writerow([i, *[f"{v:.4f}" for v in row]])
