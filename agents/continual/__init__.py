"""Continual-learning runs: a config, its parts, the run loop and its results.

```python
from agents import continual

config = continual.ContinualConfig(
    stream="mnist_rotations", learner="replay", storage="recollections",
    incremental_storage=100, store_config={"items": 3000, "num_categories": 4},
)
results = continual.run(config, "runs/replay")   # results.json, checkpoints, CSVs
```

Modules: `config` (ContinualConfig), `build` (stream, storage plan, learner),
`loop` (run -> seed -> task), `checkpoint` (progress and checkpoints on disk),
`results` (per-seed summaries and their aggregate), `drift` (the code-drift probe,
`drift_probe_items`).
"""

from agents.continual.build import build_learner, load_stream, plan_storage
from agents.continual.config import ContinualConfig
from agents.continual.loop import RunInterrupted, run

__all__ = [
    "ContinualConfig",
    "RunInterrupted",
    "build_learner",
    "load_stream",
    "plan_storage",
    "run",
]
