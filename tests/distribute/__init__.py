"""Tests of training under tf.distribute, each running TensorFlow in a process of its own.

Logical devices and a cluster can only be set before TensorFlow starts, which a
pytest process has done long before; these helpers run Python from the repository
root with TensorFlow's logs quiet.
"""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def python_env(**extra: str) -> dict[str, str]:
    """The environment of such a process: this one's, the repository on the path, extra."""
    return {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_python(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python args...` from the repository root, output captured, bounded by timeout."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
