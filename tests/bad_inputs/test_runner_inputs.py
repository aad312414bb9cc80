"""Bad settings to `ContinualConfig`, `continual.run` and `python -m runners.continual`."""

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from agents import continual
from tests.bad_inputs.harness import (
    REPO,
    TINY_STREAM,
    Case,
    Subject,
    area,
    cached,
    check,
    files_state,
    fresh_path,
    no_target,
    params,
    scratch,
)
from tests.datasets import fakes


class CommandError(Exception):
    """A program exited non-zero (how a runner refuses)."""


@cached
def run_data() -> Path:
    root = scratch("run_data")
    fakes.write_mnist(root / "mnist", num_train=30, num_test=10, seed=0)
    return root


def tiny_config(**overrides: Any) -> continual.ContinualConfig:
    """A tiny replay-with-recollections run over 2 tasks of 8 fake MNIST images."""
    settings = {
        "stream": "mnist_rotations",
        "data_dir": str(run_data()),
        "stream_options": dict(TINY_STREAM),
        "batch_size": 4,
        "learner": "replay",
        "storage": "recollections",
        "incremental_storage": 2,
        "store_config": {"items": 40, "num_categories": 4},
        "learner_config": {"learning_rate": 0.05, "replay_batch_size": 3},
        "seeds": (0,),
        "eval_batch_size": 7,
    }
    return continual.ContinualConfig(**{**settings, **overrides})


ONLINE = {"learner": "online", "learner_config": None, "store_config": None}

CONFIG = area(
    no_target,
    [
        ("learner='nope'", lambda _: tiny_config(learner="nope")),
        ("storage='disk'", lambda _: tiny_config(storage="disk")),
        ("stream='mnist'", lambda _: tiny_config(stream="mnist")),
        ("model='transformer'", lambda _: tiny_config(model="transformer")),
        ("seeds=()", lambda _: tiny_config(seeds=())),
        ("seeds=(-1,)", lambda _: tiny_config(seeds=(-1,))),
        ("seeds=(0, 0)", lambda _: tiny_config(seeds=(0, 0))),
        ("seeds=('0',)", lambda _: tiny_config(seeds=("0",))),
        ("seeds=(1.5,)", lambda _: tiny_config(seeds=(1.5,))),
        ("seeds=(True,) (bool as int)", lambda _: tiny_config(seeds=(True,))),
        ("batch_size=0", lambda _: tiny_config(batch_size=0)),
        ("batch_size=-1", lambda _: tiny_config(batch_size=-1)),
        ("batch_size=2.5", lambda _: tiny_config(batch_size=2.5)),
        ("batch_size='10'", lambda _: tiny_config(batch_size="10")),
        ("eval_batch_size=0", lambda _: tiny_config(eval_batch_size=0)),
        ("incremental_storage=0 (replay)", lambda _: tiny_config(incremental_storage=0)),
        ("incremental_storage=-5", lambda _: tiny_config(incremental_storage=-5)),
        ("incremental_storage=nan", lambda _: tiny_config(incremental_storage=float("nan"))),
        ("learner_config={'bogus': 1}", lambda _: tiny_config(learner_config={"bogus": 1})),
        (
            "learner_config learning_rate=0",
            lambda _: tiny_config(learner_config={"learning_rate": 0}),
        ),
        (
            "learner_config optimizer='rmsprop'",
            lambda _: tiny_config(learner_config={"optimizer": "rmsprop"}),
        ),
        (
            "learner_config replay_batch_size=0",
            lambda _: tiny_config(learner_config={"replay_batch_size": 0}),
        ),
        ("learner_config='fast' (a str)", lambda _: tiny_config(learner_config="fast")),
        ("store_config codec='rnn'", lambda _: tiny_config(store_config={"codec": "rnn"})),
        (
            "store_config stabilize_steps=-1",
            lambda _: tiny_config(store_config={"stabilize_steps": -1}),
        ),
        (
            "store_config num_latents without num_categories",
            lambda _: tiny_config(store_config={"num_latents": 8}),
        ),
        (
            "store_config codec_learning_rate=-1",
            lambda _: tiny_config(store_config={"codec_learning_rate": -1}),
        ),
        ("store_config codec_noise=-1", lambda _: tiny_config(store_config={"codec_noise": -1})),
        ("model_options with an unknown key", lambda _: tiny_config(model_options={"bogus": 1})),
        (
            "model_options hidden_units=-3",
            lambda _: tiny_config(model_options={"hidden_units": -3}),
        ),
        ("multi_head='yes' (a str)", lambda _: tiny_config(multi_head="yes")),
        ("data_seed=-1", lambda _: tiny_config(data_seed=-1)),
    ],
)


# ------------------------------------------------------------ continual runs
def run_in(config: continual.ContinualConfig, workdir: Path, resume: bool = False) -> object:
    cache = str(scratch("run_cache"))
    return continual.run(config, str(workdir), resume=resume, progress=False, cache_dir=cache)


@cached
def finished_run() -> Path:
    """The workdir of a finished tiny online run."""
    workdir = scratch("runs") / "finished"
    run_in(tiny_config(**ONLINE), workdir)
    return workdir


