"""Pretrained codec files: round trip, the checks before loading, and what they refuse."""

import json

import numpy as np
import pytest

from recollect import DiscreteAutoencoder
from recollect import pretrained_codec as pretrained

SHAPE = (8, 8, 1)


def codec(seed=0, **overrides):
    settings = {
        "input_shape": SHAPE,
        "num_latents": 6,
        "num_categories": 4,
        "architecture": "conv",
        "filters": 4,
        "kernel_size": 3,
        "seed": seed,
    }
    settings.update(overrides)
    return DiscreteAutoencoder(**settings)


def weights(model):
    return [v.numpy() for v in model.encoder.weights + model.decoder.weights]


def test_save_then_load_into_a_fresh_codec_gives_its_weights_exactly(tmp_path):
    trained = codec(seed=1)
    path = str(tmp_path / "codec.npz")
    written = pretrained.save(trained, path, training={"dataset": "mnist", "epochs": 2})
    settings = json.loads((tmp_path / "codec.json").read_text())
    assert settings["format"] == pretrained.FORMAT and settings["weights_file"] == "codec.npz"
    assert settings["codec"]["input_shape"] == [8, 8, 1]
    assert settings["codec"]["filters"] == 4 and settings["codec"]["kernel_size"] == 3
    params = sum(w.size for w in weights(trained))
    assert settings["codec"]["param_count"] == params
    assert settings["codec"]["codec_bytes"] == 4 * params
    assert settings["training"] == {"dataset": "mnist", "epochs": 2}

    read = pretrained.PretrainedCodec.read(path)
    assert read.weights_sha256 == written.weights_sha256 == settings["weights_sha256"]
    fresh = codec(seed=2)
    seed_before = fresh.noise_seed.numpy().copy()
    pairs = zip(weights(fresh), weights(trained), strict=True)
    assert not all(np.array_equal(a, b) for a, b in pairs)
    read.load_into(fresh, sha256=written.weights_sha256)
    for a, b in zip(weights(fresh), weights(trained), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fresh.noise_seed.numpy(), seed_before)  # the run's own noise


def test_the_settings_a_store_describes_are_those_a_built_codec_reports():
    described = pretrained.codec_settings(
        input_shape=SHAPE, num_latents=6, num_categories=4, architecture="conv"
    )
    assert described == pretrained.built_codec_settings(
        DiscreteAutoencoder(input_shape=SHAPE, num_latents=6, num_categories=4)
    )
    assert described["filters"] == 6 and described["hidden_units"] == 24  # c*l/4, c*l


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"num_latents": 5}, "num_latents=6"),
        ({"num_categories": 2}, "num_categories=4"),
        ({"filters": 8}, "filters=4"),
        ({"kernel_size": 5}, "kernel_size=3"),
        ({"input_shape": (16, 8, 1)}, "input_shape=[8, 8, 1]"),
        ({"architecture": "mlp"}, "architecture=conv"),
    ],
)
def test_a_codec_of_another_shape_is_refused_and_left_unchanged(tmp_path, overrides, named):
    path = str(tmp_path / "codec.npz")
    pretrained.save(codec(seed=1), path, training={})
    other = codec(seed=2, **overrides)
    before = weights(other)
    with pytest.raises(ValueError, match="Expected a pretrained codec with the run's") as error:
        pretrained.PretrainedCodec.read(path).load_into(other)
    assert "Received: " in str(error.value) and named in str(error.value)
    for a, b in zip(weights(other), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_mlp_compares_its_units_not_the_conv_settings(tmp_path):
    path = str(tmp_path / "codec.npz")
    mlp = {"architecture": "mlp", "hidden_units": 12}
    pretrained.save(codec(seed=1, **mlp), path, training={})
    pretrained.PretrainedCodec.read(path).load_into(codec(seed=2, **mlp, kernel_size=5))
    with pytest.raises(ValueError, match="hidden_units=12"):
        pretrained.PretrainedCodec.read(path).load_into(codec(**{**mlp, "hidden_units": 10}))


def test_missing_mismatched_or_foreign_files_are_refused(tmp_path):
    path = tmp_path / "codec.npz"
    with pytest.raises(ValueError, match=r"Received: .*codec.npz does not exist"):
        pretrained.PretrainedCodec.read(str(path))
    with pytest.raises(ValueError, match=r"<name>.npz.*Received: .*codec.json"):
        pretrained.PretrainedCodec.read(str(tmp_path / "codec.json"))
    pretrained.save(codec(), str(path), training={})
    written = pretrained.PretrainedCodec.read(str(path))
    with pytest.raises(ValueError, match="Expected the pretrained codec with sha256 0000"):
        written.load_into(codec(), sha256="0000")
    pretrained.save(codec(seed=3), str(tmp_path / "other.npz"), training={})
    path.write_bytes((tmp_path / "other.npz").read_bytes())  # weights without their settings
    with pytest.raises(ValueError, match=r"Expected the weights that .*codec.json describes"):
        pretrained.PretrainedCodec.read(str(path))
    (tmp_path / "codec.json").write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(ValueError, match="Expected settings of format"):
        pretrained.PretrainedCodec.read(str(path))
    (tmp_path / "codec.json").unlink()
    with pytest.raises(ValueError, match=r"Received: .*codec.json does not exist"):
        pretrained.PretrainedCodec.read(str(path))
