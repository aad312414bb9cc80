"""benchmarks.code_sampling (Table 4): the exact nearest-neighbour search, the two
samplers, the table, and one run of the command on tiny generated MNIST files."""

import json

import numpy as np
import pytest
from absl.testing import parameterized

import recollect
from benchmarks import code_sampling, nearest_neighbour, sampling
from recollect import metrics
from tests.datasets import fakes


def _brute_force(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """float64 [N]: min over reference rows of the mean |q - r|, one pair at a time."""
    q = queries.reshape(len(queries), -1).astype(np.float64)
    r = reference.reshape(len(reference), -1).astype(np.float64)
    return np.array([min(np.mean(np.abs(a - b)) for b in r) for a in q])


class NearestL1Test(parameterized.TestCase):
    @parameterized.named_parameters(
        ("chunks_that_do_not_divide", 23, 37, (3, 5), 4, 6, True),
        ("one_item_each", 1, 1, (1,), 1, 1, True),
        ("chunks_larger_than_the_sets", 5, 9, (28, 28, 1), 16, 128, True),
        ("exact_multiples", 8, 12, (7,), 4, 3, True),
        ("without_xla", 11, 29, (4, 2), 3, 7, False),
    )
    def test_matches_a_numpy_brute_force(self, n, m, shape, query_chunk, reference_chunk, jit):
        rng = np.random.default_rng(n * 100 + m)
        queries = rng.random((n, *shape)).astype(np.float32)
        reference = rng.random((m, *shape)).astype(np.float32)
        got = nearest_neighbour.nearest_l1(
            queries,
            reference,
            query_chunk=query_chunk,
            reference_chunk=reference_chunk,
            jit_compile=jit,
        )
        self.assertEqual(got.shape, (n,))
        np.testing.assert_allclose(got, _brute_force(queries, reference), rtol=1e-5, atol=1e-7)
        self.assertAlmostEqual(
            float(np.mean(got)),
            metrics.nearest_neighbour_distortion(queries, reference, batch_size=5),
            places=6,
        )

    def test_a_copy_of_a_reference_item_is_at_distance_zero(self):
        rng = np.random.default_rng(1)
        reference = rng.random((50, 28, 28, 1)).astype(np.float32)
        queries = rng.random((21, 28, 28, 1)).astype(np.float32)
        copies = {0: 49, 7: 0, 20: 17}  # the first, a middle and the last (padded) chunk
        for query, item in copies.items():
            queries[query] = reference[item]
        got = nearest_neighbour.nearest_l1(queries, reference, query_chunk=8, reference_chunk=16)
        for query in range(len(queries)):
            if query in copies:
                self.assertEqual(got[query], 0.0)
            else:
                self.assertGreater(got[query], 0.1)

    @parameterized.named_parameters(
        ("empty_queries", np.zeros((0, 4)), np.zeros((3, 4)), {}, "N >= 1"),
        ("empty_reference", np.zeros((2, 4)), np.zeros((0, 4)), {}, "N >= 1"),
        ("shapes_differ", np.zeros((2, 4)), np.zeros((3, 5)), {}, "same shape"),
        ("not_finite", np.full((2, 4), np.nan), np.zeros((3, 4)), {}, "finite"),
        ("query_chunk", np.zeros((2, 4)), np.zeros((3, 4)), {"query_chunk": 0}, "query_chunk"),
        ("ref_chunk", np.zeros((2, 4)), np.zeros((3, 4)), {"reference_chunk": 1.5}, "reference"),
    )
    def test_refuses_bad_inputs(self, queries, reference, options, message):
        with self.assertRaisesRegex(ValueError, message):
            nearest_neighbour.nearest_l1(queries, reference, **options)


def test_code_sampling_draws_every_latent_uniformly_in_range():
    codes = sampling.draw_codes(38, 3, samples=6000, seed=4)
    assert codes.shape == (6000, 38) and codes.dtype == np.int32
    assert codes.min() == 0 and codes.max() == 2
    for category in range(3):  # every latent takes every value about 1/3 of the time
        share = np.mean(codes == category, axis=0)
        assert np.all(np.abs(share - 1 / 3) < 0.03), share
    np.testing.assert_array_equal(codes, sampling.draw_codes(38, 3, samples=6000, seed=4))
    assert not np.array_equal(codes, sampling.draw_codes(38, 3, samples=6000, seed=5))


def test_buffer_sampling_recalls_decoded_training_codes_and_code_sampling_does_not():
    codec = recollect.DiscreteAutoencoder(
        input_shape=(28, 28, 1), num_latents=6, num_categories=4, seed=0, architecture="conv"
    )
    x = fakes.blob_images(np.random.default_rng(0), 12)[..., None].astype(np.float32) / 255
    y = np.arange(12, dtype=np.int32) % 10
    recalled, memory = sampling.buffer_recollections(codec, x, y, samples=40, seed=0)
    assert recalled.shape == (40, 28, 28, 1) and int(memory.size()) == 12
    stored = codec.decode(codec.encode(x)).numpy().reshape(12, -1)
    # Every recollection is the decoded code of one training image.
    gaps = np.abs(recalled.reshape(40, 1, -1) - stored[None]).max(axis=-1).min(axis=1)
    assert np.all(gaps < 1e-5)
    random_codes = sampling.decode_codes(codec, sampling.draw_codes(6, 4, samples=40, seed=0))
    gaps = np.abs(random_codes.reshape(40, 1, -1) - stored[None]).max(axis=-1).min(axis=1)
    assert np.mean(gaps > 1e-5) > 0.9  # 4**6 codes: a random one is rarely a stored one


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shapes": ()}, "at least one code shape"),
        ({"shapes": ((38, 1),)}, "l in"),
        ({"shapes": ((0, 2),)}, "num_latents"),
        ({"samples": 0}, "samples"),
        ({"epochs": 0}, "epochs"),
        ({"codec_units": 0}, "codec_units"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_config_refuses_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        code_sampling.CodeSamplingConfig(**options)


def test_parse_shapes():
    assert code_sampling.parse_shapes("38x2, 168X2") == ((38, 2), (168, 2))
    with pytest.raises(ValueError, match="38x2,168x2"):
        code_sampling.parse_shapes("38x2,168")


def test_the_command_refuses_a_bad_shape_before_loading_data(tmp_path, capsys):
    with pytest.raises(SystemExit):
        code_sampling.main([f"--data_dir={tmp_path}", "--shapes=38", "--no-progress"])
    assert "Expected shapes like 38x2,168x2" in capsys.readouterr().err


def _report_row(shape, code, buffer):
    seconds = {"train": 10.0, "nearest_code": 3.0, "nearest_buffer": 2.0}
    c, l = shape
    return {
        "shape": f"{c}x{l}",
        "num_latents": c,
        "num_categories": l,
        "bits_per_item": c,
        "filters": c * l // 4,
        "reconstruction_distortion": 0.05,
        "nearest_neighbour_distortion": {"code": code, "buffer": buffer},
        "buffer_below_code": 1 - buffer / code,
        "seconds": seconds,
        "paper": code_sampling.PAPER.get(shape),
    }


def test_markdown_table_puts_the_papers_values_beside_ours():
    report = {
        "rows": [_report_row((38, 2), 0.08, 0.06), _report_row((5, 3), 0.1, 0.1)],
        "settings": {"epochs": 2, "samples": 10_000, "seed": 0},
        "data": {"train_examples": 20_000, "test_examples": 10_000},
        "machine": {"machine": "x86_64", "cpu_count": 2, "tensorflow": "2.21.0"},
        "seconds": 100.0,
    }
    table = code_sampling.markdown_table(report)
    assert "| 38 2-way latents | code sampling | 0.050 | 0.080 | 0.058 | 0.074 |" in table
    assert "|  | buffer sampling | 0.050 | 0.060 | 0.058 | 0.054 |" in table
    assert "| 5 3-way latents | code sampling | 0.050 | 0.100 | - | - |" in table
    assert (
        "38x2 (38 bits, 19 filters): buffer sampling's nearest-neighbour distortion is 25%" in table
    )
    assert "20,000 training images" in table and "nearest neighbours 5 (code 3" in table


def test_the_command_runs_on_tiny_mnist_and_writes_the_table_and_json(tmp_path, capsys):
    fakes.write_mnist(tmp_path / "data" / "mnist", num_train=40, num_test=10, seed=0)
    # Folders that do not exist yet are made before the run.
    output, table = tmp_path / "new" / "report.json", tmp_path / "other" / "table.md"
    code_sampling.main(
        [
            f"--data_dir={tmp_path / 'data'}",
            "--shapes=38x2",
            "--samples=30",
            "--epochs=1",
            "--batch_size=16",
            "--train_examples=24",
            "--no-progress",
            f"--output={output}",
            f"--table={table}",
        ]
    )
    report = json.loads(output.read_text())
    assert set(report) == {"flags", "settings", "data", "machine", "rows", "seconds"}
    assert report["data"]["train_examples"] == 24 and report["data"]["test_examples"] == 10
    assert report["flags"]["train_examples"] == 24 and report["settings"]["samples"] == 30
    (row,) = report["rows"]
    assert row["shape"] == "38x2" and row["bits_per_item"] == 38 and row["filters"] == 19
    assert 0 < row["reconstruction_distortion"] < 1
    assert all(0 < value < 1 for value in row["nearest_neighbour_distortion"].values())
    assert set(row["seconds"]) == {
        "train",
        "reconstruction",
        "buffer_sampling",
        "code_sampling",
        "nearest_code",
        "nearest_buffer",
    }
    written = table.read_text()
    assert "| 38 2-way latents | code sampling |" in written and "| 0.058 | 0.074 |" in written
    assert written in capsys.readouterr().out
