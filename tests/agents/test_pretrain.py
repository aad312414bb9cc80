"""Pretraining a codec on unlabelled images, and runs that start their codec from it."""

import dataclasses
import json
import os
import pathlib
import shutil

import numpy as np
import pytest

from agents import continual, pretrain
from agents.continual import ContinualConfig
from recollect import pretrained_codec as pretrained
from tests.datasets import fakes

TINY_STREAM = {"num_tasks": 2, "examples_per_task": 12, "test_examples_per_task": 10}
CODEC = {"num_latents": 8, "num_categories": 4, "codec": "mlp", "codec_units": 16}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fakes.write_mnist(root / "mnist", num_train=40, num_test=20, seed=0)
    fakes.write_cifar10_pickles(root / "cifar10", per_class=1)
    return str(root)


def pretrain_config(data_dir, **overrides):
    settings = {
        **CODEC,
        "dataset": "mnist",
        "data_dir": data_dir,
        "examples": 24,
        "heldout_examples": 8,
        "batch_size": 8,
        "epochs": 2,
        "codec_learning_rate": 3e-3,
    }
    settings.update(overrides)
    return pretrain.PretrainConfig(**settings)


@pytest.fixture(scope="module")
def codec_file(data_dir, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("codec") / "mnist.npz")
    pretrain.pretrain(pretrain_config(data_dir), path, progress=False)
    return path


def run_config(data_dir, codec_init=None, **overrides):
    store = {**CODEC, "items": 40, "stabilize_steps": 1, "codec_init": codec_init}
    store.update(overrides.pop("store", {}))
    settings = {
        "stream": "mnist_rotations",
        "data_dir": data_dir,
        "stream_options": dict(TINY_STREAM),
        "batch_size": 4,
        "learner": "replay",
        "storage": "recollections",
        "incremental_storage": 2,
        "store_config": store,
        "learner_config": {"learning_rate": 0.05, "replay_batch_size": 3},
        "eval_batch_size": 7,
    }
    settings.update(overrides)
    return ContinualConfig(**settings)


def codec_weights(learner):
    codec = learner.store.memory.codec
    return [v.numpy() for v in codec.encoder.weights + codec.decoder.weights]


def test_pretrain_writes_the_weights_and_their_settings(codec_file):
    settings = json.loads(pathlib.Path(pretrained.settings_path(codec_file)).read_text())
    codec, training = settings["codec"], settings["training"]
    assert codec["input_shape"] == [28, 28, 1] and codec["architecture"] == "mlp"
    assert (codec["num_latents"], codec["num_categories"], codec["hidden_units"]) == (8, 4, 16)
    assert codec["bits_per_item"] == 16 and codec["code_bytes"] == 2
    assert training["dataset"] == "mnist" and training["examples"] == 24
    assert training["heldout_examples"] == 8 and training["epochs"] == 2
    assert training["steps"] == 2 * 3 and training["final_loss"] > 0
    assert 0 < training["heldout_l1"] < training["heldout_l1_initial"] <= 1
    assert training["data"]["files"] and training["data"]["source_shape"] == [28, 28, 1]
    with np.load(codec_file) as stored:
        assert len(stored.files) == 12  # 3 dense layers each way, kernel + bias
    assert pretrained.PretrainedCodec.read(codec_file).weights_sha256 == settings["weights_sha256"]


def test_images_are_converted_to_the_run_input_shape(data_dir, tmp_path):
    config = pretrain_config(data_dir, dataset="cifar10", input_shape=(28, 28, 1))
    images, source = pretrain.training_images(config)
    assert images.shape == (50, 28, 28, 1) and images.dtype == np.uint8
    assert source["source_shape"] == [32, 32, 3]
    colour = np.broadcast_to(np.array([100, 150, 200], np.uint8), (1, 32, 32, 3))
    np.testing.assert_array_equal(pretrain.convert_images(colour, (28, 28, 1)), 141)  # luminance
    grey = np.full((2, 8, 8, 1), 200, np.uint8)
    np.testing.assert_array_equal(pretrain.convert_images(grey, (4, 4, 3)), 200)
    assert pretrain.convert_images(grey, (64,)).shape == (2, 64)
    with pytest.raises(ValueError, match=r"Expected a flat --input_shape of 8\*8\*1=64"):
        pretrain.convert_images(grey, (65,))
    with pytest.raises(ValueError, match="Expected --input_shape H,W,C"):
        pretrain.convert_images(grey, (4, 4, 2))


