"""benchmarks.tables: every paper row has a flagfile, and a table's codecs are made first."""

import json
import os

from benchmarks import tables


def test_every_named_row_has_a_flagfile():
    for table, rows in tables.PAPER.items():
        folder = os.path.join(tables.CONFIGS, "configs", table)
        for row in rows:
            assert os.path.exists(os.path.join(folder, f"{row}.flags")), (table, row)


def test_every_codec_a_flagfile_starts_from_is_made_by_prepare():
    for table in tables.PAPER:
        folder = os.path.join(tables.CONFIGS, "configs", table)
        named = set()
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                named |= {ln.split("=", 1)[1].strip() for ln in f if ln.startswith("--codec_init=")}
        assert named <= set(tables.PREPARE.get(table, {})), table
    assert set(tables.PREPARE) == {"table3", "table1_omniglot_codec", "split_cifar10_pretrained"}


def test_prepare_runs_the_pretraining_only_for_a_missing_codec(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tables, "CONFIGS", str(tmp_path / "runners"))
    monkeypatch.setattr(tables.subprocess, "run", lambda command, **kw: calls.append((command, kw)))
    tables.prepare("table3", "/data")
    assert len(calls) == 1
    command, options = calls[0]
    assert "runners.pretrain_codec" in command and "--data_dir=/data" in command
    assert "--output=codecs/omniglot_26x4_f8k3.npz" in command
    assert options["cwd"] == str(tmp_path) and options["check"]
    (tmp_path / "codecs").mkdir()
    (tmp_path / "codecs" / "omniglot_26x4_f8k3.npz").write_bytes(b"")
    tables.prepare("table3", "/data")
    assert len(calls) == 1  # present: not made again
    tables.prepare("table1", None)  # a table without codecs runs nothing
    assert len(calls) == 1


def test_table3_rows_are_labelled_by_name(tmp_path):
    row = tmp_path / "replay_recollections_omniglot"
    row.mkdir()
    results = {
        "learner": "replay",
        "storage": "recollections",
        "incremental_storage": 200,
        "retention_mean": 0.757,
        "retention_std": 0.009,
        "seeds": [0, 1, 2, 3, 4],
        "footprint": {"capacity": 5631, "bits_per_item": 52},
    }
    (row / "results.json").write_text(json.dumps(results))
    rows = ["replay_recollections_omniglot"]
    text = tables.report(str(tmp_path), rows, {}, by_name=True)
    assert "| replay recollections omniglot | 200 | 5631 | 52 | 75.7 +- 0.9 (n=5) | - |" in text
    assert "| replay recollections | 200 |" in tables.report(str(tmp_path), rows, {})
    assert "| method | total storage |" in text
    missing = tables.report(str(tmp_path), ["gem_real"], {"gem_real": 48.7}, by_name=True)
    assert "| gem real | | | | not run | 48.7 |" in missing
