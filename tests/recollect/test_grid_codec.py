"""The grid codec: a spatial code of one set of latents per 4x4 patch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from agents.stores import RecollectionStoreConfig
from agents.stores.recollection_plan import plan
from recollect import ContinuousAutoencoder, DiscreteAutoencoder, budget
from recollect import pretrained_codec as pretrained
from recollect.codec_layers import count_autoencoder_params, grid_cells

# (input shape, cells): 28 and 32 divide by 4; 10 and 30 leave a partial patch.
GRID_SHAPES = [((28, 28, 1), 49), ((32, 32, 3), 64), ((10, 10, 10), 9), ((30, 10, 2), 24)]


@pytest.mark.parametrize(("input_shape", "cells"), GRID_SHAPES)
def test_cells_shapes_ranges_and_param_count(input_shape, cells):
    assert grid_cells(input_shape) == cells
    codec = DiscreteAutoencoder(
        input_shape=input_shape, num_latents=2 * cells, num_categories=3, architecture="grid"
    )
    x = np.random.default_rng(0).random((4, *input_shape), dtype=np.float32)
    indices = codec.encode(x)
    assert indices.shape == (4, 2 * cells) and codec.bits_per_item == 2 * cells * 2
    assert int(tf.reduce_max(indices)) < 3 and int(tf.reduce_min(indices)) >= 0
    x_hat = codec.decode(indices)
    assert x_hat.shape == (4, *input_shape)
    assert float(tf.reduce_min(x_hat)) >= 0.0 and float(tf.reduce_max(x_hat)) <= 1.0
    assert codec.filters == 64  # the grid's default width, whatever c * l
    trainable = sum(int(np.prod(v.shape)) for v in codec.trainable_variables)
    assert trainable == count_autoencoder_params(input_shape, 2 * cells * 3, architecture="grid")
    continuous = ContinuousAutoencoder(
        input_shape=input_shape, latent_size=cells, architecture="grid", width=8
    )
    assert continuous.count_params() == count_autoencoder_params(
        input_shape, cells, architecture="grid", width=8
    )


def test_each_cell_codes_its_own_patch():
    """A latent of the top-left cell sees its patch and its neighbours', not the far side.

    Its receptive field (conv5/2, conv5/2, conv5/1) reaches 18 pixels from the corner.
    """
    codec = DiscreteAutoencoder(
        input_shape=(32, 32, 3), num_latents=64, num_categories=2, architecture="grid", seed=0
    )
    x = tf.Variable(np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32))
    with tf.GradientTape() as tape:
        first = codec.encode_logits(x)[0, 0, 0]  # cell (0, 0)
    gradient = tape.gradient(first, x).numpy()[0]
    assert np.abs(gradient[:8, :8]).sum() > 0
    assert np.abs(gradient[18:, :]).sum() == 0 and np.abs(gradient[:, 18:]).sum() == 0


@pytest.mark.parametrize("num_latents", [1, 63, 65, 100])
def test_latents_not_a_multiple_of_the_cells_are_refused(num_latents):
    with pytest.raises(ValueError, match="num_latents a multiple of 64 for architecture='grid'"):
        DiscreteAutoencoder(
            input_shape=(32, 32, 3), num_latents=num_latents, num_categories=2, architecture="grid"
        )
    with pytest.raises(ValueError, match="architecture='grid'"):
        DiscreteAutoencoder(
            input_shape=(784,), num_latents=4, num_categories=2, architecture="grid"
        )


def test_fit_lowers_the_loss_and_the_codec_round_trips_through_keras(tmp_path):
    keras.utils.set_random_seed(0)
    codec = DiscreteAutoencoder(
        input_shape=(12, 12, 1),
        num_latents=18,
        num_categories=2,
        architecture="grid",
        width=8,
        noise_scale=0.0,
        seed=0,
    )
    x = (np.random.default_rng(2).random((64, 12, 12, 1)) > 0.5).astype(np.float32)
    codec.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = codec.fit(x, x, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert history[-1] < history[0]
    path = str(tmp_path / "grid.keras")
    codec.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.architecture == "grid" and loaded.get_config() == codec.get_config()
    np.testing.assert_array_equal(loaded.encode(x[:4]).numpy(), codec.encode(x[:4]).numpy())
    settings = pretrained.built_codec_settings(codec)
    assert settings["architecture"] == "grid" and settings["filters"] == 8


@pytest.mark.parametrize("incremental_storage", [10, 50, 200])
def test_budget_search_keeps_c_a_multiple_of_the_cells(incremental_storage):
    count = budget.default_param_count((32, 32, 3), architecture="grid", width=64)
    shape = budget.best_code_shape(
        incremental_storage=incremental_storage,
        input_shape=(32, 32, 3),
        items=2000,
        param_count_fn=count,
        latent_multiple=64,
    )
    assert shape.num_latents % 64 == 0
    per_item = incremental_storage * 3072 * 8 // 2000 // 8 * 8  # whole bytes an item
    assert shape.bits_per_item <= per_item < shape.bits_per_item + 64 * 8
    with pytest.raises(ValueError, match="at least 64 latents per item"):
        budget.best_code_shape(
            incremental_storage=1, input_shape=(32, 32, 3), items=2000, latent_multiple=64
        )


def test_store_plan_picks_grid_shapes_and_refuses_a_bad_fixed_shape():
    config = RecollectionStoreConfig(codec="grid", codec_units=64, items=2000)
    chosen = plan(config, incremental_storage=50, input_shape=(32, 32, 3))
    assert (chosen.num_latents, chosen.num_categories, chosen.bits_per_item) == (576, 2, 576)
    fixed = RecollectionStoreConfig(codec="grid", num_latents=100, num_categories=2)
    with pytest.raises(ValueError, match="--num_latents a multiple of 64 with --codec=grid"):
        plan(fixed, incremental_storage=50, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="64x2 grid codec's 420,869 float32 parameters"):
        plan(config, incremental_storage=200, input_shape=(32, 32, 3), budget_kind="total")
    small = RecollectionStoreConfig(codec="grid", codec_units=16, items=2000)
    total = plan(small, incremental_storage=200, input_shape=(32, 32, 3), budget_kind="total")
    assert total.num_latents % 64 == 0 and 0 < total.num_latents < 2432