def a_file() -> Path:
    path = scratch("runs") / "a_file"
    path.write_bytes(b"not a folder")
    return path


def continual_case(
    name: str,
    settings: dict[str, Any],
    *,
    workdir: Callable[[], Path] = lambda: fresh_path("run"),
    resume: bool = False,
) -> Case:
    """continual.run(tiny_config(**settings), workdir); state: the workdir's files."""

    def setup() -> Subject:
        config, path = tiny_config(**settings), workdir()
        return Subject((config, path), lambda: files_state(path))

    return Case(name, setup, lambda t: run_in(t[0], t[1], resume=resume))


RUN = [
    continual_case("recollections budget too small (0.001)", {"incremental_storage": 0.001}),
    continual_case(
        "real storage below one example (0.5)",
        {"storage": "real", "store_config": None, "incremental_storage": 0.5},
    ),
    continual_case(
        "GEM with 1 real row for 2 tasks",
        {
            "learner": "gem",
            "storage": "real",
            "learner_config": None,
            "store_config": None,
            "incremental_storage": 1,
        },
    ),
    continual_case(
        "GEM with 1 recollection for 2 tasks",
        {
            "learner": "gem",
            "learner_config": None,
            "store_config": {"items": 1, "num_categories": 4},
        },
    ),
    continual_case(
        "num_latents=10**6 over the budget",
        {"store_config": {"items": 40, "num_latents": 10**6, "num_categories": 4}},
    ),
    continual_case(
        "grid codec with num_latents=50 (cells: 49)",
        {"store_config": {"codec": "grid", "num_latents": 50, "num_categories": 2}},
    ),
    continual_case(
        "grid codec, budget below one latent a cell",
        {"store_config": {"codec": "grid", "items": 40}, "incremental_storage": 0.2},
    ),
    continual_case(
        "stream_options num_tasks=0", {"stream_options": {**TINY_STREAM, "num_tasks": 0}}
    ),
    continual_case(
        "stream_options with an unknown key", {"stream_options": {**TINY_STREAM, "bogus": 1}}
    ),
    continual_case(
        "examples_per_task=1000 (data has 30)",
        {"stream_options": {**TINY_STREAM, "examples_per_task": 1000}},
    ),
    continual_case("data_dir missing", {"data_dir": str(REPO / "no_such_data_dir")}),
    continual_case("a workdir holding a run, without resume", ONLINE, workdir=finished_run),
    continual_case(
        "resume with other settings (batch_size=2)",
        {**ONLINE, "batch_size": 2},
        workdir=finished_run,
        resume=True,
    ),
    continual_case(
        "resume of an empty workdir", ONLINE, workdir=lambda: scratch("runs", "empty"), resume=True
    ),
    continual_case("resume of a missing workdir", ONLINE, resume=True),
    continual_case("workdir is a regular file", ONLINE, workdir=a_file),
]


# ----------------------------------------------------------------- the runner CLI
TINY_FLAGS = [
    "--num_tasks=2",
    "--examples_per_task=8",
    "--test_examples_per_task=5",
    "--batch_size=4",
]


def run_cli(workdir: Path, flags: Sequence[str]) -> str:
    """python -m runners.continual on tiny data; raises CommandError on a non-zero exit."""
    command = [sys.executable, "-m", "runners.continual", *flags, f"--workdir={workdir}"]
    command += [
        f"--data_dir={run_data()}",
        f"--cache_dir={scratch('run_cache')}",
        "--progress=false",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "rror" in line] or lines or [""]
    raise CommandError(f"exit {done.returncode}: {errors[-1].strip()}")


def cli_case(name: str, *flags: str) -> Case:
    def setup() -> Subject:
        path = fresh_path("cli")
        return Subject(path, lambda: files_state(path))

    return Case(name, setup, lambda path: run_cli(path, [*TINY_FLAGS, *flags]))


CLI = [
    cli_case("--learner=nope", "--learner=nope"),
    cli_case("--storage=disk", "--storage=disk"),
    cli_case("--seeds=0,a", "--seeds=0,a"),
    cli_case("--seeds=-1", "--seeds=-1"),
    cli_case("--batch_size=-1", "--batch_size=-1"),
    cli_case("--flagfile=missing.flags", "--flagfile=missing.flags"),
    cli_case(
        "--incremental_storage=0.001 (budget too small)",
        "--incremental_storage=0.001",
        "--items=40",
    ),
]


@pytest.mark.parametrize("case", params(CONFIG))
def test_continual_config_refuses(case: Case) -> None:
    """ContinualConfig(...): the global RNGs stay as they were."""
    check(case)


@pytest.mark.parametrize("case", params(RUN))
def test_continual_run_refuses(case: Case) -> None:
    """continual.run with settings it cannot honour: the workdir unchanged."""
    check(case)


@pytest.mark.parametrize("case", params(CLI))
def test_runner_command_line_refuses(case: Case) -> None:
    """python -m runners.continual with bad flags exits non-zero; the workdir unchanged."""
    check(case)
