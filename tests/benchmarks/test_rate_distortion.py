"""benchmarks.rate_distortion and benchmarks.static_codecs: byte accounting and distortion."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import rate_distortion, rate_distortion_plot, static_codecs
from recollect import datasets
from recollect.datasets.stream import scale_pixels
from tests.datasets import fakes

REPO = Path(__file__).resolve().parents[2]


def _grey(count=6, seed=0):
    return fakes.blob_images(np.random.default_rng(seed), count)[..., None]


def _frames(count=12, channels=10, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((count, 10, 10, channels)) < 0.1).astype(np.uint8)


def _images(test, binary=False):
    return rate_distortion.Images(train=test, test=test, binary=binary)


@pytest.mark.parametrize("quality", [1, 50, 95])
def test_jpeg_header_is_shared_and_counted_once(quality):
    files = [static_codecs.jpeg(p, quality)[0] for p in _grey()]
    lengths = [static_codecs.jpeg_header_length(f) for f in files]
    assert len(set(lengths)) == 1 and files[0].startswith(b"\xff\xd8")
    assert files[0][lengths[0] - 10 : lengths[0] - 8] == b"\xff\xda"  # SOS, 1 component
    assert len({f[: lengths[0]] for f in files}) == 1  # TensorFlow's headers repeat
    headers = [static_codecs.jpeg_header(f) for f in files]
    shared, distinct = static_codecs.shared_header_bits(files, headers)
    whole = 8 * sum(map(len, files)) / len(files)
    header = lengths[0]
    assert distinct == [header]
    assert shared == pytest.approx(8 * (sum(map(len, files)) - (len(files) - 1) * header) / 6)
    assert shared < whole
    rows, headers = rate_distortion.image_codec_rows("mnist", "jpeg", _images(_grey()), quality)
    assert [r["method"] for r in rows] == ["jpeg", "jpeg_shared_header"]
    assert rows[0]["bits_per_item"] == pytest.approx(whole)
    assert rows[1]["bits_per_item"] == pytest.approx(shared) and headers == [header]


def test_shared_header_counts_each_distinct_header_once():
    files = [b"AAxx", b"AAyyy", b"BBz"]
    headers = [(f[:2], 2) for f in files]
    bits, distinct = static_codecs.shared_header_bits(files, headers)
    assert distinct == [2, 2] and bits == pytest.approx(8 * (2 + 3 + 1 + 4) / 3)


def test_webp_header_keeps_its_tags_once_and_drops_the_sizes():
    files = [static_codecs.webp(p, 50)[0] for p in _grey()]
    headers = [static_codecs.webp_header(f) for f in files]
    assert {h for h, _ in headers} == {b"RIFFWEBPVP8 "}
    bits, distinct = static_codecs.shared_header_bits(files, headers)
    assert distinct == [12]
    assert bits == pytest.approx(8 * (np.mean([len(f) for f in files]) - 20 + 12 / len(files)))


def test_jpeg_header_length_refuses_other_files():
    with pytest.raises(ValueError, match="Expected a JPEG"):
        static_codecs.jpeg_header_length(b"\x89PNG....")
    with pytest.raises(ValueError, match="Expected an SOS"):
        static_codecs.jpeg_header_length(b"\xff\xd8\xff\xe0\x00\x04ab")


def test_jpeg_decode_is_within_its_measured_distortion():
    images = _grey()
    rows, _ = rate_distortion.image_codec_rows("mnist", "jpeg", _images(images), 30)
    decoded = np.stack([static_codecs.jpeg(p, 30)[1] for p in images])
    per_image = np.abs(scale_pixels(decoded) - scale_pixels(images)).mean(axis=(1, 2, 3))
    assert rows[0]["l1"] == pytest.approx(per_image.mean())
    assert per_image.min() <= rows[0]["l1"] <= per_image.max()
    assert 0 < rows[0]["l1"] < 0.2 and 0 < rows[0]["psnr"] < math.inf
    high, _ = rate_distortion.image_codec_rows("mnist", "jpeg", _images(images), 95)
    assert high[0]["l1"] < rows[0]["l1"] and high[0]["bits_per_item"] > rows[0]["bits_per_item"]


@pytest.mark.parametrize("channels", [1, 3, 4, 10])
def test_pictures_tile_channels_and_come_back(channels):
    frames = _frames(channels=channels)
    pictures = static_codecs.pictures(frames, binary=True)
    assert set(np.unique(pictures)) <= {0, 255}
    if channels in (1, 3):
        assert pictures.shape == frames.shape
    else:
        assert pictures.shape[-1] == 1 and pictures.size == frames.size
    back = static_codecs.unpictured(pictures, frames.shape[1:], binary=True)
    np.testing.assert_array_equal(back, frames)


def test_binary_lossy_decodings_are_thresholded():
    frames = _frames()
    rows, _ = rate_distortion.image_codec_rows("minatar", "webp", _images(frames, True), 50)
    _, decoded = static_codecs.code_items(frames, True, lambda p: static_codecs.webp(p, 50))
    assert set(np.unique(decoded)) <= {0, 1}
    assert rows[0]["l1"] == pytest.approx(np.mean(decoded != frames))


@pytest.mark.parametrize("binary", [False, True])
def test_lossless_round_trips_are_exact(binary):
    images = _frames() if binary else _grey()
    rows = rate_distortion.lossless_rows("d", _images(images, binary))
    methods = [r["method"] for r in rows]
    extra = ["packbits", "zstd_packbits"] if binary else []
    assert methods == ["raw_uint8", "png", "zstd_uint8", *extra]
    for row in rows:
        assert row["l1"] == 0.0 and row["psnr"] == math.inf
    coded = static_codecs.lossless(images, binary)
    for files, decoded in coded.values():
        np.testing.assert_array_equal(decoded, images)
        assert len(files) == len(images)
    if binary:
        assert rows[methods.index("packbits")]["bits_per_item"] == 1000 / 8 * 8


def test_distortion_row_is_mean_l1_and_psnr():
    x = np.zeros((2, 2, 2, 1), np.float32)
    row = rate_distortion.distortion_row("d", "m", "s", 8, x, np.full_like(x, 0.1))
    assert row["l1"] == pytest.approx(0.1) and row["psnr"] == pytest.approx(20.0)


def test_tiny_run_writes_csv_figure_and_summary(tmp_path, monkeypatch):
    fakes.write_mnist(tmp_path / "data" / "mnist", num_train=40, num_test=10)
    monkeypatch.setitem(rate_distortion.DISCRETE_SHAPES, "mnist", ((38, 2), (4, 4)))
    monkeypatch.setitem(rate_distortion.CONTINUOUS_SIZES, "mnist", (2,))
    config = rate_distortion.Config(
        data_dir=str(tmp_path / "data"),
        datasets=("mnist",),
        train_steps=2,
        reference_steps=3,
        test_items=6,
        qualities=(10, 90),
        progress=False,
    )
    out = tmp_path / "out"
    rows = rate_distortion.run(config, str(out))
    with open(out / "rate_distortion.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == rate_distortion.COLUMNS and len(table) == len(rows)
    settings = {(r["method"], r["setting"]) for r in table}
    for method in ("jpeg", "jpeg_shared_header", "webp", "webp_shared_header"):
        assert {(method, "q10"), (method, "q90")} <= settings
    assert {("discrete_ae", "38x2"), ("discrete_ae", "4x4"), ("png", "lossless")} <= settings
    for bits in (32, 16, 8):
        row = next(r for r in rows if r["method"] == f"continuous_ae_{bits}bit")
        assert row["bits_per_item"] == 2 * bits and 0 <= row["l1"] <= 1
    assert next(r for r in rows if r["setting"] == "38x2")["bits_per_item"] == 38
    assert (out / "rate_distortion.png").stat().st_size > 0
    summary = (out / "summary.json").read_text()
    assert '"steps": 3' in summary and '"steps": 2' in summary  # the reference shape's budget


def test_methods_pick_the_rows_and_grid_rows_use_the_grid_codec(tmp_path, monkeypatch):
    fakes.write_mnist(tmp_path / "data" / "mnist", num_train=40, num_test=10)
    monkeypatch.setitem(rate_distortion.GRID_SHAPES, "mnist", ((49, 2),))
    config = rate_distortion.Config(
        data_dir=str(tmp_path / "data"),
        datasets=("mnist",),
        reference_steps=2,
        test_items=6,
        methods=("grid", "lossless"),
        progress=False,
    )
    rows = rate_distortion.run(config, str(tmp_path / "out"))
    assert {r["method"] for r in rows} == {"raw_uint8", "png", "zstd_uint8", "discrete_grid"}
    grid = next(r for r in rows if r["method"] == "discrete_grid")
    assert (grid["setting"], grid["bits_per_item"]) == ("49x2", 49) and 0 <= grid["l1"] <= 1
    with pytest.raises(ValueError, match="Expected methods among"):
        rate_distortion.Config(methods=("gif",))


def test_missing_data_says_so(tmp_path):
    config = rate_distortion.Config(data_dir=str(tmp_path), datasets=("mnist",), progress=False)
    with pytest.raises(datasets.DataNotFoundError):
        rate_distortion.run(config, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_figure_of_rows_read_back_from_the_csv(tmp_path):
    rows = [
        rate_distortion.distortion_row("minatar", m, s, b, np.zeros(3), np.full(3, e))
        for m, s, b, e in [("discrete_ae", "40x4", 80, 0.01), ("jpeg", "q5", 900, 0.02),
                           ("jpeg", "q50", 1500, 0.0), ("png", "lossless", 1200, 0.0)]
    ]  # fmt: skip
    rate_distortion.plot(rows, str(tmp_path / "f.png"))
    assert (tmp_path / "f.png").stat().st_size > 0
    rate_distortion.write(rows[:2], {}, str(tmp_path / "a"))
    rate_distortion.write(rows[2:], {}, str(tmp_path / "b"))
    paths = [str(tmp_path / d / "rate_distortion.csv") for d in ("a", "b")]
    assert rate_distortion_plot.read_rows(paths) == rows
    command = [sys.executable, "-m", "benchmarks.rate_distortion_plot", f"--csv={','.join(paths)}"]
    subprocess.run([*command, f"--output={tmp_path / 'g.png'}"], check=True, cwd=REPO)
    assert (tmp_path / "g.png").stat().st_size > 0


def test_config_refuses_unknown_datasets_and_zero_steps():
    with pytest.raises(ValueError, match="Expected datasets"):
        rate_distortion.Config(datasets=("svhn",))
    with pytest.raises(ValueError, match="Expected train_steps >= 1"):
        rate_distortion.Config(train_steps=0)
