"""A whole lifelong run: run -> per seed -> per phase (one game) -> agent.step.

Where this sits: `runners/lifelong.py` parses flags into a `LifelongConfig` and
calls `run(config, workdir)`; tests call `run` directly.

```
run(config, workdir)                               workdir/config.json, results.json
  games, stores and byte budget checked (bad settings fail here, before any step)
  for seed: _run_seed                              workdir/seed_<s>/
    agent = DQNAgent(store=...); restore on resume
    random policy's evaluation returns (the 0 of the normalisation)
    for phase in range(cycles * len(games)): _run_phase
      steps_per_phase env steps: agent.step (observe, learn, act) per step
      greedy evaluation on every game -> return-matrix row; checkpoint
    seed_<s>/result.json, return_matrix_seed<s>.csv
  aggregate -> results.json (mean +- std over seeds, footprint, speed)
```

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

import numpy as np
import tensorflow as tf
import tqdm

from agents.continual.checkpoint import SeedState, StopSignal, read_json, write_json
from agents.continual.loop import RunInterrupted
from agents.lifelong import envs, results
from agents.lifelong.config import LifelongConfig
from agents.lifelong.dqn import DQNAgent
from agents.lifelong.stores import make_store

FRAME_ERROR_STRIDE = 4  # every 4th evaluation frame is coded for the frame error


@dataclasses.dataclass
class LifelongProgress:
    """Where a seed's run stands; saved with every checkpoint.

    Attributes:
        phase: the next phase to train (== num_phases when done).
        env_steps: environment steps taken in finished phases.
        return_matrix: row p: mean evaluation return on every game after phase p.
        frame_error_matrix: row p: the memory's frame error on every game's
            evaluation frames after phase p (see `evaluate`).
        random_returns: the random policy's evaluation return on every game.
        episodes: [env_step, game id, return] of every finished training episode.
        eval_steps: environment steps taken by the evaluations (acting only).
        wall_seconds, train_seconds, eval_seconds: time spent in this seed.
        checkpoint, checkpoint_number, checkpoint_files: as `Progress`.
    """

    phase: int = 0
    env_steps: int = 0
    return_matrix: list[list[float]] = dataclasses.field(default_factory=list)
    frame_error_matrix: list[list[float]] = dataclasses.field(default_factory=list)
    random_returns: list[float] | None = None
    episodes: list[list[float]] = dataclasses.field(default_factory=list)
    eval_steps: int = 0
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    checkpoint: str | None = None
    checkpoint_number: int = 0
    checkpoint_files: dict[str, dict] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Seed:
    seed: int
    games: list[envs.Game]
    agent: DQNAgent
    state: SeedState
    writer: tf.summary.SummaryWriter
    bar: tqdm.tqdm


def episode_seed(seed: int, phase: int, episode: int, *, evaluation: bool = False) -> int:
    """The environment seed of one episode: distinct for every (seed, phase, episode)."""
    entropy = [seed, phase + 1, episode, int(evaluation)]  # phase -1: before training
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def epsilon_at(config: LifelongConfig, step_in_phase: int) -> float:
    """Linear annealing from epsilon_start to epsilon_end over each phase's first steps."""
    agent = config.agent
    if agent.epsilon_decay_steps == 0:
        return agent.epsilon_end
    fraction = min(step_in_phase / agent.epsilon_decay_steps, 1.0)
    return agent.epsilon_start + fraction * (agent.epsilon_end - agent.epsilon_start)


def make_agent(config: LifelongConfig, games: Sequence[envs.Game], seed: int) -> DQNAgent:
    """The agent and its memory for one seed (raises ValueError on a budget too small)."""
    first = games[0]
    store = make_store(
        config.storage,
        obs_shape=first.obs_shape,
        binary=all(g.binary for g in games),
        num_actions=first.num_actions,
        num_games=len(games),
        memory_bytes=config.memory_bytes,
        policy=config.write_policy,
        seed=seed,
        codec=config.codec,
    )
    return DQNAgent(
        config.agent,
        store=store,
        obs_shape=first.obs_shape,
        num_actions=first.num_actions,
        num_games=len(games),
        task_aware=config.task_aware,
        seed=seed,
    )


