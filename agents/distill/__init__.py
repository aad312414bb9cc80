"""Generative distillation: a teacher's knowledge passed to new students through recollections.

The paper's "Scalable Recollections for Distillation" (Tables 7-9, Figure 4,
Algorithm 3) as a kind of run on `agents.experiment`:

```python
from agents import distill

config = distill.DistillConfig(compressions=(10, 50, 100), samplers=("uniform", "active_diverse"))
results = distill.run(config, "runs/distill")   # results.json, kind "distill"
```

Modules, in the order a seed uses them:

```
config         DistillConfig (frozen, checked) and the Methods a seed trains
networks       lenet (the teacher, the cnn student), STUDENTS
teacher        train / save / load the teacher; accuracy_fn for any model
recollections  a code shape per total compression; build, fill, describe a memory
sources        where a method's inputs come from (real, subset, recollections, codes)
samplers       which candidates a student trains on (uniform, active, active_diverse, dpp)
student        StudentState (checkpointed) and the compiled train_step
progress       DistillProgress; results: per-seed results and their aggregate
loop           DistillExperiment and run
plotting       learning curves: test accuracy against episodes
```
"""

from agents.distill.config import BASELINES, DistillConfig, Method
from agents.distill.loop import DistillExperiment, run
from agents.distill.samplers import SAMPLERS, Sampler, build_sampler

__all__ = [
    "BASELINES",
    "SAMPLERS",
    "DistillConfig",
    "DistillExperiment",
    "Method",
    "Sampler",
    "build_sampler",
    "run",
]
