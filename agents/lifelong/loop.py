"""A whole lifelong run: run -> per seed -> per phase (one game) -> agent.step.

Where this sits: `runners/lifelong.py` parses flags into a `LifelongConfig` and
calls `run(config, workdir)`; tests call `run` directly.

```
run(config, workdir) = agents.experiment.run(LifelongExperiment(config), workdir)
  prepare: games, stores, byte budget and the strategy's batch split checked
           (bad settings fail here, before any step)
  for seed: run_seed                               workdir/seed_<s>/
    agent = DQNAgent(store=...); restore on resume
    random policy's evaluation returns (the 0 of the normalisation)
    for phase in range(cycles * len(games)): _run_phase
      steps_per_phase env steps: agent.step (observe, learn, act) per step
      greedy evaluation on every game -> return-matrix row; checkpoint
    seed_<s>/result.json, return_matrix_seed<s>.csv
  aggregate -> results.json (kind "lifelong", mean +- std over seeds, footprint, speed)
```

The workdir rule, seeds, stop signals and results.json are
`agents.experiment.run`'s; this module is what a lifelong seed does.

Every episode starts from a seed made of (run seed, phase, episode), and the
agent, its memory and their random generators are checkpointed after every
phase, so a run killed at any point continues with `resume=True` from the start
of the phase it was in and ends with the same results as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf
import tqdm

from agents import experiment, strategies
from agents.experiment import SeedContext, SeedState, StopSignal, read_json, write_json
from agents.lifelong import envs, results
from agents.lifelong.config import LifelongConfig
from agents.lifelong.phases import (
    LifelongProgress,
    SeedRun,
    evaluate,
    make_agent,
    run_phase,
)


class LifelongExperiment:
    """A lifelong run as an `agents.experiment.Experiment`: phases of games, returns.

    Args:
        config: the run's `LifelongConfig`.
        references: game -> a single-game agent's return (see `run_references`),
            to normalise returns; None reports raw returns only.
    """

    kind: ClassVar[str] = "lifelong"

    def __init__(
        self, config: LifelongConfig, references: Mapping[str, float] | None = None
    ) -> None:
        self.config = config
        self.references = references
        self.reference_list: list[float] | None = None
        self.footprint: dict[str, Any] = {}
        self.strategy: tf.distribute.Strategy | None = None  # None: one device

    def prepare(self) -> None:
        """Checks references, games, shapes and the store's budget (fails before any step)."""
        self.reference_list = check_references(self.config, self.references)
        self.strategy = strategies.make(self.config.strategy)
        strategies.check_divisible(self.strategy, {"batch_size": self.config.agent.batch_size})
        probe = envs.make_games(self.config.games)
        try:
            store = make_agent(self.config, probe, self.config.seeds[0], self.strategy).store
            self.footprint = store.footprint()
        finally:
            for game in probe:
                game.close()

    def run_seed(self, context: SeedContext) -> dict:
        """Runs (or resumes) one seed to its end; returns its result."""
        config = self.config
        games = envs.make_games(config.games)
        agent = make_agent(config, games, context.seed, self.strategy)
        state = SeedState(context.directory, agent, LifelongProgress)
        if context.resume:
            state.restore(
                agree=lambda newest: strategies.lowest_across_workers(self.strategy, newest)
            )
        progress = state.progress
        total = config.num_phases * config.steps_per_phase
        bar = tqdm.tqdm(
            total=total,
            initial=progress.env_steps,
            disable=not context.show_progress,
            desc=f"seed {context.seed}",
        )
        writer = tf.summary.create_file_writer(os.path.join(context.directory, "tensorboard"))
        run = SeedRun(context.seed, games, agent, state, writer, bar)
        try:
            if progress.random_returns is None:
                start = time.perf_counter()
                progress.random_returns = evaluate(config, run, -1, epsilon=1.0)[0]
                progress.eval_seconds += time.perf_counter() - start
                state.save()
            while progress.phase < config.num_phases:
                _timed_phase(config, run, context.stop, context.stop_after_steps)
            return _finish_seed(config, run, context.directory, self.reference_list)
        finally:
            run.bar.close()
            for game in games:
                game.close()

    def finish_seed(self, context: SeedContext) -> None:
        """Keeps the seed's last checkpoint (`benchmarks.frame_codecs` reads it)."""
        del context

    def aggregate(self, per_seed: list[dict]) -> dict:
        """Mean +- std over seeds, the footprint and the references."""
        footprint = measured_footprint(self.footprint, [s["footprint"] for s in per_seed])
        return {
            "config": self.config.to_dict(),
            "footprint": footprint,
            "references": dict(self.references) if self.references else None,
            **results.aggregate(per_seed),
            "seeds": [{k: v for k, v in s.items() if k != "episodes"} for s in per_seed],
        }


def _timed_phase(
    config: LifelongConfig, run: SeedRun, stop: StopSignal, stop_after_steps: int | None
) -> None:
    """One phase, its evaluation and its checkpoint, with the time each took."""
    progress = run.state.progress
    start = time.perf_counter()
    run_phase(config, run, stop, stop_after_steps)
    trained = time.perf_counter()
    row, errors = evaluate(config, run, progress.phase)
    done = time.perf_counter()
    progress.return_matrix.append(row)
    progress.frame_error_matrix.append(errors)
    with run.writer.as_default(step=progress.env_steps):
        for game, value, error in zip(run.games, row, errors, strict=True):
            tf.summary.scalar(f"eval_return/{game.name}", value)
            tf.summary.scalar(f"frame_error/{game.name}", error)
    run.writer.flush()
    progress.phase += 1
    progress.train_seconds += trained - start
    progress.eval_seconds += done - trained
    progress.wall_seconds += done - start
    run.state.save()


