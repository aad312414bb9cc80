"""Shared test set-up: quiet TensorFlow and keep every test on the CPU."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import tempfile

# Tests never write prepared data into the user's cache.
os.environ["RECOLLECT_CACHE_DIR"] = tempfile.mkdtemp(prefix="recollect-test-cache-")
os.environ.pop("RECOLLECT_DATA_DIR", None)
