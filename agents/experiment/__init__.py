"""The run layer every kind of run shares (continual, lifelong, and any new one).

```python
from agents import experiment

class MyExperiment:                       # an experiment.Experiment
    kind = "mine"
    def __init__(self, config): self.config = config
    def prepare(self): ...                # load data; bad settings raise ValueError here
    def run_seed(self, context): ...      # one seed: experiment.SeedState, context.stop
    def finish_seed(self, context): ...
    def aggregate(self, per_seed): ...    # results.json (the skeleton adds "kind")

results = experiment.run(MyExperiment(config), "runs/mine", resume=False)
```

Modules: `loop` (the skeleton `run`, the `Experiment` protocol, the workdir rule),
`state` (`SeedState` checkpoints, `Progress`, `StopSignal`, `RunInterrupted`),
`settings` (config checks, nested configs, `first_difference` for resume),
`files` (atomic JSON), `stats` (mean and std over seeds).
"""

from agents.experiment.files import read_json, write_json
from agents.experiment.loop import Experiment, SeedContext, check_workdir, run
from agents.experiment.state import Progress, RunInterrupted, SeedState, StopSignal
from agents.experiment.stats import mean_std

__all__ = [
    "Experiment",
    "Progress",
    "RunInterrupted",
    "SeedContext",
    "SeedState",
    "StopSignal",
    "check_workdir",
    "mean_std",
    "read_json",
    "run",
    "write_json",
]
