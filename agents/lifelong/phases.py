"""One phase of a lifelong run: its steps, its evaluation, and the seed's state.

Where this sits: `agents.lifelong.loop.LifelongExperiment.run_seed` makes one `SeedRun` per seed and
calls `run_phase` and `evaluate` for every phase; everything a resumed phase needs
to repeat itself exactly is here: episode seeds derived from (run seed, phase,
episode), and epsilon as a function of the step in the phase.

```
run_phase: reset(episode_seed) -> act -> steps_per_phase x [env.step, agent.step]
evaluate:  every game x eval_episodes greedy episodes -> mean return, frame error
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
import tqdm

from agents.experiment import Progress, RunInterrupted, SeedState, StopSignal
from agents.lifelong import envs, results
from agents.lifelong.config import LifelongConfig
from agents.lifelong.dqn import DQNAgent
from agents.lifelong.stores import make_store

FRAME_ERROR_STRIDE = 4  # every 4th evaluation frame is coded for the frame error


@dataclasses.dataclass
class LifelongProgress(Progress):
    """Where a seed's run stands; saved with every checkpoint (with `Progress`'s fields).

    Attributes:
        phase: the next phase to train (== num_phases when done).
        env_steps: environment steps taken in finished phases.
        return_matrix: row p: mean evaluation return on every game after phase p.
        frame_error_matrix: row p: the memory's frame error on every game's
            evaluation frames after phase p (see `evaluate`).
        random_returns: the random policy's evaluation return on every game.
        episodes: [env_step, game id, return] of every finished training episode.
        eval_steps: environment steps taken by the evaluations (acting only).
        eval_seconds: time spent in this seed's evaluations.
    """

    phase: int = 0
    env_steps: int = 0
    return_matrix: list[list[float]] = dataclasses.field(default_factory=list)
    frame_error_matrix: list[list[float]] = dataclasses.field(default_factory=list)
    random_returns: list[float] | None = None
    episodes: list[list[float]] = dataclasses.field(default_factory=list)
    eval_steps: int = 0
    eval_seconds: float = 0.0


@dataclasses.dataclass
class SeedRun:
    """One seed's games, agent, saved state, logs and progress bar."""

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


def make_agent(
    config: LifelongConfig,
    games: Sequence[envs.Game],
    seed: int,
    strategy: tf.distribute.Strategy | None = None,
) -> DQNAgent:
    """The agent and its memory for one seed (raises ValueError on a budget too small).

    Keras's global seed is set before the store is built, so the codec's initial
    weights depend on this seed alone, not on what ran earlier in the process.
    Under `strategy` (`agents.strategies.make(config.strategy)`) the learner's
    weights are mirrored and its step replicated (`DQNAgent`).
    """
    keras.utils.set_random_seed(seed)
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
        stored_frames=config.stored_frames,
        strategy=strategy,
    )
    return DQNAgent(
        config.agent,
        store=store,
        obs_shape=first.obs_shape,
        num_actions=first.num_actions,
        num_games=len(games),
        task_aware=config.task_aware,
        seed=seed,
        strategy=strategy,
    )


def evaluate(
    config: LifelongConfig, run: SeedRun, phase: int, epsilon: float | None = None
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
    age: int,
) -> dict[str, np.ndarray]:
    return {
        "obs": obs[None],
        "next_obs": next_obs[None],
        "action": np.array([action], np.int32),
        "reward": np.array([reward], np.float32),
        "discount": np.array([0.0 if terminated else 1.0], np.float32),
        "game": np.array([game_id], np.int32),
        "age": np.array([age], np.int32),  # obs's step in its episode
    }


def run_phase(config: LifelongConfig, run: SeedRun, stop: StopSignal, stop_at: int | None) -> None:
    """Trains one phase on its game; raises RunInterrupted (nothing saved) on a stop."""
    progress = run.state.progress
    game_id = results.phase_games(config.games, config.cycles)[progress.phase]
    game, agent = run.games[game_id], run.agent
    episode, total, age = 0, 0.0, 0
    obs = game.reset(episode_seed(run.seed, progress.phase, episode))
    action = int(agent.act(obs[None], np.array([game_id], np.int32), epsilon_at(config, 0))[0])
    steps = progress.env_steps
    for t in range(config.steps_per_phase):
        if stop.raised is not None or steps == stop_at:
            raise RunInterrupted(f"stopped in phase {progress.phase}; resume re-runs it")
        next_obs, reward, terminated, truncated = game.step(action)
        epsilon = epsilon_at(config, t + 1)
        out = agent.step(
            _transition(obs, action, reward, terminated, next_obs, game_id, age),
            tf.constant(epsilon, tf.float32),
            tf.constant(agent.learn_ready(steps)),
        )
        steps, total, age = steps + 1, total + reward, age + 1
        action, obs = int(out["action"][0]), next_obs
        if terminated or truncated:
            progress.episodes.append([steps, game_id, total])
            with run.writer.as_default(step=steps):
                tf.summary.scalar(f"train_return/{game.name}", total)
            episode, total, age = episode + 1, 0.0, 0
            obs = game.reset(episode_seed(run.seed, progress.phase, episode))
            action = int(agent.act(obs[None], np.array([game_id], np.int32), epsilon)[0])
        run.bar.update(1)
    progress.env_steps = steps