def _finish_seed(
    config: LifelongConfig, run: SeedRun, directory: str, references: Sequence[float] | None
) -> dict:
    progress = run.state.progress
    store = run.agent.store
    extras = {
        "footprint": store.footprint(),
        "env_steps": progress.env_steps,
        "train_seconds": progress.train_seconds,
        "eval_seconds": progress.eval_seconds,
        "wall_seconds": progress.wall_seconds,
        "train_steps_per_second": progress.env_steps / max(progress.train_seconds, 1e-9),
        "eval_steps_per_second": progress.eval_steps / max(progress.eval_seconds, 1e-9),
        "episodes": progress.episodes,
        "frame_error_matrix": progress.frame_error_matrix,
    }
    result = results.seed_result(
        seed=run.seed,
        games=config.games,
        cycles=config.cycles,
        returns=np.asarray(progress.return_matrix),
        random_returns=progress.random_returns or [],
        references=references,
        extras=extras,
    )
    header = ",".join(result["games"])
    np.savetxt(
        os.path.join(directory, f"return_matrix_seed{run.seed}.csv"),
        np.asarray(progress.return_matrix),
        delimiter=",",
        header=header,
        comments="",
    )
    return result


def check_references(
    config: LifelongConfig, references: Mapping[str, float] | None
) -> list[float] | None:
    """The reference return of every game in the cycle, in game-id order.

    Raises:
        ValueError: if a game of the cycle has no reference.
    """
    if references is None:
        return None
    missing = [g for g in config.distinct_games if g not in references]
    if missing:
        raise ValueError(
            f"Expected a reference return for every game. Received: none for {missing}"
        )
    return [float(references[g]) for g in config.distinct_games]


def run(
    config: LifelongConfig,
    workdir: str,
    *,
    resume: bool = False,
    progress: bool = True,
    references: Mapping[str, float] | None = None,
    stop_after_steps: int | None = None,
    files: Mapping[str, str] | None = None,
) -> dict:
    """Runs the agent over the cycle of games for every seed; writes results.

    Args:
        config: the run's `LifelongConfig`.
        workdir: output directory (created): results.json, config.json, per-seed
            checkpoints, return matrices (CSV) and TensorBoard logs.
        resume: continue from the checkpoints in workdir; without it a workdir
            that holds a run is refused, and with it an empty one is.
        progress: show a progress bar.
        references: game -> a single-game agent's return (see `run_references`),
            to normalise returns; None reports raw returns only.
        stop_after_steps: stop (as on SIGTERM) once a seed reaches this many
            environment steps; for tests of resumption.
        files: more text files to write into workdir (the runner's flags.txt).

    Returns:
        The results dict also written to workdir/results.json.

    Raises:
        ValueError: bad config, games, budget or workdir, before any step.
        RunInterrupted: on SIGINT/SIGTERM or stop_after_steps; the last finished
            phase's checkpoint is kept.
    """
    return experiment.run(
        LifelongExperiment(config, references),
        workdir,
        resume=resume,
        progress=progress,
        stop_after_steps=stop_after_steps,
        files=files,
    )


def measured_footprint(made: Mapping[str, Any], seeds: Sequence[Mapping[str, Any]]) -> dict:
    """A store's footprint when made, with the mean over seeds of what changed by the end.

    A fixed-size store reports the same numbers throughout; one whose rows vary in
    size (`LosslessTransitions`) measures transitions held and bits a frame at the
    end of each seed.
    """
    out = dict(made)
    for key, value in made.items():
        ended = [seed[key] for seed in seeds]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in ended) and any(
            v != value for v in ended
        ):
            mean = float(np.mean(ended))
            out[key] = round(mean) if all(isinstance(v, int) for v in ended) else round(mean, 1)
    return out


def run_references(
    config: LifelongConfig, workdir: str, *, resume: bool = False, progress: bool = True
) -> dict[str, float]:
    """Trains a fresh agent on each game alone, with the steps it gets in the cycle.

    Each game's run is the lifelong run with games=(game,) (cycles phases of
    steps_per_phase), in workdir/<game>/; the mean final return over seeds is
    that game's reference, written to workdir/references.json.

    Returns:
        game -> reference return.
    """
    references = {}
    for game in config.distinct_games:
        single = dataclasses.replace(config, games=(game,))
        directory = os.path.join(workdir, game.replace(":", "_").replace("/", "_"))
        if os.path.exists(os.path.join(directory, "results.json")) and resume:
            done = read_json(os.path.join(directory, "results.json"))
        else:
            if os.path.exists(directory) and not resume:
                shutil.rmtree(directory)
            started = os.path.exists(os.path.join(directory, "config.json"))
            done = run(single, directory, resume=resume and started, progress=progress)
        references[game] = done["final_returns"][game]["mean"]
    os.makedirs(workdir, exist_ok=True)
    write_json(os.path.join(workdir, "references.json"), references)
    return references
