"""The speed benchmark: its FLOP counts by hand, and one tiny run of two rows."""

import dataclasses
import json

import keras
import pytest

import recollect
from benchmarks import flops, speed
from tests.datasets import fakes


def test_forward_flops_of_a_tiny_conv_codec_match_a_hand_count():
    codec = recollect.DiscreteAutoencoder(
        input_shape=(8, 8, 1), num_latents=2, num_categories=2, filters=2, architecture="conv"
    )
    # Encoder multiply-adds: conv 8x8x1 -> 4x4x2: 16 * 25 * 1 * 2 = 800; 4x4x2 -> 2x2x2:
    # 4 * 25 * 2 * 2 = 400; 2x2x2 -> 1x1x2: 25 * 2 * 2 = 100; dense 2 -> 4: 8.
    assert flops.forward_flops(codec.encoder) == 2 * (800 + 400 + 100 + 8)
    # Decoder: dense 4 -> 1x1x2: 8; deconvs from 1x1x2: 1 * 25 * 2 * 2 = 100; from 2x2x2:
    # 4 * 25 * 2 * 2 = 400; from 4x4x2 to 8x8x1: 16 * 25 * 2 * 1 = 800.
    assert flops.forward_flops(codec.decoder) == 2 * (8 + 100 + 400 + 800)
    assert flops.forward_flops(codec) == 4 * 1308  # nested models are counted


def test_forward_flops_of_an_mlp_skip_weightless_layers():
    model = keras.Sequential(
        [keras.Input((2, 3)), keras.layers.Flatten(), keras.layers.Dense(4), keras.layers.Dense(5)]
    )
    assert flops.forward_flops(model) == 2 * (6 * 4 + 4 * 5)


def test_step_flops_of_replay_and_gem_over_recollections():
    shape = flops.StepShape(
        batch_size=10, replay_batch_size=10, stabilize_steps=3, num_tasks=5, memories_per_task=4
    )
    replay = flops.STEP_USES["replay"](shape)
    assert replay == flops.StepUse(encoded=10, decoded=30, codec_trained=60, model_trained=20)
    counted = flops.step_flops(replay, encoder=100, decoder=200, model=7)
    assert counted == {"codec": 10 * 100 + 30 * 200 + 3 * 60 * 300, "model": 3 * 20 * 7}
    gem = flops.STEP_USES["gem"](shape)  # 2 earlier tasks on average, 4 memories each
    assert gem == flops.StepUse(encoded=10, decoded=38, codec_trained=60, model_trained=18)
    real = dataclasses.replace(shape, stabilize_steps=0, codec=False)
    assert flops.STEP_USES["replay"](real) == flops.StepUse(model_trained=20)
    assert flops.STEP_USES["gem"](real) == flops.StepUse(model_trained=18)
    online_codec = dataclasses.replace(shape, stabilize_steps=0)  # N = 0: x alone
    assert flops.STEP_USES["replay"](online_codec) == flops.StepUse(
        encoded=10, decoded=10, codec_trained=10, model_trained=20
    )
    assert flops.STEP_USES["online"](shape) == flops.StepUse(model_trained=10)


def test_unknown_rows_are_refused_before_any_run():
    with pytest.raises(ValueError, match="Expected rows among"):
        speed.benchmark(rows=["replay_real_1000"])


def test_every_row_on_tiny_data_reports_every_field(tmp_path):
    fakes.write_mnist(tmp_path / "data" / "mnist", num_train=40, num_test=20, seed=0)
    report = speed.benchmark(
        num_tasks=2,
        extra=["--examples_per_task=12", "--test_examples_per_task=10"],
        data_dir=str(tmp_path / "data"),
        matmul_size=64,
    )
    report = json.loads(json.dumps(report))
    assert set(report) == {"machine", "num_tasks", "extra", "matmul", "rows", "ratios"}
    assert {"platform", "cpu_count", "tensorflow", "devices"} <= set(report["machine"])
    assert report["matmul"]["flops_per_second"] > 0
    rows = {row["row"]: row for row in report["rows"]}
    assert list(rows) == list(speed.ROWS)
    for row in rows.values():
        assert row["steps"] > 0 and row["wall_seconds"] >= row["train_seconds"] > 0
        assert set(row) >= {
            "wall_seconds",
            "train_seconds",
            "other_seconds",
            "retention_mean",
            "peak_rss_mib",
            "codec_flops_per_step",
            "model_flops_per_step",
            "fraction_of_matmul",
        }
    for learner in ("replay", "gem"):
        real, recollections = rows[f"{learner}_real_100"], rows[f"{learner}_recollections_100"]
        assert real["codec_flops_per_step"] == 0 < recollections["codec_flops_per_step"]
    assert rows["online"]["codec_flops_per_step"] == 0
    assert set(report["ratios"]) == {
        "replay_recollections_over_real_train_seconds",
        "gem_recollections_over_real_train_seconds",
    }
    table = speed.markdown_table(report)
    assert table.startswith("| row | wall s |") and "replay_recollections_100" in table