def evaluate(
    config: LifelongConfig, run: _Seed, phase: int, epsilon: float | None = None
) -> tuple[list[float], list[float]]:
    """Evaluation on every game (epsilon: eval_epsilon).

    Returns:
        (mean return of eval_episodes episodes per game, the memory's frame error
        per game: mean summed |decode(encode(frame)) - frame| over the episodes'
        frames, 0 for raw storage).
    """
    epsilon = config.eval_epsilon if epsilon is None else epsilon
    means, errors = [], []
    for game_id, game in enumerate(run.games):
        returns, frames = [], []
        for episode in range(config.eval_episodes):
            obs = game.reset(episode_seed(run.seed, phase, episode, evaluation=True))
            total = 0.0
            for _ in range(config.eval_max_steps):
                action = run.agent.act(obs[None], np.array([game_id], np.int32), epsilon)
                obs, reward, terminated, truncated = game.step(int(action[0]))
                total += reward
                frames.append(obs)
                run.state.progress.eval_steps += 1
                if terminated or truncated:
                    break
            returns.append(total)
        means.append(float(np.mean(returns)))
        errors.append(run.agent.store.frame_error(np.stack(frames[::FRAME_ERROR_STRIDE])))
    return means, errors


def _transition(
    obs: np.ndarray,
    action: int,
    reward: float,
    terminated: bool,
    next_obs: np.ndarray,
    game_id: int,
) -> dict[str, np.ndarray]:
    return {
        "obs": obs[None],
        "next_obs": next_obs[None],
        "action": np.array([action], np.int32),
        "reward": np.array([reward], np.float32),
        "discount": np.array([0.0 if terminated else 1.0], np.float32),
        "game": np.array([game_id], np.int32),
    }


def _run_phase(config: LifelongConfig, run: _Seed, stop: StopSignal, stop_at: int | None) -> None:
    """Trains one phase on its game; raises RunInterrupted (nothing saved) on a stop."""
    progress = run.state.progress
    game_id = results.phase_games(config.games, config.cycles)[progress.phase]
    game, agent = run.games[game_id], run.agent
    episode, total = 0, 0.0
    obs = game.reset(episode_seed(run.seed, progress.phase, episode))
    action = int(agent.act(obs[None], np.array([game_id], np.int32), epsilon_at(config, 0))[0])
    steps = progress.env_steps
    for t in range(config.steps_per_phase):
        if stop.raised is not None or steps == stop_at:
            raise RunInterrupted(f"stopped in phase {progress.phase}; resume re-runs it")
        next_obs, reward, terminated, truncated = game.step(action)
        epsilon = epsilon_at(config, t + 1)
        out = agent.step(
            _transition(obs, action, reward, terminated, next_obs, game_id),
            tf.constant(epsilon, tf.float32),
            tf.constant(agent.learn_ready(steps)),
        )
        steps, total = steps + 1, total + reward
        action, obs = int(out["action"][0]), next_obs
        if terminated or truncated:
            progress.episodes.append([steps, game_id, total])
            with run.writer.as_default(step=steps):
                tf.summary.scalar(f"train_return/{game.name}", total)
            episode, total = episode + 1, 0.0
            obs = game.reset(episode_seed(run.seed, progress.phase, episode))
            action = int(agent.act(obs[None], np.array([game_id], np.int32), epsilon)[0])
        run.bar.update(1)
    progress.env_steps = steps