def test_excluded_stream_images_are_left_out_and_no_other(data_dir):
    from recollect import datasets

    config = pretrain_config(
        data_dir,
        dataset="cifar10",
        exclude_stream="split_cifar10",
        exclude_seeds=(0, 3),
        exclude_examples_per_task=2,
    )
    images, source = pretrain.training_images(config)
    shown = set()
    for seed in (0, 3):
        stream = datasets.load_stream(
            "split_cifar10", data_dir=data_dir, seed=seed, use_cache=False, examples_per_task=2
        )
        for t in range(len(stream)):
            shown |= {bytes(x) for x in stream.task_arrays(t, dtype=np.uint8).x_train}
    everything = pretrain.training_images(pretrain_config(data_dir, dataset="cifar10"))[0]
    kept = {bytes(x) for x in images}
    assert 10 < len(shown) <= 20  # 5 tasks x 2 images x 2 seeds, some drawn by both
    assert kept.isdisjoint(shown)
    assert kept | shown == {bytes(x) for x in everything}
    assert source["excluded"] == {
        "stream": "split_cifar10",
        "seeds": [0, 3],
        "examples_per_task": 2,
        "images": len(shown),
    }


@pytest.mark.parametrize(
    ("overrides", "output", "message"),
    [
        ({"examples": 40}, "c.npz", "at least --heldout_examples"),
        ({}, "c.h5", "ending in .npz"),
        ({}, "exists.npz", "a new --output"),
    ],
)
def test_bad_pretraining_is_refused_before_training(data_dir, tmp_path, overrides, output, message):
    (tmp_path / "exists.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=message):
        pretrain.pretrain(pretrain_config(data_dir, **overrides), str(tmp_path / output))
    assert not (tmp_path / "c.npz").exists() and not (tmp_path / "c.json").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dataset": "svhn"}, "--dataset"),
        ({"codec": "rnn"}, "--codec"),
        ({"num_categories": 1}, "num_categories"),
        ({"input_shape": (28, 28)}, "--input_shape"),
        ({"epochs": 0}, "--epochs"),
        ({"examples": 0}, "--examples"),
        ({"exclude_stream": "split_cifar10"}, "--exclude_stream a stream of --dataset"),
        ({"exclude_stream": "mnist_rotations"}, "--exclude_stream a stream of --dataset"),
        (
            {"dataset": "cifar10", "exclude_stream": "split_cifar10", "exclude_seeds": ()},
            "--exclude_seeds",
        ),
        (
            {"dataset": "cifar10", "exclude_stream": "split_cifar10", "exclude_seeds": (-1,)},
            "--exclude_seeds",
        ),
        (
            {
                "dataset": "cifar10",
                "exclude_stream": "split_cifar10",
                "exclude_examples_per_task": 0,
            },
            "--exclude_examples_per_task",
        ),
    ],
)
def test_bad_pretraining_settings(data_dir, overrides, message):
    with pytest.raises(ValueError, match=message):
        pretrain_config(data_dir, **overrides)


def test_pretraining_defaults_are_the_store_defaults():
    from agents.stores import RecollectionStoreConfig

    store = RecollectionStoreConfig()
    config = pretrain.PretrainConfig(num_latents=4, num_categories=2)
    for name in ("codec", "codec_units", "codec_kernel_size", "codec_noise", "codec_learning_rate"):
        assert getattr(config, name) == getattr(store, name), name


def test_a_run_with_codec_init_starts_from_exactly_the_pretrained_weights(
    data_dir, codec_file, tmp_path
):
    config = run_config(data_dir, codec_file)
    digest = pretrained.PretrainedCodec.read(codec_file).weights_sha256
    assert config.store_config.codec_init_sha256 == digest
    stream = continual.load_stream(config)
    plan = continual.plan_storage(config, stream)
    learner = continual.build_learner(config, stream, plan, seed=0)
    with np.load(codec_file) as stored:
        order = sorted(stored.files, key=lambda name: (name.startswith("decoder"), name))
        saved = [stored[name] for name in order]  # encoder/000.., then decoder/000..
    for built, expected in zip(codec_weights(learner), saved, strict=True):
        np.testing.assert_array_equal(built, expected)
    fresh = continual.build_learner(run_config(data_dir), stream, plan, seed=0)
    assert not np.array_equal(codec_weights(fresh)[0], saved[0])

    continual.run(config, str(tmp_path), progress=False)
    recorded = json.loads((tmp_path / "config.json").read_text())["store_config"]
    assert recorded["codec_init"] == codec_file and recorded["codec_init_sha256"] == digest


