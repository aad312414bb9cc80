"""Supervised continual learners, one module each, named in one registry.

```python
from agents.learners import LEARNERS

learner_cls = LEARNERS["replay"]
config = learner_cls.config_class(learning_rate=0.1, replay_batch_size=10)
learner = learner_cls(model, config=config, store=store)
loss = learner.train_step(x, y, task)
```

Adding a learner is one new module (its frozen config and its `Learner`
subclass) and one line in `LEARNERS`; the runner's flags come from the config's
fields. BUILD.md walks through an example.
"""

from agents.learners.base import MASKED_LOGIT, OPTIMIZERS, Learner, LearnerConfig
from agents.learners.ewc import EwcConfig, EwcLearner
from agents.learners.gem import GemConfig, GemLearner
from agents.learners.icarl import IcarlConfig, IcarlLearner
from agents.learners.lwf import LwfConfig, LwfLearner
from agents.learners.online import OnlineConfig, OnlineLearner
from agents.learners.replay import ReplayConfig, ReplayLearner

LEARNERS: dict[str, type[Learner]] = {
    "online": OnlineLearner,
    "replay": ReplayLearner,
    "gem": GemLearner,
    "ewc": EwcLearner,
    "lwf": LwfLearner,
    "icarl": IcarlLearner,
}

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
]
