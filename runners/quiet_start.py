"""Loads TensorFlow without its start-up noise on machines that lack a GPU.

TensorFlow's C++ logging writes straight to file descriptor 2 before Python can
configure it: the oneDNN note, "Could not find cuda drivers", and on a machine
without a GPU "failed call to cuInit ... (303)". `import_tensorflow_quietly`
sends descriptor 2 to /dev/null while TensorFlow loads and probes its devices,
then restores it, so errors raised later still show. Set RECOLLECT_VERBOSE_START=1
to see everything.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and lists its devices with C++ start-up logs dropped."""
    if "tensorflow" in sys.modules or os.environ.get("RECOLLECT_VERBOSE_START"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
