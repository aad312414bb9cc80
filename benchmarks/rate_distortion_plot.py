"""The figure of `benchmarks.rate_distortion`: the paper's Figure 3, one panel per data set.

`python -m benchmarks.rate_distortion_plot --csv=a.csv,b.csv --output=figure.png` draws
the rows of several runs' rate_distortion.csv files (e.g. a `--methods=grid` run beside
the full one) in one figure.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence

from absl import app, flags

# The paper's Table 5 MNIST points (bits per item, L1): 38x2 and 168x2 latents.
PAPER_POINTS = {"38x2": (38, 0.05785), "168x2": (168, 0.01955)}

STYLES = {  # method -> (matplotlib format, label)
    "discrete_ae": ("o-", "discrete AE (c x l)"),
    "discrete_grid": ("D-", "discrete AE, grid codec"),
    "continuous_ae_32bit": ("s-", "continuous AE, float32"),
    "continuous_ae_16bit": ("s--", "continuous AE, float16"),
    "continuous_ae_8bit": ("s:", "continuous AE, 8-bit"),
    "jpeg": ("^:", "JPEG, whole file"),
    "jpeg_shared_header": ("^-", "JPEG, header shared"),
    "webp": ("v:", "WebP, whole file"),
    "webp_shared_header": ("v-", "WebP, header shared"),
}
TITLES = {"mnist": "MNIST", "cifar10": "CIFAR-10 (JPEG copy)", "minatar": "MinAtar frames"}


def plot(rows: Sequence[dict], path: str) -> None:
    """Figure 3: one panel per data set, bits per item (log) against mean L1."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = list(dict.fromkeys(r["dataset"] for r in rows))
    figure, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4.5), squeeze=False)
    for axis, dataset in zip(axes[0], names, strict=True):
        mine = [r for r in rows if r["dataset"] == dataset]
        for method, (style, label) in STYLES.items():
            points = sorted((r["bits_per_item"], r["l1"]) for r in mine if r["method"] == method)
            if points:
                axis.plot(*zip(*points, strict=True), style, label=label, markersize=4)
        for r in (r for r in mine if r["setting"] == "lossless"):
            axis.plot(r["bits_per_item"], 0.0, "kx")
            axis.annotate(r["method"], (r["bits_per_item"], 0.0), rotation=60, fontsize=7)
        if dataset == "mnist":
            bits, l1 = zip(*PAPER_POINTS.values(), strict=True)
            axis.plot(bits, l1, "r*", markersize=11, label="paper, Table 5 (38x2, 168x2)")
        axis.set(xscale="log", xlabel="bits per item", ylabel="mean L1", title=TITLES[dataset])
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def read_rows(paths: Sequence[str]) -> list[dict]:
    """The rows of rate_distortion.csv files, in order, with bits, L1 and PSNR as floats."""
    rows = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                numbers = {k: float(row[k]) for k in ("bits_per_item", "l1", "psnr")}
                rows.append({**row, **numbers})
    return rows


_FLAGS = flags.FlagValues()
_CSV = flags.DEFINE_list("csv", None, "rate_distortion.csv files.", flag_values=_FLAGS)
_OUTPUT = flags.DEFINE_string("output", "rate_distortion.png", "The figure.", flag_values=_FLAGS)


def main(argv: Sequence[str]) -> None:
    """Draws the figure of the --csv files' rows."""
    if len(argv) > 1 or not _CSV.value:
        raise app.UsageError(f"Expected --csv and only flags. Received: {list(argv[1:])}")
    plot(read_rows(_CSV.value), _OUTPUT.value)
    print(f"figure in {_OUTPUT.value}")


if __name__ == "__main__":
    from runners import program

    program.run(main, flag_values=_FLAGS)
