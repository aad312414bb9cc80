"""Distillation runs end to end on tiny generated MNIST: results, resume, bad settings."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from agents import distill
from agents.distill import loop, networks, recollections, sources
from agents.distill import student as student_lib
from agents.distill.student import StudentState
from agents.experiment import RunInterrupted
from recollect import budget
from runners import distill as distill_runner
from tests.datasets import fakes

NUM_TRAIN = 40


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fakes.write_mnist(root / "mnist", num_train=NUM_TRAIN, num_test=20, seed=0)
    return str(root)


def tiny_config(data_dir, **overrides):
    settings = {
        "data_dir": data_dir,
        "teacher_epochs": 1,
        "students": ("mlp",),
        "compressions": (1.0,),
        "codec": "mlp",
        "codec_units": 2,
        "codec_epochs": 1,
        "subset_percents": (10.0,),
        "samplers": ("active_diverse",),
        "sampler_k": 2,
        "sampler_n": 2,
        "episodes": (2, 4),
        "batch_size": 2,
        "fit_batch_size": 8,
        "eval_batch_size": 7,
    }
    settings.update(overrides)
    return distill.DistillConfig(**settings)


def without_timings(per_seed):
    timed = ("wall_seconds", "train_seconds", "teacher_seconds", "fit_seconds")
    return json.loads(
        json.dumps(per_seed), object_hook=lambda d: {k: v for k, v in d.items() if k not in timed}
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    workdir = tmp_path_factory.mktemp("finished")
    return distill.run(tiny_config(data_dir), str(workdir), progress=False), workdir


def test_a_run_tests_every_method_at_every_test_point(finished):
    results, workdir = finished
    expected = [
        "mlp/real",
        "mlp/real_teacher",
        "mlp/subset_10%",
        "mlp/recollections_1x/active_diverse",
        "mlp/codes_1x/active_diverse",
    ]
    assert results["kind"] == "distill" and results["methods"] == expected
    assert results["episodes"] == [2, 4] and results["seeds"] == [0]
    for name in expected:
        curve = results["curves"][name]
        assert len(curve["mean"]) == 2 and all(0 <= a <= 1 for a in curve["mean"])
        assert curve["std"] == [0.0, 0.0]
    assert results["samplers"] == [{"name": "active_diverse", "k": 2, "n": 2}]
    assert results["students"] == ["mlp"]
    assert 0 <= results["teacher_accuracy"]["mean"] <= 1
    assert json.loads((workdir / "results.json").read_text()) == results
    assert (workdir / "seed_0" / "teacher.keras").exists()
    assert not (workdir / "seed_0" / "checkpoints").exists()  # dropped once the seed is done


def test_the_memory_holds_a_code_per_image_within_the_total_budget(finished):
    results, _ = finished
    memory = results["memories"]["1x"]
    assert memory["items"] == NUM_TRAIN
    assert memory["total_storage"] <= NUM_TRAIN / 1.0  # codes + the codec's float32 parameters
    assert memory["incremental_storage"] < memory["total_storage"]
    assert 0 <= memory["l1_distortion"] <= 1


def test_the_saved_memory_decodes_the_codes_of_the_training_images(finished, data_dir):
    _, workdir = finished
    config = tiny_config(data_dir)
    data = fakes_arrays(data_dir)
    shape = recollections.code_shapes(config, items=NUM_TRAIN, input_shape=(28, 28, 1))["1x"]
    seed = loop.phase_seed(0, "codec 1x")
    memory = recollections.build_memory(config, shape, input_shape=(28, 28, 1), seed=seed)
    memory.restore_checkpoint(recollections.checkpoint_path(str(workdir / "seed_0"), 1.0))
    assert int(memory.size()) == NUM_TRAIN
    rows = np.arange(5)
    stored = memory.recall_rows(rows)
    decoded = memory.decode(memory.encode(data["x_train"][:5].astype(np.float32) / 255.0))
    # the same codes: decoded through two compiled paths, equal up to float round-off (a
    # different code changes pixels by far more)
    np.testing.assert_allclose(stored["x"].numpy(), decoded.numpy(), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(stored["label"].numpy(), data["y_train"][:5])


def fakes_arrays(data_dir):
    from recollect import datasets

    return datasets.load_arrays("mnist", data_dir=data_dir).arrays


def test_resume_after_stops_gives_identical_results(tmp_path, data_dir, finished):
    expected, _ = finished
    config = tiny_config(data_dir)
    workdir = str(tmp_path / "killed")
    with pytest.raises(RunInterrupted, match="Rerun with --resume"):
        distill.run(config, workdir, progress=False, stop_after_steps=3)  # inside a method
    with pytest.raises(RunInterrupted):
        distill.run(config, workdir, resume=True, progress=False, stop_after_steps=3)  # its end
    resumed = distill.run(config, workdir, resume=True, progress=False)
    assert without_timings(resumed["per_seed"]) == without_timings(expected["per_seed"])
    assert resumed["curves"] == expected["curves"]


def test_resume_with_other_settings_is_refused(tmp_path, data_dir):
    workdir = str(tmp_path)
    with pytest.raises(RunInterrupted):
        distill.run(tiny_config(data_dir), workdir, progress=False, stop_after_steps=1)
    with pytest.raises(ValueError, match=r"samplers: \['dpp'\] here, \['active_diverse'\] there"):
        distill.run(tiny_config(data_dir, samplers=("dpp",)), workdir, resume=True, progress=False)


def test_several_seeds_give_mean_and_std_per_point(tmp_path, data_dir):
    config = tiny_config(
        data_dir, seeds=(0, 1), baselines=("real",), samplers=("uniform",), episodes=(2,)
    )
    results = distill.run(config, str(tmp_path), progress=False)
    assert results["methods"] == ["mlp/real", "mlp/recollections_1x/uniform"]
    per_seed = [r["curves"]["mlp/real"][0] for r in results["per_seed"]]
    assert results["curves"]["mlp/real"]["mean"] == [pytest.approx(np.mean(per_seed))]
    assert results["curves"]["mlp/real"]["std"] == [pytest.approx(np.std(per_seed))]


def test_students_and_samplers_share_a_run_and_do_not_change_each_other(tmp_path, data_dir):
    both = tiny_config(
        data_dir,
        students=("mlp", "cnn"),
        samplers=("uniform", "active"),
        baselines=("real", "codes"),
        episodes=(2,),
    )
    results = distill.run(both, str(tmp_path / "both"), progress=False)
    assert results["methods"] == [
        f"{student}/{name}"
        for student in ("mlp", "cnn")
        for name in (
            "real",
            "recollections_1x/uniform",
            "recollections_1x/active",
            "codes_1x/uniform",
        )
    ]
    assert [s["name"] for s in results["samplers"]] == ["uniform", "active"]
    alone = tiny_config(
        data_dir, students=("cnn",), samplers=("active",), baselines=("real",), episodes=(2,)
    )
    single = distill.run(alone, str(tmp_path / "alone"), progress=False)
    for name in ("cnn/real", "cnn/recollections_1x/active"):
        assert single["curves"][name] == results["curves"][name]


def test_a_saved_teacher_is_used_and_its_digest_recorded(tmp_path, data_dir, finished):
    _, workdir = finished
    path = str(workdir / "seed_0" / "teacher.keras")
    config = tiny_config(data_dir, teacher=path, baselines=("real_teacher",), episodes=(2,))
    assert config.teacher_sha256 == distill.config.file_sha256(path)
    results = distill.run(config, str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run" / "seed_0" / "teacher.keras").exists()
    assert results["teacher_accuracy"] == finished[0]["teacher_accuracy"]


def test_every_method_starts_from_the_same_student():
    keras.utils.set_random_seed(0)
    model = networks.get("mlp")((28, 28, 1), 10)
    initial = [np.array(w) for w in model.get_weights()]
    state = StudentState(model, learning_rate=0.1, seed=0)
    first = state.generator.uniform([3]).numpy()
    x = tf.ones([2, 28, 28, 1])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x))
    state.optimizer.apply(tape.gradient(loss, model.trainable_variables))
    state.reset(initial, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), initial, strict=True))
    assert int(state.optimizer.iterations) == 0
    np.testing.assert_array_equal(state.generator.uniform([3]).numpy(), first)


@pytest.mark.parametrize("sampler", ["uniform", "active", "active_diverse", "dpp"])
def test_the_training_step_is_traced_once_across_steps(sampler):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = sources.TrainingImages(
        rng.integers(0, 256, (12, 28, 28, 1), dtype=np.uint8), np.arange(12) % 10
    )
    parts = sources.SourceParts(images, {}, seed=0)
    method = distill.Method("sampled_real", "real", "teacher", sampled=True)
    state = StudentState(networks.get("mlp")((28, 28, 1), 10), learning_rate=0.01, seed=0)
    teacher = networks.lenet((28, 28, 1), 10)
    step = student_lib.train_step(
        state,
        teacher,
        method,
        sources.make_draw(method, parts),
        distill.build_sampler(sampler, k=3, n=2),
        batch_size=2,
    )
    losses = [float(step()) for _ in range(3)]
    assert step.experimental_get_tracing_count() == 1
    assert all(np.isfinite(losses)) and int(state.optimizer.iterations) == 3


def test_subsets_are_fixed_per_seed_and_of_the_asked_size():
    rows = sources.subset_rows(1000, 2.0, seed=3)
    assert len(rows) == 20 and len(set(rows.tolist())) == 20
    np.testing.assert_array_equal(rows, sources.subset_rows(1000, 2.0, seed=3))
    assert not np.array_equal(rows, sources.subset_rows(1000, 2.0, seed=4))
    assert len(sources.subset_rows(40, 1.0, seed=0)) == 1  # never empty


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"samplers": ("greedy",)}, r"--samplers among \["),
        ({"samplers": ("active", "active")}, r"distinct --samplers"),
        ({"students": ("cnn", "cnn")}, r"distinct --students"),
        ({"sampler_k": 0}, r"k an int >= 1 \(--sampler_k\)"),
        ({"students": ("resnet",)}, r"--students among \['cnn', 'mlp'\]"),
        ({"episodes": (3,)}, r"each a multiple of --batch_size=2"),
        ({"episodes": (4, 2)}, r"increasing --episodes"),
        ({"compressions": (0.0,)}, r"--compressions > 0"),
        ({"baselines": ("real", "teacher")}, r"--baselines among"),
        ({"subset_percents": (150.0,)}, r"--subset_percents in \(0, 100\]"),
        ({"teacher": "missing.keras"}, r"--teacher to name a saved .keras model"),
        ({"teacher_sha256": "ab"}, r"--teacher with --teacher_sha256"),
        ({"num_categories": 1}, r"--num_categories in \[2, 256\]"),
        ({"seeds": (0, 0)}, r"distinct --seeds"),
        ({"seeds": ()}, r"--seeds a non-empty list"),
        ({"learning_rate": 0.0}, r"--learning_rate > 0"),
    ],
)
def test_bad_settings_are_refused_when_the_config_is_made(data_dir, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(data_dir, **overrides)


def test_a_compression_too_high_for_the_codec_fails_before_anything_is_written(tmp_path, data_dir):
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match="Expected --compressions whose budget holds the codec"):
        distill.run(tiny_config(data_dir, compressions=(1.0, 100.0)), str(workdir), progress=False)
    assert not os.path.exists(workdir)


def test_a_teacher_of_another_shape_is_refused_before_training(tmp_path, data_dir):
    path = str(tmp_path / "wide.keras")
    networks.lenet((32, 32, 1), 10).save(path)
    with pytest.raises(ValueError, match=r"a teacher mapping \(28, 28, 1\) to 10 logits"):
        distill.run(tiny_config(data_dir, teacher=path), str(tmp_path / "run"), progress=False)
    assert not os.path.exists(tmp_path / "run")


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGFILE = os.path.join(REPO, "runners", "configs", "distill_mnist.flags")
TINY_FLAGS = (
    "--teacher_epochs=1",
    "--codec=mlp",
    "--codec_units=2",
    "--codec_epochs=1",
    "--compressions=1",
    "--subset_percents=10",
    "--episodes=2,4",
    "--batch_size=2",
    "--fit_batch_size=8",
    "--eval_batch_size=7",
    "--seeds=0",
    "--samplers=active",
    "--sampler_k=2",
    "--progress=false",
)


def run_module(*args):
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_flagfile_parses_into_the_papers_settings():
    config = distill_runner.config_from_flagfile(FLAGFILE)
    assert config.compressions == (10.0, 50.0, 100.0) and config.num_categories == 2
    assert config.episodes == (10, 100, 1000, 10000) and config.batch_size == 1
    assert config.seeds == (0, 1, 2, 3, 4) and config.students == ("cnn",)
    assert (config.sampler_k, config.sampler_n) == (10, 10)
    names = [method.name for method in config.methods()]
    baselines = ["real", "real_teacher", "subset_10%", "subset_2%", "subset_1%"]
    assert names[:5] == [f"cnn/{name}" for name in baselines]
    assert names[5:] == [
        f"cnn/{kind}_{r}x/uniform" for r in (10, 50, 100) for kind in ("recollections", "codes")
    ]
    both = distill_runner.config_from_flagfile(
        FLAGFILE, "--students=cnn,mlp", "--samplers=uniform,dpp", "--compressions=10"
    )
    assert both.students == ("cnn", "mlp") and both.samplers == ("uniform", "dpp")
    assert [m.name for m in both.methods() if m.student == "mlp"][5:] == [
        "mlp/recollections_10x/uniform",
        "mlp/recollections_10x/dpp",
        "mlp/codes_10x/uniform",
    ]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--episodes=10,ten", r"Expected --episodes as comma-separated int values"),
        ("--compressions=10,x", r"Expected --compressions as comma-separated float values"),
        ("--samplers=greedy", r"--samplers among"),
        ("--episodes=5", r"each a multiple of --batch_size=2"),
    ],
)
def test_bad_flags_are_refused_when_the_config_is_made(flag, message):
    with pytest.raises(ValueError, match=message):
        distill_runner.config_from_flagfile(FLAGFILE, "--batch_size=2", flag)


def test_the_runner_refuses_bad_flags_before_any_training(tmp_path, data_dir):
    workdir = tmp_path / "run"
    bad = run_module(
        "runners.distill",
        f"--flagfile={FLAGFILE}",
        "--sampler_k=0",
        f"--data_dir={data_dir}",
        f"--workdir={workdir}",
    )
    assert bad.returncode != 0 and "Expected k an int >= 1 (--sampler_k)" in bad.stderr
    assert not workdir.exists()


def test_the_runner_and_the_plot_smoke(tmp_path, data_dir):
    workdir = tmp_path / "run"
    result = run_module(
        "runners.distill",
        f"--flagfile={FLAGFILE}",
        *TINY_FLAGS,
        f"--data_dir={data_dir}",
        f"--workdir={workdir}",
        f"--cache_dir={tmp_path / 'cache'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy (%) after 4 episodes: cnn/real" in result.stdout
    results = json.loads((workdir / "results.json").read_text())
    assert results["kind"] == "distill" and results["samplers"][0]["name"] == "active"
    assert len(results["methods"]) == 5
    given = (workdir / "flags.txt").read_text()
    assert "--samplers=active" in given and "--episodes=2,4" in given
    png = tmp_path / "curves.png"
    plotted = run_module("runners.plot", f"--workdirs={workdir}", f"--output={png}")
    assert plotted.returncode == 0, plotted.stderr[-3000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filling_a_memory_trains_its_codec_then_freezes_it():
    """The memory freezes its codec for hosts; fill_memory must still train it first."""
    config = distill.DistillConfig(codec="mlp", codec_units=16, codec_epochs=20, fit_batch_size=8)
    rng = np.random.default_rng(0)
    x_train = (rng.random((32, 28, 28, 1)) < 0.2).astype(np.uint8) * 255
    shape = budget.describe(num_latents=8, num_categories=2, items=32, input_shape=(28, 28, 1))
    memory = recollections.build_memory(config, shape, input_shape=(28, 28, 1), seed=0)
    before = [w.numpy().copy() for w in memory.codec.weights]
    report = recollections.fill_memory(memory, config, x_train, np.zeros(32, int), seed=0)
    after = [w.numpy() for w in memory.codec.weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))
    assert report["final_loss"] < 0.6  # 0.693 is a codec that learned nothing (sigmoid(0))
    assert memory.trainable_weights == [] and int(memory.size()) == 32