@pytest.mark.parametrize(
    ("store", "named"),
    [
        ({"num_latents": 6}, "num_latents=8"),
        ({"num_categories": 2}, "num_categories=4"),
        ({"codec_units": 12}, "hidden_units=16"),
        ({"codec": "conv"}, "architecture=mlp"),
    ],
)
def test_a_codec_init_of_another_shape_is_refused_before_training(
    data_dir, codec_file, tmp_path, store, named
):
    config = run_config(data_dir, codec_file, store=store)
    with pytest.raises(ValueError, match="Expected a pretrained codec with the run's") as error:
        continual.run(config, str(tmp_path / "w"), progress=False)
    assert f"Received: {codec_file} holds a codec with {named}" in str(error.value)
    assert "runners.pretrain_codec" in str(error.value)
    assert not (tmp_path / "w").exists()  # nothing written


def test_a_codec_init_for_another_input_shape_is_refused(data_dir, codec_file, tmp_path):
    flat = str(tmp_path / "flat.npz")
    pretrain.pretrain(pretrain_config(data_dir, input_shape=(784,), epochs=1), flat, progress=False)
    config = run_config(data_dir, flat)
    with pytest.raises(ValueError, match=r"holds a codec with input_shape=\[784\]"):
        continual.run(config, str(tmp_path / "w"), progress=False)
    with pytest.raises(ValueError, match=r"Received: .*missing.npz does not exist"):
        run_config(data_dir, str(tmp_path / "missing.npz"))


def test_resume_keeps_the_checkpoint_and_refuses_another_codec_file(data_dir, codec_file, tmp_path):
    config = run_config(data_dir, codec_file)
    straight = continual.run(config, str(tmp_path / "straight"), progress=False)
    killed = str(tmp_path / "killed")
    with pytest.raises(continual.RunInterrupted):
        continual.run(config, killed, progress=False, stop_after_steps=4)
    resumed = continual.run(config, killed, resume=True, progress=False)
    for a, b in zip(straight["per_seed"], resumed["per_seed"], strict=True):
        np.testing.assert_array_equal(a["accuracy_matrix"], b["accuracy_matrix"])
    # The same path with other weights in it: the recorded sha256 tells them apart.
    path = str(tmp_path / "codec.npz")
    for name in (path, pretrained.settings_path(path)):
        shutil.copy(name.replace(path[:-4], codec_file[:-4]), name)
    swapped = str(tmp_path / "swapped")
    with pytest.raises(continual.RunInterrupted):
        continual.run(run_config(data_dir, path), swapped, progress=False, stop_after_steps=2)
    pretrained.PretrainedCodec.read(path)  # still there, unchanged so far
    os.remove(path)
    os.remove(pretrained.settings_path(path))
    pretrain.pretrain(pretrain_config(data_dir, seed=1, epochs=1), path, progress=False)
    with pytest.raises(ValueError, match=r"same settings.*store_config.codec_init_sha256"):
        continual.run(run_config(data_dir, path), swapped, resume=True, progress=False)
    pinned = dataclasses.replace(config.store_config, codec_init=None, codec_init_sha256=None)
    with pytest.raises(ValueError, match=r"Expected --codec_init with sha256"):
        dataclasses.replace(
            pinned, codec_init=path, codec_init_sha256=config.store_config.codec_init_sha256
        )


def test_a_total_budget_pays_for_the_codec_first(data_dir, tmp_path):
    # 8x4 mlp codec of 16 units on 28x28: 27,504 parameters = 110,016 bytes (140.3
    # raw examples of 784 bytes); 150 raw examples leave 7,584 bytes: 3,792 2-byte codes.
    total = run_config(data_dir, incremental_storage=150, budget="total", store={"items": None})
    results = continual.run(total, str(tmp_path / "total"), progress=False)
    footprint = results["footprint"]
    assert results["budget"] == "total" and footprint["codec_bytes"] == 110_016
    assert footprint["capacity"] == 3_792 and footprint["input_bytes"] == 7_584
    assert footprint["total_storage_raw_examples"] == pytest.approx(150)
    incremental = run_config(data_dir, incremental_storage=150, store={"items": None})
    stream = continual.load_stream(incremental)
    assert continual.plan_storage(incremental, stream).capacity == 150 * 784 // 2
    too_small = run_config(data_dir, incremental_storage=140, budget="total")
    with pytest.raises(ValueError, match="holds the codec and at least one code") as error:
        continual.run(too_small, str(tmp_path / "small"), progress=False)
    assert "110,016 bytes" in str(error.value) and "above 140.3" in str(error.value)
    assert not (tmp_path / "small").exists()
    with pytest.raises(ValueError, match="--budget"):
        run_config(data_dir, budget="everything")
