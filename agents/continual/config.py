"""The frozen settings of a continual run, checked when they are made.

Where this sits: `runners/continual.py` builds a `ContinualConfig` from flags (or a
test builds one directly) and passes it to `agents.continual.run`. The learner's
and the store's own settings are the config classes that `LEARNERS` and `STORES`
name, so a new learner or store brings its settings with it.

```
ContinualConfig
  stream, data_dir, data_seed, stream_options      which tasks (recollect.datasets)
  model, model_options, multi_head                 the predictive model (agents.models)
  learner, learner_config                          LEARNERS[learner].config_class(...)
  storage, incremental_storage, budget, store_config
                                                   STORES[storage].config_class(...);
                                                   budget: what incremental_storage pays for
  batch_size, seeds, eval_batch_size, strategy     how it runs (strategy: agents.strategies)
  drift_probe_items                                what it measures beside (agents.continual.drift)
```
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Mapping
from typing import Any

from agents import models, strategies
from agents.experiment import settings
from agents.experiment.settings import as_config, is_int
from agents.learners import LEARNERS, Learner
from agents.learners.base import check_config
from agents.stores import STORES
from recollect import budget as budget_lib
from recollect import datasets


def _model_keywords(model: str) -> set[str]:
    builder = models.MODELS[model]
    return {
        p.name
        for p in inspect.signature(builder).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


@dataclasses.dataclass(frozen=True)
class ContinualConfig:
    """Everything a continual run depends on; invalid values raise ValueError here.

    Attributes:
        stream: a `recollect.datasets.STREAM_NAMES` entry.
        data_dir: data root (None: $RECOLLECT_DATA_DIR, else tensorflow_datasets).
        data_seed: seeds the stream's construction (angles, samples); the same for
            every run seed, so seeds differ only in the learner.
        stream_options: fields of the stream's options class, e.g.
            {"examples_per_task": 1000}.
        batch_size: incoming examples per step.
        model: a key of `agents.models.MODELS`.
        model_options: keyword arguments of the model builder.
        multi_head: restrict each task's outputs to its own classes.
        learner: a key of `agents.learners.LEARNERS`.
        learner_config: that learner's config, or a mapping of its fields
            (None: its defaults).
        storage: a key of `agents.stores.STORES` (for learners that keep a store).
        incremental_storage: the storage budget in raw examples.
        budget: what that budget pays for (`recollect.budget.BUDGETS`):
            "incremental", the stored codes or examples (the paper's eq. 4), or
            "total", the codec's float32 parameters too (eq. 5); real storage has
            no codec, so both are the same for it.
        store_config: that store's config, or a mapping of its fields (None: its
            defaults).
        seeds: run seeds.
        eval_batch_size: test rows per compiled call of evaluation (smaller holds
            less memory; on CPU every size gives the same accuracies).
        drift_probe_items: first training examples per task whose codes the drift
            probe follows (kept outside the storage budget; training is unchanged),
            decoded after every task to measure code drift (the paper's Figure 5);
            0: off. Needs a store that keeps codes (--storage=recollections).
        strategy: the tf.distribute strategy each step runs under
            (`agents.strategies.STRATEGIES`): default (one device), mirrored or
            multi_worker; the batch is split over the replicas.
    """

    stream: str = "mnist_rotations"
    data_dir: str | None = None
    data_seed: int = 0
    stream_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    batch_size: int = 10
    model: str = "mlp"
    model_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    multi_head: bool = False
    learner: str = "replay"
    learner_config: Any = None
    storage: str = "recollections"
    incremental_storage: float = 100.0
    budget: str = "incremental"
    store_config: Any = None
    seeds: tuple[int, ...] = (0,)
    eval_batch_size: int = 2000
    drift_probe_items: int = 0
    strategy: str = "default"

    def __post_init__(self) -> None:
        """Checks every setting and turns config mappings into the registered classes."""
        check_config(
            self.learner in LEARNERS,
            f"--learner among {sorted(LEARNERS)}",
            f"learner={self.learner!r}",
        )
        check_config(
            self.storage in STORES,
            f"--storage among {sorted(STORES)}",
            f"storage={self.storage!r}",
        )
        check_config(
            self.budget in budget_lib.BUDGETS,
            f"--budget among {budget_lib.BUDGETS}",
            f"budget={self.budget!r}",
        )
        object.__setattr__(
            self, "learner_config", as_config(self.learner_config, self.learner_class.config_class)
        )
        object.__setattr__(
            self, "store_config", as_config(self.store_config, STORES[self.storage].config_class)
        )
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "stream_options", dict(self.stream_options))
        object.__setattr__(self, "model_options", dict(self.model_options))
        self._check_run()

    def _check_run(self) -> None:
        check_config(
            self.model in models.MODELS,
            f"--model among {sorted(models.MODELS)}",
            f"model={self.model!r}",
        )
        check_config(
            self.stream in datasets.STREAM_NAMES,
            f"--stream among {datasets.STREAM_NAMES}",
            f"stream={self.stream!r}",
        )
        check_config(
            bool(self.seeds) and all(is_int(s, 0) for s in self.seeds),
            "--seeds non-negative ints",
            f"seeds={self.seeds!r}",
        )
        check_config(is_int(self.data_seed, 0), "--data_seed >= 0", f"data_seed={self.data_seed!r}")
        unknown = sorted(set(self.model_options) - _model_keywords(self.model))
        check_config(
            not unknown,
            f"model options of {self.model} among {sorted(_model_keywords(self.model))}",
            f"unknown {unknown}",
        )
        check_config(
            all(is_int(v, 0) for v in self.model_options.values()),
            "model sizes as non-negative ints",
            f"model_options={self.model_options!r}",
        )
        check_config(
            isinstance(self.multi_head, bool), "--multi_head a bool", f"{self.multi_head!r}"
        )
        check_config(
            len(set(self.seeds)) == len(self.seeds), "distinct --seeds", f"seeds={self.seeds!r}"
        )
        check_config(
            is_int(self.batch_size, 1), "--batch_size >= 1", f"batch_size={self.batch_size!r}"
        )
        check_config(
            is_int(self.eval_batch_size, 1),
            "--eval_batch_size >= 1",
            f"eval_batch_size={self.eval_batch_size!r}",
        )
        check_config(
            not isinstance(self.incremental_storage, bool)
            and isinstance(self.incremental_storage, int | float)
            and (not self.uses_store or self.incremental_storage > 0),
            f"--incremental_storage > 0 for {self.learner}",
            f"incremental_storage={self.incremental_storage}",
        )
        self._check_drift_probe()
        self._check_strategy()

    def _check_strategy(self) -> None:
        check_config(
            self.strategy in strategies.STRATEGIES,
            f"--strategy among {list(strategies.STRATEGIES)}",
            f"strategy={self.strategy!r}",
        )
        if self.strategy == "default":
            return
        learners = sorted(n for n, c in LEARNERS.items() if c.supports_strategy)
        stores = sorted(n for n, c in STORES.items() if getattr(c, "supports_strategy", False))
        check_config(
            self.learner_class.supports_strategy
            and (not self.uses_store or self.storage in stores),
            f"--strategy={self.strategy} with a --learner among {learners} (and a --storage "
            f"among {stores})",
            f"learner={self.learner!r}, storage={self.storage!r}",
        )
        check_config(
            self.drift_probe_items == 0,
            f"--drift_probe_items=0 with --strategy={self.strategy}",
            f"drift_probe_items={self.drift_probe_items}",
        )

    def _check_drift_probe(self) -> None:
        check_config(
            is_int(self.drift_probe_items, 0),
            "--drift_probe_items >= 0",
            f"drift_probe_items={self.drift_probe_items!r}",
        )
        keeping = sorted(name for name, store in STORES.items() if store.keeps_codes)
        replaying = sorted(name for name, learner in LEARNERS.items() if learner.needs_store)
        check_config(
            self.drift_probe_items == 0 or (self.uses_store and STORES[self.storage].keeps_codes),
            f"--drift_probe_items=0 unless a --learner among {replaying} replays from a "
            f"store that keeps codes (--storage among {keeping})",
            f"drift_probe_items={self.drift_probe_items}, learner={self.learner!r}, "
            f"storage={self.storage!r}",
        )

    @property
    def learner_class(self) -> type[Learner]:
        """The registered learner class."""
        return LEARNERS[self.learner]

    @property
    def uses_store(self) -> bool:
        """Whether the learner keeps an episodic store."""
        return self.learner_class.needs_store

    def to_dict(self) -> dict:
        """A JSON-ready dict; `from_dict` reads it back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ContinualConfig:
        """The config a `to_dict` result describes."""
        return cls(**values)

    def first_difference(self, other: Mapping[str, Any]) -> str | None:
        """'name: this != other' for the first setting that differs from a to_dict; else None.

        A setting that `other` lacks (a run written before the setting existed) is
        no difference while this config leaves it at its default.
        """
        return settings.first_difference(self, other)
