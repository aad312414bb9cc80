"""Installs `recollect`: scalable recollections for continual lifelong learning."""

from pathlib import Path

from setuptools import find_packages, setup

# What `recollect/` imports (tests/test_structure.py checks the list against it).
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "tensorflow-datasets==4.9.10",
    # tfds 4.9.10 imports `importlib_resources` in download_and_prepare but declares it
    # only for Python < 3.9 (tensorflow/datasets#11212), so the tfds fallback fails here.
    "importlib_resources==7.1.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pillow==13.0.0",
]

# What the experiments in a checkout (agents/, runners/, benchmarks/) add.
EXPERIMENTS_REQUIRES = [
    "absl-py==2.5.1",
    "tqdm==4.70.1",
    "gymnasium==1.4.0",
    "matplotlib==3.11.2",
    "tensorboard==2.21.0",
]

TEST_REQUIRES = [
    "pytest==9.2.0",
    "hypothesis==6.170.15",
    "parameterized==0.9.0",
    "ruff==0.17.5",
    "mypy==2.4.1",
]

# The lifelong agent's games: MinAtar (CPU) and the Arcade Learning Environment (GPU).
RL_REQUIRES = ["minatar==1.0.15", "zstandard==0.25.0"]
ATARI_REQUIRES = ["ale-py==0.12.1", "opencv-python-headless==5.0.0.93"]

setup(
    name="recollect",
    version="0.1.0",
    description=(
        "Scalable Recollections (Riemer et al., AAAI 2019): a Keras memory that "
        "stores experiences as packed k-bit discrete codes and replays them."
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    # Only the library is installed. The experiments (agents/, runners/, benchmarks/)
    # run from a checkout, so no bare top-level `agents` or `runners` lands in
    # site-packages beside other projects' modules of those names.
    packages=find_packages(include=["recollect", "recollect.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "experiments": EXPERIMENTS_REQUIRES,
        "test": TEST_REQUIRES,
        "rl": RL_REQUIRES,
        "atari": ATARI_REQUIRES,
    },
    license="Apache-2.0",
)
