"""The skeleton every kind of run shares: workdir, seeds, stop signals, results.

Where this sits: `agents.continual.run`, `agents.lifelong.run` and
`agents.distill.run` each build an `Experiment` (what is trained, how a seed runs,
how seeds add up) and hand it to `run`, which owns everything around it:

```
run(experiment, workdir)                    workdir/config.json, results.json
  check_workdir                             strict: a run in workdir needs --resume,
                                            --resume needs a run, settings must match
  experiment.prepare()                      data, budgets, games: bad settings fail here
  config.json (+ the runner's files)
  with StopSignal: for seed in config.seeds
    seed_<s>/result.json exists -> read it  (a finished seed is not rerun)
    else experiment.run_seed(context)       phases, checkpoints, RunInterrupted on stop
         -> seed_<s>/result.json; experiment.finish_seed(context)
  {"kind": experiment.kind, **experiment.aggregate(per_seed)} -> results.json
```

A new kind of run is one module with an `Experiment`; it gets resume, stop
signals, the workdir rule and results with a `kind` (which `agents.plotting`
dispatches on) from here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from agents.experiment import settings
from agents.experiment.files import read_json, write_json, write_texts
from agents.experiment.state import StopSignal


class RunConfig(Protocol):
    """What the skeleton needs of a run's config."""

    @property
    def seeds(self) -> Sequence[int]:
        """The run seeds, in order."""
        ...

    def to_dict(self) -> dict:
        """The settings as JSON-ready values (config.json)."""
        ...


@dataclasses.dataclass
class SeedContext:
    """What one seed's run gets from the skeleton.

    Attributes:
        seed: the run seed.
        directory: workdir/seed_<seed> (created).
        workdir: the run's directory.
        resume: continue from the seed's checkpoint, if it has one.
        show_progress: show a progress bar.
        stop: the run's stop signal; check `stop.raised` between steps.
        stop_after_steps: the test hook: stop (as on SIGTERM) after this many steps.
    """

    seed: int
    directory: str
    workdir: str
    resume: bool
    show_progress: bool
    stop: StopSignal
    stop_after_steps: int | None


class Experiment(Protocol):
    """One kind of run: what the skeleton calls (see the module's diagram)."""

    kind: ClassVar[str]

    @property
    def config(self) -> RunConfig:
        """The run's frozen settings."""
        ...

    def prepare(self) -> None:
        """Loads and checks everything a seed needs; raises ValueError on bad settings."""

    def run_seed(self, context: SeedContext) -> dict:
        """Runs (or resumes) one seed to its end; returns its JSON-ready result."""

    def finish_seed(self, context: SeedContext) -> None:
        """Tidies a seed once its result.json is written (e.g. drops its checkpoints)."""

    def aggregate(self, per_seed: list[dict]) -> dict:
        """The run's results over its seeds (without `kind`, which the skeleton adds)."""


def run(
    experiment: Experiment,
    workdir: str,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
    files: Mapping[str, str] | None = None,
) -> dict:
    """Runs every seed of experiment in workdir; writes and returns results.json's dict.

    Args:
        experiment: the kind of run, built from its config.
        workdir: output directory (created).
        resume: continue the run in workdir from its checkpoints.
        progress: show progress bars.
        stop_after_steps: stop (as on SIGTERM) after this many steps; for tests.
        files: more text files to write into workdir once the settings are known
            to work (the runner's flags.txt), name -> content.

    Raises:
        ValueError: a workdir that breaks the rule of `check_workdir`, or bad
            settings, before anything is written.
        RunInterrupted: on SIGINT/SIGTERM or stop_after_steps.
    """
    config = experiment.config
    check_workdir(config, workdir, resume)
    experiment.prepare()
    os.makedirs(workdir, exist_ok=True)
    write_json(os.path.join(workdir, "config.json"), config.to_dict())
    write_texts(workdir, files)
    per_seed = []
    with StopSignal() as stop:
        for seed in config.seeds:
            context = SeedContext(
                seed=seed,
                directory=os.path.join(workdir, f"seed_{seed}"),
                workdir=workdir,
                resume=resume,
                show_progress=progress,
                stop=stop,
                stop_after_steps=stop_after_steps,
            )
            per_seed.append(_seed_result(experiment, context))
    results = {"kind": experiment.kind, **experiment.aggregate(per_seed)}
    write_json(os.path.join(workdir, "results.json"), results)
    return results


def _seed_result(experiment: Experiment, context: SeedContext) -> dict:
    path = os.path.join(context.directory, "result.json")
    if os.path.exists(path):
        return read_json(path)
    os.makedirs(context.directory, exist_ok=True)
    result = experiment.run_seed(context)
    write_json(path, result)
    experiment.finish_seed(context)
    return result


def check_workdir(config: Any, workdir: str, resume: bool) -> None:
    """The workdir rule every runner shares.

    Raises:
        ValueError: `resume` on a workdir without a run (no config.json); no
            `resume` on one with a run; or `resume` with settings that differ
            from the saved config.json (`settings.first_difference`). The
            strategy may differ: checkpoints are a single device's, and a run
            resumes under any strategy (config.json records the last one).
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        if resume:
            raise ValueError(
                f"Expected a --workdir holding a run to --resume. Received: {workdir} has no "
                "config.json; drop --resume to start a new run there."
            )
        return
    if not resume:
        raise ValueError(
            f"Expected an empty --workdir or --resume. Received: {workdir} already holds a "
            "run; pass --resume to continue it or choose another --workdir."
        )
    difference = settings.first_difference(config, read_json(path), ignore=("strategy",))
    if difference is not None:
        raise ValueError(
            f"Expected the same settings to resume {workdir}. Received: settings that differ "
            f"from its config.json ({difference}); rerun with the original flags."
        )
