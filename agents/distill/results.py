"""A distillation run's results: per-seed learning curves and their mean and std.

Where this sits: `agents.distill.loop` calls `seed_result` when a seed finishes and
`aggregate` at the end of the run; `agents.distill.plotting` draws what `aggregate`
returns from workdir/results.json.

```
results.json  (kind "distill")
  episodes          the test points, in examples trained on
  methods           method names, in the order trained ("cnn/recollections_10x/uniform")
  curves            method -> {"mean": [per test point], "std": [...]} over seeds
                    (test accuracy in [0, 1], population std)
  teacher_accuracy  {"mean", "std"} over seeds
  memories          seed 0's: key(compression) -> code shape, storage (raw examples,
                    codec counted in total_storage), l1_distortion
  students, samplers, compressions, baselines, subset_percents, batch_size,
  learning_rate, seeds, data (source, format, files' sha256)
  per_seed          [{seed, teacher_accuracy, curves, memories, wall_seconds, ...}]
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.distill.config import DistillConfig
from agents.distill.progress import DistillProgress
from agents.distill.samplers import build_sampler
from agents.experiment import mean_std


def seed_result(seed: int, progress: DistillProgress) -> dict[str, Any]:
    """One finished seed: its teacher, curves, memories and timings."""
    return {
        "seed": seed,
        "teacher_accuracy": progress.teacher_accuracy,
        "curves": progress.curves,
        "memories": progress.memories,
        "wall_seconds": progress.wall_seconds,
        "train_seconds": progress.train_seconds,
        "teacher_seconds": progress.teacher_seconds,
        "steps": progress.steps,
    }


def curve_summary(per_seed: list[list[float]]) -> dict[str, list]:
    """{"mean": [...], "std": [...]} per test point of one method's curves, one per seed."""
    summaries = [mean_std(list(values)) for values in zip(*per_seed, strict=True)]
    return {"mean": [s["mean"] for s in summaries], "std": [s["std"] for s in summaries]}


def aggregate(
    config: DistillConfig, per_seed: list[dict[str, Any]], data: Mapping[str, Any]
) -> dict[str, Any]:
    """Mean +- std over seeds per method and test point, and what the run was."""
    names = [method.name for method in config.methods()]
    curves = {name: curve_summary([seed["curves"][name] for seed in per_seed]) for name in names}
    return {
        "episodes": list(config.episodes),
        "methods": names,
        "curves": curves,
        "teacher_accuracy": mean_std([seed["teacher_accuracy"] for seed in per_seed]),
        "memories": per_seed[0]["memories"],
        "students": list(config.students),
        "samplers": [
            build_sampler(name, k=config.sampler_k, n=config.sampler_n).get_config()
            for name in config.samplers
        ],
        "compressions": list(config.compressions),
        "baselines": list(config.baselines),
        "subset_percents": list(config.subset_percents),
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seeds": [seed["seed"] for seed in per_seed],
        "wall_seconds": float(sum(seed["wall_seconds"] for seed in per_seed)),
        "per_seed": per_seed,
        "data": dict(data),
        "std_is_population": True,
    }
