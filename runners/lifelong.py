"""Trains a Double-DQN agent over a cycle of games and reports what it kept.

    python -m runners.lifelong --flagfile=runners/configs/minatar_cycle.flags
        --storage=recollections --memory_bytes=200000 --seeds=0,1,2
        --workdir=runs/minatar_rec [--references=runs/minatar_ref/references.json]

    python -m runners.lifelong --flagfile=runners/configs/minatar_cycle.flags
        --mode=references --workdir=runs/minatar_ref      # single-game agents

    python -m runners.lifelong --flagfile=runners/configs/minatar_pair.flags
        --strategy=mirrored [--cpu_devices=2] --workdir=runs/pair_mirrored
        # the learner's step over every GPU (or 2 logical CPU devices)

Writes WORKDIR/results.json (return matrices, normalised returns and BWT when
--references is given, mean +- std over seeds, bytes and bits per frame, speed),
WORKDIR/flags.txt, per-seed CSV return matrices and TensorBoard logs. Ctrl-C or
SIGTERM stop the run; --resume continues it from the last finished phase.

The agent's and the codec's settings are flags made from their config fields
(`agents.lifelong.DQNConfig`, `CodecConfig`); `--helpfull` lists them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import app, flags

from agents import lifelong, strategies
from agents.lifelong import config as lifelong_config
from agents.lifelong import frame_stacks
from runners import config_flags, program

_FLAGS = flags.FlagValues()  # its own namespace: runners.continual has flags of these names
_DEFAULT = lifelong.LifelongConfig()

_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.", flag_values=_FLAGS)
_RESUME = flags.DEFINE_bool(
    "resume", False, "Continue the run in --workdir from its checkpoint.", flag_values=_FLAGS
)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=_FLAGS)
_MODE = flags.DEFINE_enum(
    "mode",
    "lifelong",
    ["lifelong", "references"],
    "lifelong: the cycle; references: a fresh agent per game, alone, with the same steps.",
    flag_values=_FLAGS,
)
_REFERENCES = flags.DEFINE_string(
    "references",
    None,
    "references.json of a --mode=references run, to normalise returns.",
    flag_values=_FLAGS,
)
_GAMES = flags.DEFINE_list(
    "games",
    list(_DEFAULT.games),
    "The cycle: MinAtar names, ale:<Game> or gym:<id>.",
    flag_values=_FLAGS,
)
_STEPS = flags.DEFINE_integer(
    "steps_per_phase",
    _DEFAULT.steps_per_phase,
    "Environment steps before the next game.",
    flag_values=_FLAGS,
)
_CYCLES = flags.DEFINE_integer(
    "cycles", _DEFAULT.cycles, "Passes over the games.", flag_values=_FLAGS
)
_TASK_AWARE = flags.DEFINE_bool(
    "task_aware", _DEFAULT.task_aware, "Tell the Q-network which game it is in.", flag_values=_FLAGS
)
_STORAGE = flags.DEFINE_enum(
    "storage",
    _DEFAULT.storage,
    list(lifelong_config.STORAGES),
    "Replay memory.",
    flag_values=_FLAGS,
)
_BYTES = flags.DEFINE_integer(
    "memory_bytes",
    _DEFAULT.memory_bytes,
    "The replay memory's byte budget (every storage).",
    flag_values=_FLAGS,
)
_POLICY = flags.DEFINE_enum(
    "write_policy",
    _DEFAULT.write_policy,
    list(lifelong_config.WRITE_POLICIES),
    "Which rows.",
    flag_values=_FLAGS,
)
_STORED_FRAMES = flags.DEFINE_enum(
    "stored_frames",
    _DEFAULT.stored_frames,
    list(frame_stacks.STORED_FRAMES),
    "observation: store each observation whole; newest: only the newest frame of its "
    "stack (Atari), the stacks rebuilt when sampled.",
    flag_values=_FLAGS,
)
_EVAL_EPISODES = flags.DEFINE_integer(
    "eval_episodes",
    _DEFAULT.eval_episodes,
    "Evaluation episodes per game after every phase.",
    flag_values=_FLAGS,
)
_EVAL_STEPS = flags.DEFINE_integer(
    "eval_max_steps",
    _DEFAULT.eval_max_steps,
    "Steps after which an evaluation episode is cut.",
    flag_values=_FLAGS,
)
_EVAL_EPSILON = flags.DEFINE_float(
    "eval_epsilon",
    _DEFAULT.eval_epsilon,
    "Exploration of the evaluation policy.",
    flag_values=_FLAGS,
)
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Run seeds.", flag_values=_FLAGS)
_STRATEGY = flags.DEFINE_enum(
    "strategy",
    _DEFAULT.strategy,
    list(strategies.STRATEGIES),
    "tf.distribute strategy of the learner: default (one device), mirrored (every GPU, "
    "else every logical CPU device; see --cpu_devices) or multi_worker (the cluster in "
    "TF_CONFIG). Each learn batch is split over the replicas; acting stays on the host.",
    flag_values=_FLAGS,
)
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices",
    0,
    strategies.CPU_DEVICES_HELP,
    flag_values=_FLAGS,
)

_PARTS = {
    "agent": config_flags.dataclass_fields(lifelong.DQNConfig),
    "codec": config_flags.dataclass_fields(lifelong.CodecConfig),
}
_PART_FLAGS = {
    **config_flags.define({"dqn": _PARTS["agent"]}, "agent", _FLAGS),
    **config_flags.define({"recollections": _PARTS["codec"]}, "storage", _FLAGS),
}
_RUN_FLAGS: list[flags.FlagHolder[Any]] = [
    _WORKDIR,
    _RESUME,
    _PROGRESS,
    _MODE,
    _REFERENCES,
    _GAMES,
    _STEPS,
    _CYCLES,
    _TASK_AWARE,
    _STORAGE,
    _BYTES,
    _POLICY,
    _STORED_FRAMES,
    _EVAL_EPISODES,
    _EVAL_STEPS,
    _EVAL_EPSILON,
    _SEEDS,
    _STRATEGY,
    _CPU_DEVICES,
]


def config_from_flags() -> lifelong.LifelongConfig:
    """The frozen run config the flags describe.

    Raises:
        ValueError: a setting out of range or an unknown game, naming the flag.
    """
    try:
        seeds = tuple(int(s) for s in _SEEDS.value)
    except ValueError as error:
        raise ValueError(f"Expected integer --seeds. Received: {_SEEDS.value}") from error
    return lifelong.LifelongConfig(
        games=tuple(_GAMES.value),
        steps_per_phase=_STEPS.value,
        cycles=_CYCLES.value,
        task_aware=_TASK_AWARE.value,
        storage=_STORAGE.value,
        memory_bytes=_BYTES.value,
        write_policy=_POLICY.value,
        stored_frames=_STORED_FRAMES.value,
        eval_episodes=_EVAL_EPISODES.value,
        eval_max_steps=_EVAL_STEPS.value,
        eval_epsilon=_EVAL_EPSILON.value,
        seeds=seeds,
        strategy=_STRATEGY.value,
        **{key: config_flags.values(_PART_FLAGS, fields) for key, fields in _PARTS.items()},
    )


def config_from_flagfile(path: str, *extra: str) -> lifelong.LifelongConfig:
    """The config that `--flagfile=path` and `extra` flags describe (flags left unparsed).

    For scripts and tests that build a run from a flagfile without running `main`.
    """
    return config_flags.flagfile_config(_FLAGS, "lifelong", path, extra, config_from_flags)


def given_flags() -> str:
    """The flags of this program that are set, one `--name=value` a line."""
    return config_flags.given_flags(_FLAGS, [*_RUN_FLAGS, *_PART_FLAGS.values()])


def read_references(path: str | None) -> dict[str, float] | None:
    """The game -> return mapping in a references.json, or None without a path.

    Raises:
        ValueError: if the file is missing or not a JSON object of numbers.
    """
    if path is None:
        return None
    if not os.path.exists(path):
        raise ValueError(
            f"Expected --references to name a references.json (written by "
            f"--mode=references). Received: {path} does not exist"
        )
    with open(path, encoding="utf-8") as f:
        values = json.load(f)
    if not isinstance(values, dict) or not all(isinstance(v, int | float) for v in values.values()):
        raise ValueError(f"Expected a JSON object game -> return. Received: {path}")
    return {str(k): float(v) for k, v in values.items()}


def _execute(config: lifelong.LifelongConfig, workdir: str) -> str:
    if _MODE.value == "references":
        references = lifelong.run_references(
            config, workdir, resume=_RESUME.value, progress=_PROGRESS.value
        )
        shown = ", ".join(f"{g} {v:.2f}" for g, v in references.items())
        return f"single-game returns: {shown}; in {os.path.join(workdir, 'references.json')}"
    results = lifelong.run(
        config,
        workdir,
        resume=_RESUME.value,
        progress=_PROGRESS.value,
        references=read_references(_REFERENCES.value),
        files={"flags.txt": given_flags()},
    )
    return summary_line(results, workdir)


def summary_line(results: dict, workdir: str) -> str:
    """One line: storage, final returns (normalised when known), transitions held."""
    footprint = results["footprint"]
    raw = results["raw"]["final_mean"]
    line = f"{footprint['kind']}: final mean return {raw['mean']:.2f} +- {raw['std']:.2f}"
    if "normalised" in results:
        norm = results["normalised"]
        line += (
            f", normalised {norm['final_mean']['mean']:.2f} +- {norm['final_mean']['std']:.2f}"
            f" (BWT {norm['bwt']['mean']:+.2f})"
        )
    held = f"{footprint['capacity_transitions']:,} transitions of {footprint['bits_per_frame']}"
    return f"{line}; {held} bits a frame; results in {os.path.join(workdir, 'results.json')}"


def main(argv: list[str]) -> None:
    """Runs the configured lifelong agent and prints its final returns."""
    config, workdir = program.start(argv, _WORKDIR.value, config_from_flags)
    try:
        workdir = strategies.start(config.strategy, _CPU_DEVICES.value, workdir)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    program.finish(lambda: _execute(config, workdir))


if __name__ == "__main__":
    flags.mark_flag_as_required("workdir", flag_values=_FLAGS)
    program.run(main, flag_values=_FLAGS)
