"""Runners: every flagfile parses into a valid config; smoke runs on tiny data."""

import dataclasses
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile

import pytest

from agents.lifelong import envs, frame_stacks
from agents.lifelong.recollection_transitions import build_frame_codec
from agents.stores import STORES
from agents.stores.codecs import build_codec
from recollect import pretrained_codec
from runners import continual as continual_runner
from runners import lifelong as lifelong_runner
from tests.datasets import fakes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALL_FLAGFILES = sorted(
    glob.glob(os.path.join(REPO, "runners", "configs", "**", "*.flags"), recursive=True)
)
LIFELONG_NAMES = (
    "atari_cycle.flags",
    "minatar_cycle.flags",
    "minatar_pair.flags",
    "minatar_pair_corrected.flags",
    "minatar_pair_pretrained.flags",
)
DISTILL_NAMES = ("distill_mnist.flags",)  # parsed in tests/agents/test_distill.py
FLAGFILES = [
    p for p in ALL_FLAGFILES if os.path.basename(p) not in (*LIFELONG_NAMES, *DISTILL_NAMES)
]
LIFELONG_FLAGFILES = [p for p in ALL_FLAGFILES if os.path.basename(p) in LIFELONG_NAMES]


def test_there_are_flagfiles_for_every_benchmark():
    names = {os.path.basename(p) for p in FLAGFILES}
    for expected in (
        "mnist_rotations.flags",
        "permuted_mnist.flags",
        "cifar.flags",
        "omniglot.flags",
        "split_cifar10.flags",
    ):
        assert expected in names


