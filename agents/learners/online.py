"""Online learning: plain sequential fine-tuning, the paper's lower bound.

```
train_step   model step on (x, y)
```
"""

from __future__ import annotations

import dataclasses

from agents.learners.base import Learner, LearnerConfig


@dataclasses.dataclass(frozen=True)
class OnlineConfig(LearnerConfig):
    """Online learning has no settings beyond the optimizer's."""


class OnlineLearner(Learner):
    """Plain sequential fine-tuning on each incoming batch."""

    config_class = OnlineConfig
    supports_strategy = True