def _run_seed(
    config: LifelongConfig,
    workdir: str,
    seed: int,
    *,
    resume: bool,
    show_progress: bool,
    stop: StopSignal,
    stop_after_steps: int | None,
    references: Sequence[float] | None,
) -> dict:
    """Runs (or resumes) one seed to its end; returns its result."""
    directory = os.path.join(workdir, f"seed_{seed}")
    games = envs.make_games(config.games)
    agent = make_agent(config, games, seed)
    state = SeedState(directory, agent, LifelongProgress)
    if resume:
        state.restore()
    progress = state.progress
    total = config.num_phases * config.steps_per_phase
    run = _Seed(
        seed,
        games,
        agent,
        state,
        tf.summary.create_file_writer(os.path.join(directory, "tensorboard")),
        tqdm.tqdm(
            total=total, initial=progress.env_steps, disable=not show_progress, desc=f"seed {seed}"
        ),
    )
    try:
        if progress.random_returns is None:
            start = time.perf_counter()
            progress.random_returns = evaluate(config, run, -1, epsilon=1.0)[0]
            progress.eval_seconds += time.perf_counter() - start
            state.save()
        while progress.phase < config.num_phases:
            _timed_phase(config, run, stop, stop_after_steps)
        return _finish_seed(config, run, directory, references)
    finally:
        run.bar.close()
        for game in games:
            game.close()


def _timed_phase(
    config: LifelongConfig, run: _Seed, stop: StopSignal, stop_after_steps: int | None
) -> None:
    """One phase, its evaluation and its checkpoint, with the time each took."""
    progress = run.state.progress
    start = time.perf_counter()
    _run_phase(config, run, stop, stop_after_steps)
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
    config: LifelongConfig, run: _Seed, directory: str, references: Sequence[float] | None
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
    write_json(os.path.join(directory, "result.json"), result)
    header = ",".join(result["games"])
    np.savetxt(
        os.path.join(directory, f"return_matrix_seed{run.seed}.csv"),
        np.asarray(progress.return_matrix),
        delimiter=",",
        header=header,
        comments="",
    )
    return result


def _check_workdir(config: LifelongConfig, workdir: str, resume: bool) -> None:
    saved = os.path.join(workdir, "config.json")
    if not os.path.exists(saved):
        return
    if not resume:
        raise ValueError(
            f"Expected an empty --workdir or --resume. Received: {workdir} holds a run"
        )
    if read_json(saved) != config.to_dict():
        raise ValueError(
            f"Expected the same settings as the run in {workdir} to resume it. Received: "
            "different settings (see its config.json)"
        )


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
            that holds a run is refused.
        progress: show a progress bar.
        references: game -> a single-game agent's return (see `run_references`),
            to normalise returns; None reports raw returns only.
        stop_after_steps: stop (as on SIGTERM) once a seed reaches this many
            environment steps; for tests of resumption.
        files: more text files to write into workdir (the runner's flags.txt).

    Returns:
        The results dict also written to workdir/results.json.

    Raises:
        ValueError: bad config, games or budget, before any step.
        RunInterrupted: on SIGINT/SIGTERM or stop_after_steps; the last finished
            phase's checkpoint is kept.
    """
    _check_workdir(config, workdir, resume)
    reference_list = check_references(config, references)
    probe = envs.make_games(config.games)  # fails early on games, shapes and budget
    try:
        footprint = make_agent(config, probe, config.seeds[0]).store.footprint()
    finally:
        for game in probe:
            game.close()
    os.makedirs(workdir, exist_ok=True)
    write_json(os.path.join(workdir, "config.json"), config.to_dict())
    for name, text in (files or {}).items():
        with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
            f.write(text)
    per_seed = []
    with StopSignal() as stop:
        for seed in config.seeds:
            per_seed.append(
                _run_seed(
                    config,
                    workdir,
                    seed,
                    resume=resume,
                    show_progress=progress,
                    stop=stop,
                    stop_after_steps=stop_after_steps,
                    references=reference_list,
                )
            )
    out = {
        "config": config.to_dict(),
        "footprint": footprint,
        "references": dict(references) if references else None,
        **results.aggregate(per_seed),
        "seeds": [{k: v for k, v in s.items() if k != "episodes"} for s in per_seed],
    }
    write_json(os.path.join(workdir, "results.json"), out)
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
            done = run(single, directory, resume=resume, progress=progress)
        references[game] = done["final_returns"][game]["mean"]
    os.makedirs(workdir, exist_ok=True)
    write_json(os.path.join(workdir, "references.json"), references)
    return references
