"""Supervised continual learners, one module each, named in one registry.

```python
from agents import learners
from agents.learners import LEARNERS

learner_cls = learners.get("replay")      # or LEARNERS["replay"]
config = learner_cls.config_class(learning_rate=0.1, replay_batch_size=10)
learner = learner_cls(model, config=config, store=store)
loss = learner.train_step(x, y, task)
```

Adding a learner is one new module (its frozen config and its `Learner`
subclass) and one line in `LEARNERS`; the runner's flags come from the config's
fields. BUILD.md walks through an example.
"""

from typing import Any

from agents.learners.base import MASKED_LOGIT, OPTIMIZERS, Learner, LearnerConfig
from agents.learners.ewc import EwcConfig, EwcLearner
from agents.learners.gem import GemConfig, GemLearner
from agents.learners.icarl import IcarlConfig, IcarlLearner
from agents.learners.lwf import LwfConfig, LwfLearner
from agents.learners.online import OnlineConfig, OnlineLearner
from agents.learners.replay import ReplayConfig, ReplayLearner
from agents.registry import Registry

LEARNERS: Registry[type[Learner]] = Registry(
    "learner",
    "--learner",
    {
        "online": OnlineLearner,
        "replay": ReplayLearner,
        "gem": GemLearner,
        "ewc": EwcLearner,
        "lwf": LwfLearner,
        "icarl": IcarlLearner,
    },
)


def get(identifier: Any) -> type[Learner]:
    """The learner class a name, a {"name": ...} dict or the class identifies.

    Raises:
        ValueError: an unknown name or object (`agents.registry.Registry.resolve`).
    """
    return LEARNERS.resolve(identifier)


__all__ = [
    "LEARNERS",
    "MASKED_LOGIT",
    "OPTIMIZERS",
    "EwcConfig",
    "EwcLearner",
    "GemConfig",
    "GemLearner",
    "IcarlConfig",
    "IcarlLearner",
    "Learner",
    "LearnerConfig",
    "LwfConfig",
    "LwfLearner",
    "OnlineConfig",
    "OnlineLearner",
    "ReplayConfig",
    "ReplayLearner",
    "get",
]