@pytest.mark.parametrize("path", FLAGFILES, ids=[os.path.relpath(p, REPO) for p in FLAGFILES])
def test_every_flagfile_parses_into_a_valid_config_from_any_directory(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nested --flagfile paths resolve against the package
    _write_the_codecs_it_starts_from(path, tmp_path)
    config = continual_runner.config_from_flagfile(path)
    assert config.seeds and config.learner and config.stream  # checked on construction


def _write_the_codecs_it_starts_from(path, tmp_path):
    """An untrained codec of the flagfile's settings at each --codec_init path it names.

    A missing file is refused (tested in tests/agents); the flagfiles that name one
    are MNIST-Rotations rows (28x28x1 input) or Split CIFAR-10 rows (32x32x3).
    """
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    inits = [line.split("=", 1)[1] for line in lines if line.startswith("--codec_init=")]
    if not inits:
        return
    stripped = tmp_path / "without_codec_init.flags"
    stripped.write_text("\n".join(ln for ln in lines if not ln.startswith("--codec_init=")))
    config = continual_runner.config_from_flagfile(str(stripped))
    store = STORES[config.storage]
    input_shape = (32, 32, 3) if config.stream == "split_cifar10" else (28, 28, 1)
    plan = store.plan(
        config.store_config,
        incremental_storage=config.incremental_storage,
        input_shape=input_shape,
        budget_kind=config.budget,
    )
    codec = build_codec(
        config.store_config,
        num_latents=plan.num_latents,
        num_categories=plan.num_categories,
        input_shape=input_shape,
        seed=0,
    )
    for init in inits:
        os.makedirs(os.path.dirname(tmp_path / init), exist_ok=True)
        pretrained_codec.save(codec, str(tmp_path / init), training={"test": "untrained"})


def test_flagfile_settings_reach_the_learner_and_store_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = os.path.join(REPO, "runners", "configs", "table1", "gem_recollections_100.flags")
    config = continual_runner.config_from_flagfile(path, "--memory_strength=0.25")
    assert config.learner == "gem" and config.storage == "recollections"
    assert config.learner_config.gem_memories_per_task == 10
    assert config.learner_config.memory_strength == 0.25
    assert config.store_config.stabilize_steps == 3 and config.store_config.codec == "conv"
    assert config.store_config.items == 3000
    ewc = continual_runner.config_from_flagfile(
        os.path.join(REPO, "runners", "configs", "table1", "ewc.flags")
    )
    assert ewc.learner_config.ewc_samples == 1000 and not ewc.uses_store
    assert ewc.learner_config.ewc_fisher == "empirical"
    gems = continual_runner.config_from_flagfile(
        os.path.join(REPO, "runners", "configs", "table1", "ewc.flags"),
        "--ewc_fisher=squared_mean_gradient",
    )
    assert gems.learner_config.ewc_fisher == "squared_mean_gradient"


@pytest.mark.parametrize(
    "row",
    [
        "replay_recollections_100",
        "replay_recollections_200",
        "gem_recollections_100",
        "gem_recollections_200",
    ],
)
def test_table1_recollection_rows_are_the_algorithm1_rows_with_a_fixed_decoder(
    tmp_path, monkeypatch, row
):
    monkeypatch.chdir(tmp_path)
    configs = os.path.join(REPO, "runners", "configs")
    fixed = continual_runner.config_from_flagfile(os.path.join(configs, "table1", f"{row}.flags"))
    learning = continual_runner.config_from_flagfile(
        os.path.join(configs, "table1_algorithm1", f"{row}.flags")
    )
    assert fixed.store_config.codec_decoder_steps == 1500
    assert learning.store_config.codec_decoder_steps is None
    assert fixed == dataclasses.replace(
        learning,
        store_config=dataclasses.replace(learning.store_config, codec_decoder_steps=1500),
    )
    # The rows built on Table 1's keep the decoder learning, as when they were measured.
    for derived in ("table1_omniglot_codec", "table3"):
        for path in glob.glob(os.path.join(configs, derived, "*recollections*.flags")):
            _write_the_codecs_it_starts_from(path, tmp_path)
            config = continual_runner.config_from_flagfile(path)
            assert config.store_config.codec_decoder_steps is None, path


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_bad_steps_per_batch_is_refused(value):
    path = os.path.join(REPO, "runners", "configs", "omniglot.flags")
    with pytest.raises(ValueError, match=rf"--steps_per_batch >= 1.*steps_per_batch={value}"):
        continual_runner.config_from_flagfile(path, f"--steps_per_batch={value}")
    config = continual_runner.config_from_flagfile(path, "--steps_per_batch=3")
    assert config.learner_config.steps_per_batch == 3


def test_the_drift_probe_flag_reaches_the_config_and_needs_recollections(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table1 = os.path.join(REPO, "runners", "configs", "table1")
    path = os.path.join(table1, "replay_recollections_100.flags")
    assert continual_runner.config_from_flagfile(path).drift_probe_items == 0
    probed = continual_runner.config_from_flagfile(path, "--drift_probe_items=7")
    assert probed.drift_probe_items == 7 and probed.storage == "recollections"
    real = os.path.join(table1, "replay_real_100.flags")
    with pytest.raises(ValueError, match=r"--drift_probe_items=0 unless.*storage='real'"):
        continual_runner.config_from_flagfile(real, "--drift_probe_items=7")


def test_a_stream_setting_the_stream_does_not_have_is_refused():
    path = os.path.join(REPO, "runners", "configs", "omniglot.flags")
    with pytest.raises(ValueError, match=r"--stream=omniglot among .*Received: --num_tasks"):
        continual_runner.config_from_flagfile(path, "--num_tasks=2")
    with pytest.raises(ValueError, match=r"--model=mlp among .*Received: --base_filters"):
        continual_runner.config_from_flagfile(path, "--model=mlp", "--base_filters=8")
    # Learner settings another learner uses are ignored (flagfiles build on each other).
    config = continual_runner.config_from_flagfile(path, "--ewc_lambda=3")
    assert config.learner == "replay" and not hasattr(config.learner_config, "ewc_lambda")


def test_the_wheel_ships_the_library_alone(tmp_path):
    """No bare top-level `agents`, `runners` or `benchmarks` lands in site-packages."""
    # A copy of the sources: a checkout's build/ (an earlier wheel's) would be reused.
    source = tmp_path / "src"
    skipped = (".venv", "build", "runs", ".git", "*.egg-info", "__pycache__", ".*_cache")
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*skipped))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = glob.glob(str(tmp_path / "recollect-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name.split("/")[0] for name in archive.namelist()}
    assert shipped == {"recollect", os.path.basename(wheel).split("-py")[0] + ".dist-info"}


def run_module(args, cwd, env_extra=None):
    env = {**os.environ, "PYTHONPATH": REPO, **(env_extra or {})}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fakes.write_mnist(root / "mnist", num_train=30, num_test=10, seed=0)
    return str(root)


def test_continual_and_plot_runners_smoke(tmp_path, tiny_mnist):
    workdir = tmp_path / "run"
    common = [
        "runners.continual",
        f"--flagfile={os.path.join(REPO, 'runners/configs/mnist_rotations.flags')}",
        "--num_tasks=2",
        "--examples_per_task=8",
        "--test_examples_per_task=6",
        "--batch_size=4",
        "--seeds=0,1",
        "--drift_probe_items=3",
        "--progress=false",
        f"--workdir={workdir}",
        f"--cache_dir={tmp_path / 'cache'}",
    ]
    result = run_module(common, REPO, {"RECOLLECT_DATA_DIR": tiny_mnist})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "retention" in result.stdout
    # A quiet start: none of TensorFlow's C++ start-up lines (oneDNN, CUDA probing).
    assert "I0000" not in result.stderr and "cuInit" not in result.stderr, result.stderr
    results = json.loads((workdir / "results.json").read_text())
    assert results["seeds"] == [0, 1] and len(results["per_seed"]) == 2
    assert list((tmp_path / "cache").rglob("*.npz")), "the stream was cached in --cache_dir"
    given = (workdir / "flags.txt").read_text()
    assert "--examples_per_task=8" in given and "--learner=replay" in given
    assert "--undefok" not in given and "--test_srcdir" not in given  # only this program's

    again = run_module(common, REPO, {"RECOLLECT_DATA_DIR": tiny_mnist})
    assert again.returncode == 2 and "--resume" in again.stderr

    assert len(results["drift_matrix_mean"]) == 2 and len(results["drift_at_write_mean"]) == 2

    png, drift_png = tmp_path / "plot.png", tmp_path / "drift.png"
    plotted = run_module(
        ["runners.plot", f"--workdirs={workdir}", f"--output={png}", f"--drift_output={drift_png}"],
        REPO,
    )
    assert plotted.returncode == 0, plotted.stderr[-3000:]
    for path in (png, drift_png):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runner_reports_bad_flags_and_missing_data(tmp_path):
    bad = run_module(["runners.continual", "--learner=nope", f"--workdir={tmp_path / 'w'}"], REPO)
    assert bad.returncode != 0 and "--learner" in bad.stderr
    missing = run_module(
        [
            "runners.continual",
            "--learner=online",
            f"--data_dir={tmp_path / 'nothing'}",
            f"--workdir={tmp_path / 'w2'}",
        ],
        REPO,
    )
    assert missing.returncode == 2
    assert "train-images-idx3-ubyte" in missing.stderr


def test_cifar_flagfile_runs_end_to_end_on_tiny_cifar100(tmp_path, monkeypatch):
    """Incremental CIFAR-100 (cifar.flags): 20 coarse-label tasks, masked heads, ResNet."""
    from agents import continual

    fakes.write_cifar100(tmp_path / "data" / "cifar100", train_per_class=1, test_per_class=1)
    config = continual_runner.config_from_flagfile(
        os.path.join(REPO, "runners", "configs", "cifar.flags"),
        f"--data_dir={tmp_path / 'data'}",
        # Smaller than the flagfile only where it would not fit a tiny test.
        "--incremental_storage=2",
        "--items=20",
        "--codec_units=8",
    )
    assert config.stream == "incremental_cifar100" and config.multi_head
    results = continual.run(config, str(tmp_path / "run"), progress=False)
    matrix = results["per_seed"][0]["accuracy_matrix"]
    assert len(matrix) == 20 and len(matrix[0]) == 20
    assert results["data"]["num_classes"] == 100
    footprint = results["footprint"]
    assert footprint["capacity"] == 20 and footprint["incremental_storage_raw_examples"] <= 2


def test_tables_report_orders_rows_and_marks_missing_ones(tmp_path):
    from benchmarks import tables

    row = tmp_path / "replay_recollections_10"
    row.mkdir()
    result = {
        "learner": "replay",
        "storage": "recollections",
        "incremental_storage": 10.0,
        "items": 980,
        "bits_per_item": 62,
        "retention_mean": 0.0512,
        "retention_std": 0.004,
        "seeds": [0, 1, 2],
    }
    (row / "results.json").write_text(json.dumps(result))
    rows = ["replay_real_10", "replay_recollections_10", "extra_row"]
    lines = tables.report(str(tmp_path), rows, tables.PAPER["omniglot"]).splitlines()
    assert lines[2] == "| replay_real_10 | | | | not run | 3.6 |"
    assert lines[3] == "| replay recollections | 10 | 980 | 62 | 5.1 +- 0.4 (n=3) | 5.0 |"
    assert lines[4] == "| extra_row | | | | not run | - |"


def test_help_exits_zero_with_the_generated_flags():
    shown = run_module(["runners.continual", "--helpfull"], REPO)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "--stabilize_steps" in shown.stdout and "--learner=replay|gem" in shown.stdout
    steps_help = shown.stdout.split("--steps_per_batch:")[1].split("\n  --")[0]
    assert "--learner=online|replay|gem|ewc|lwf|icarl; default 1" in " ".join(steps_help.split())
    assert run_module(["runners.plot", "--help"], REPO).returncode == 0


def test_sigterm_exits_143_after_checkpointing(tmp_path, monkeypatch):
    from absl import flags as absl_flags

    from agents import continual

    def stopped(*args, **kwargs):
        raise continual.RunInterrupted("stopped", signal.SIGTERM)

    monkeypatch.setattr(continual, "run", stopped)
    absl_flags.FLAGS.unparse_flags()
    try:
        absl_flags.FLAGS(["continual", f"--workdir={tmp_path}", "--learner=online"])
        with pytest.raises(SystemExit) as exiting:
            continual_runner.main(["continual"])
    finally:
        absl_flags.FLAGS.unparse_flags()
    assert exiting.value.code == 128 + signal.SIGTERM


def test_plot_tells_runs_of_the_same_method_apart():
    from agents import plotting

    run = {"learner": "replay", "storage": "real", "incremental_storage": 100}
    other = {"learner": "gem", "storage": "real", "incremental_storage": 100}
    names = plotting.run_names([run, run, other], ["runs/a", "runs/b/", "runs/c"])
    assert names == ["replay real 100 (a)", "replay real 100 (b)", "gem real 100"]


# ------------------------------------------------------- runners.pretrain_codec
def test_pretrain_codec_runner_smoke_then_a_run_config_takes_its_file(tmp_path, tiny_mnist):
    output = tmp_path / "codecs" / "mnist.npz"
    common = [
        "runners.pretrain_codec",
        "--dataset=mnist",
        "--num_latents=8",
        "--num_categories=4",
        "--codec=mlp",
        "--codec_units=16",
        "--examples=20",
        "--heldout_examples=6",
        "--batch_size=10",
        "--progress=false",
        f"--output={output}",
    ]
    done = run_module(common, str(tmp_path), {"RECOLLECT_DATA_DIR": tiny_mnist})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "8x4 mlp codec" in done.stdout and "held-out L1" in done.stdout
    settings = json.loads((tmp_path / "codecs" / "mnist.json").read_text())
    assert settings["training"]["examples"] == 20 and settings["training"]["dataset"] == "mnist"
    assert "I0000" not in done.stderr and "cuInit" not in done.stderr, done.stderr

    again = run_module(common, str(tmp_path), {"RECOLLECT_DATA_DIR": tiny_mnist})
    assert again.returncode == 2 and "a new --output" in again.stderr
    shown = run_module(["runners.pretrain_codec", "--helpfull"], REPO)
    assert shown.returncode == 0 and "--codec_kernel_size" in shown.stdout

    config = continual_runner.config_from_flagfile(
        os.path.join(REPO, "runners", "configs", "mnist_rotations.flags"),
        f"--codec_init={output}",
        "--budget=total",
    )
    assert config.budget == "total" and config.store_config.codec_init == str(output)
    assert config.store_config.codec_init_sha256 == settings["weights_sha256"]


# ------------------------------------------------------------ runners.lifelong
def _write_the_frame_codecs_it_starts_from(path, tmp_path):
    """An untrained codec of a lifelong flagfile's settings at each --codec_init it names.

    The pretraining command (`runners.pretrain_frames`) is in the flagfile's comments.
    """
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    inits = [line.split("=", 1)[1] for line in lines if line.startswith("--codec_init=")]
    if not inits:
        return
    stripped = tmp_path / "without_codec_init.flags"
    kept = [ln for ln in lines if not ln.startswith("--codec_init=")]
    stripped.write_text("\n".join(kept))
    config = lifelong_runner.config_from_flagfile(str(stripped))
    obs_shape = envs.MINATAR_SHAPE if config.games[0] in envs.MINATAR_GAMES else None
    assert obs_shape is not None, "only MinAtar flagfiles name a --codec_init"
    _, frame_shape = frame_stacks.frame_layout(config.stored_frames, obs_shape, config.write_policy)
    codec = build_frame_codec(config.codec, frame_shape, 0)
    for init in inits:
        os.makedirs(os.path.dirname(tmp_path / init), exist_ok=True)
        pretrained_codec.save(codec, str(tmp_path / init), training={"test": "untrained"})


def test_the_lifelong_flagfiles_parse_into_valid_configs(tmp_path, monkeypatch):
    assert [os.path.basename(p) for p in LIFELONG_FLAGFILES] == sorted(LIFELONG_NAMES)
    monkeypatch.chdir(tmp_path)
    for path in LIFELONG_FLAGFILES:
        _write_the_frame_codecs_it_starts_from(path, tmp_path)
    atari, minatar, pair, corrected, pretrained = (
        lifelong_runner.config_from_flagfile(
            os.path.join(REPO, "runners", "configs", name), "--seeds=0,1"
        )
        for name in LIFELONG_NAMES
    )
    assert pair.games == ("breakout", "space_invaders") and pair.cycles == 3
    assert dataclasses.replace(pretrained, codec=pair.codec) == pair  # only the codec differs
    assert pretrained.codec.codec_init == "codecs/minatar_pair_40x4.npz"
    assert pretrained.codec.codec_init_sha256 and pretrained.codec.codec_decoder_steps is None
    assert pair.codec.codec_init is None and pair.codec.codec_decoder_steps is None
    assert corrected.storage == "corrected" and corrected.codec == pretrained.codec
    assert dataclasses.replace(corrected, storage="recollections") == pretrained
    assert minatar.games == ("breakout", "space_invaders", "freeway", "asterix", "seaquest")
    assert minatar.memory_bytes == 1_000_000 and minatar.seeds == (0, 1)
    assert atari.agent.network == "nature" and atari.codec.codec == "conv"
    assert atari.games[0] == "ale:Pong"


def test_lifelong_runner_smoke_on_minatar_then_resume_refuses_other_settings(tmp_path):
    workdir = tmp_path / "run"
    common = [
        "runners.lifelong",
        f"--flagfile={os.path.join(REPO, 'runners/configs/minatar_cycle.flags')}",
        "--games=breakout,freeway",
        "--steps_per_phase=30",
        "--cycles=1",
        "--eval_episodes=1",
        "--eval_max_steps=20",
        "--learn_start_steps=10",
        "--memory_bytes=20000",
        "--recent_transitions=20",
        f"--workdir={workdir}",
        "--progress=false",
    ]
    done = run_module(common, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "recollections: final mean return" in done.stdout
    results = json.loads((workdir / "results.json").read_text())
    assert results["footprint"]["bits_per_frame"] == 80
    assert len(results["seeds"][0]["return_matrix"]) == 2
    assert "--games=breakout,freeway" in (workdir / "flags.txt").read_text()
    again = run_module([*common, "--resume", "--steps_per_phase=31"], str(tmp_path))
    assert again.returncode == 2 and "same settings" in again.stderr


def test_lifelong_runner_help_and_bad_flags():
    shown = run_module(["runners.lifelong", "--helpfull"], REPO)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "--memory_bytes" in shown.stdout and "--stabilize_steps" in shown.stdout
    bad = run_module(["runners.lifelong", "--workdir=x", "--games=pong"], REPO)
    assert bad.returncode == 1 and "Received: game='pong'" in bad.stderr
    unknown = run_module(["runners.lifelong", "--workdir=x", "--no_such_flag=1"], REPO)
    assert unknown.returncode != 0 and "no_such_flag" in unknown.stderr


def test_pretrain_frames_runner_smoke_then_a_lifelong_config_takes_its_file(tmp_path):
    output = tmp_path / "codecs" / "breakout.npz"
    common = [
        "runners.pretrain_frames",
        "--games=breakout",
        "--frames_per_game=60",
        "--heldout_frames=10",
        "--epochs=1",
        "--num_latents=8",
        "--codec_units=16",
        "--progress=false",
        f"--output={output}",
    ]
    done = run_module(common, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "8x4 mlp codec" in done.stdout and "wrong pixels a frame breakout" in done.stdout
    settings = json.loads((tmp_path / "codecs" / "breakout.json").read_text())
    assert settings["training"]["examples"] == 50 and settings["training"]["games"] == ["breakout"]
    again = run_module(common, str(tmp_path))
    assert again.returncode == 2 and "a new --output" in again.stderr

    pair = os.path.join(REPO, "runners", "configs", "minatar_pair.flags")
    config = lifelong_runner.config_from_flagfile(
        pair, f"--codec_init={output}", "--codec_decoder_steps=0", "--num_latents=8",
        "--codec_units=16",
    )  # fmt: skip
    assert config.codec.codec_init == str(output) and config.codec.codec_decoder_steps == 0
    assert config.codec.codec_init_sha256 == settings["weights_sha256"]
    with pytest.raises(ValueError, match="does not exist"):
        lifelong_runner.config_from_flagfile(pair, f"--codec_init={tmp_path / 'none.npz'}")
