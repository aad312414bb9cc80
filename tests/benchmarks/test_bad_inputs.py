"""A smoke test of the bad-input report: a few areas, rendered and judged."""

import numpy as np

from benchmarks import bad_inputs


def test_report_rows_and_summary(tmp_path, capsys):
    output = tmp_path / "bad_inputs.md"
    status = bad_inputs.main(
        ["--area", "footprint", "--area", "recollect.bits", "--output", str(output)]
    )
    report = output.read_text()
    assert report.startswith("| area | case | error raised | state unchanged |")
    rows = [line for line in report.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) - 1 >= 20  # every case of those areas, one row each
    assert "footprint(bits_per_value=0) | ValueError: Expected bits_per_value" in report
    summary = report.splitlines()[-1]
    assert summary.startswith(f"{len(rows) - 1} cases, ")
    assert status == (1 if "Failing today" in report else 0)
    assert report.strip() in capsys.readouterr().out


def test_a_case_that_changes_state_or_raises_nothing_fails():
    box = {"value": np.zeros(2)}
    subject = bad_inputs.Subject(box, lambda: {"value": box["value"].copy()})

    def assign(target):
        target["value"] = np.ones(2)

    silent = bad_inputs.run_case(bad_inputs.Case("area", "silent", lambda: subject, assign))
    assert not silent.refused and silent.changed == ("value",) and not silent.passed

    def refuse(target):
        raise ValueError("Expected a good input. Received: a bad one")

    refused = bad_inputs.run_case(bad_inputs.Case("area", "refused", lambda: subject, refuse))
    assert refused.passed and refused.error.startswith("ValueError: Expected a good input")
    no_op = bad_inputs.run_case(bad_inputs.Case("area", "empty", lambda: subject, len, True))
    assert no_op.passed and not no_op.refused


def test_every_bad_input_is_refused_and_changes_nothing(tmp_path):
    """The whole table of BUILD.md: every case refused (or an empty no-op), state unchanged."""
    output = tmp_path / "all.md"
    assert bad_inputs.main(["--output", str(output)]) == 0, output.read_text()[-4000:]
    summary = output.read_text().splitlines()[-1]
    total, refused_or_noop = summary.split(" cases, ")[0], summary.split(", ")[2].split()[0]
    assert int(total) >= 400 and refused_or_noop == total
