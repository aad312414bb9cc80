"""The real tensorflow_datasets builder path, offline: no mock of our loader or of tfds.

Two kinds of test, both with the network blocked at the socket (DNS and connect fail):

- up to the network: `download_and_prepare` must get as far as the download and fail
  there (not at an import, as it did when tfds 4.9.10 lacked `importlib_resources`),
  and our error must say that tfds needs the network and where local files go;
- from tfds's download cache: tiny files in the publishers' formats are put where tfds
  keeps finished downloads, so the whole builder (extract, generate, write, read) runs
  without a connection, and its arrays must match those the files hold.
"""

import concurrent.futures
import errno
import io
import os
import socket
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import urllib3
from PIL import Image

from recollect.datasets import DataNotFoundError, catalog, load_arrays, load_stream, tfds_source

# Data set -> (a file name the error must list, the host tfds downloads it from).
DOWNLOADS = {
    "mnist": ("train-images-idx3-ubyte", "storage.googleapis.com"),
    "cifar10": ("cifar-10-batches-py", "www.cs.toronto.edu"),
    "cifar100": ("cifar-100-python", "www.cs.toronto.edu"),
    "omniglot": ("images_background", "github.com"),
}


@pytest.fixture
def offline(monkeypatch):
    """Blocks the network at the socket, as on a machine without one; yields hosts tried.

    tfds retries each download 10 times with exponential backoff (about 200 s offline;
    `tfds_source.check_network` fails first, in seconds); urllib3's backoff is set to 0
    so that any retries still run, without the waits.
    """
    hosts = []

    def getaddrinfo(host, *args, **kwargs):
        hosts.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution (test)")

    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family not in (socket.AF_INET, socket.AF_INET6):
            return real_connect(self, address)
        hosts.append(address[0])
        raise OSError(errno.ENETUNREACH, "Network is unreachable (test)")

    # tfds downloads in pool threads that go on after the first failure has been raised:
    # wait for them before the sockets are restored, so none can reach the network.
    futures = []
    real_submit = concurrent.futures.ThreadPoolExecutor.submit

    def submit(self, *args, **kwargs):
        futures.append(real_submit(self, *args, **kwargs))
        return futures[-1]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(urllib3.util.retry.Retry, "get_backoff_time", lambda self: 0.0)
    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", submit)
    yield hosts
    _, running = concurrent.futures.wait(futures, timeout=20)
    assert not running, f"{len(running)} tfds downloads still running"


def exception_chain(error):
    chain = []
    while error is not None and all(error is not seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def assert_fails_at_the_network(error, hosts, name):
    chain = exception_chain(error)
    assert not [e for e in chain if isinstance(e, ImportError)], chain  # Not an install bug.
    assert any(isinstance(e, socket.gaierror) and "(test)" in str(e) for e in chain), chain
    assert DOWNLOADS[name][1] in hosts
    message = str(error)
    assert "tensorflow_datasets was tried" in message
    assert "downloads a data set from the internet" in message
    assert "network could not be reached" in message
    assert "--data_dir" in message and "RECOLLECT_DATA_DIR" in message
    assert DOWNLOADS[name][0] in message


@pytest.mark.parametrize("name", sorted(DOWNLOADS))
def test_tfds_builder_runs_up_to_the_download(offline, tmp_path, name):
    start = time.monotonic()
    with pytest.raises(DataNotFoundError) as error:
        load_arrays(name, source="tfds", data_dir=tmp_path / "tfds", use_cache=False)
    assert_fails_at_the_network(error.value, offline, name)
    assert time.monotonic() - start < 30


def test_without_data_root_the_stream_tries_tfds_and_fails_at_the_network(
    offline, monkeypatch, tmp_path
):
    from tensorflow_datasets.core import constants

    monkeypatch.setattr(constants, "DATA_DIR", os.fspath(tmp_path / "tfds_default"))
    with pytest.raises(DataNotFoundError) as error:
        load_stream("mnist_rotations", cache_dir=tmp_path / "cache")
    assert "RECOLLECT_DATA_DIR is unset" in str(error.value)
    assert_fails_at_the_network(error.value, offline, "mnist")
    # Refused at the network probe, before tfds writes into its default data dir.
    assert not (tmp_path / "tfds_default").exists()


def test_failure_hint_names_a_missing_module():
    assert tfds_source.failure_hint(ValueError("bad file")) == ""
    wrapped = RuntimeError("builder failed")
    wrapped.__cause__ = ModuleNotFoundError("No module named 'x'", name="importlib_resources")
    hint = tfds_source.failure_hint(wrapped)
    assert "'importlib_resources'" in hint and "pip install -e ." in hint


def serve_from_download_cache(name, data_dir, files):
    """Puts `files` (URL file name -> bytes) where tfds keeps its finished downloads."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import resource

    downloads = data_dir / "downloads"
    downloads.mkdir(parents=True)
    for url, info in tfds.builder(name, data_dir=os.fspath(data_dir)).url_infos.items():
        path = downloads / resource.get_dl_fname(url, info.checksum)
        path.write_bytes(files[url.rsplit("/", 1)[1]])
        Path(f"{path}.INFO").write_text("{}")


def tar_gz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def cifar_binary(labels, images):
    """The CIFAR binary records: the label bytes, then R, G and B planes of 1024 bytes."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels.astype(np.uint8), planes], axis=1).tobytes()


def sorted_rows(images, *labels):
    """(image bytes, labels...) per example, sorted: tfds shuffles the examples."""
    return sorted(zip((x.tobytes() for x in images), *(y.tolist() for y in labels), strict=True))


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_tfds_cifar_builds_offline_from_the_download_cache(offline, tmp_path, name):
    rng = np.random.default_rng(0)
    truth, files = {}, {}
    for split, count in (("train", 25), ("test", 10)):
        images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
        truth[split] = (images, rng.integers(0, 100, count), rng.integers(0, 20, count))
    if name == "cifar10":
        y = {split: truth[split][1] % 10 for split in truth}
        members = {
            f"cifar-10-batches-bin/data_batch_{i + 1}.bin": cifar_binary(
                y["train"][i * 5 : i * 5 + 5, None], truth["train"][0][i * 5 : i * 5 + 5]
            )
            for i in range(5)
        }
        members["cifar-10-batches-bin/test_batch.bin"] = cifar_binary(
            y["test"][:, None], truth["test"][0]
        )
        members["cifar-10-batches-bin/batches.meta.txt"] = "\n".join(catalog.CIFAR10_CLASSES)
        files["cifar-10-binary.tar.gz"] = tar_gz({k: _bytes(v) for k, v in members.items()})
    else:
        members = {
            f"cifar-100-binary/{split}.bin": cifar_binary(
                np.stack([truth[split][2], truth[split][1]], axis=1), truth[split][0]
            )
            for split in truth
        }
        members["cifar-100-binary/coarse_label_names.txt"] = "\n".join(
            catalog.CIFAR100_SUPERCLASSES
        )
        members["cifar-100-binary/fine_label_names.txt"] = "\n".join(catalog.CIFAR100_CLASSES)
        files["cifar-100-binary.tar.gz"] = tar_gz({k: _bytes(v) for k, v in members.items()})
    serve_from_download_cache(name, tmp_path / "tfds", files)

    data = load_arrays(name, source="tfds", data_dir=tmp_path / "tfds", use_cache=False)
    assert offline == []  # Served from the cache: no connection was tried.
    for split, (images, fine, coarse) in truth.items():
        if name == "cifar10":
            expected = sorted_rows(images, fine % 10)
            got = sorted_rows(data.arrays[f"x_{split}"], data.arrays[f"y_{split}"])
        else:
            expected = sorted_rows(images, fine, coarse)
            got = sorted_rows(*(data.arrays[f"{k}_{split}"] for k in ("x", "y", "coarse")))
        assert got == expected
        assert data.arrays[f"x_{split}"].dtype == np.uint8
        assert data.arrays[f"y_{split}"].dtype == np.int32
    classes = catalog.CIFAR10_CLASSES if name == "cifar10" else catalog.CIFAR100_CLASSES
    assert data.metadata["class_names"] == list(classes)
    assert data.metadata["source"] == "tfds"


def _bytes(value):
    return value.encode() if isinstance(value, str) else value


def omniglot_zips(drawers=2):
    """The four official zips with 1623 characters in 50 alphabets, as tfds requires.

    Background alphabets sort after evaluation ones, as some real ones do, so the
    alphabet order (by first character id) differs from tfds's (by name).
    """
    rng = np.random.default_rng(0)
    parts = {"images_background": {}, "images_evaluation": {}}
    char_id = 0
    for a in range(50):
        part, alphabet = (
            ("images_background", f"Latin{a:02d}")
            if a < 30
            else ("images_evaluation", f"Angelic{a:02d}")
        )
        for n in range(1, 1623 // 50 + (a < 1623 % 50) + 1):
            char_id += 1
            for drawer in range(1, drawers + 1):
                image = np.ones((105, 105), bool)
                top, left, height, width = rng.integers(5, 60, 4)
                image[top : top + height, left : left + width] = False
                buffer = io.BytesIO()
                Image.fromarray(image).convert("1").save(buffer, format="PNG")
                name = f"{alphabet}/character{n:02d}/{char_id:04d}_{drawer:02d}.png"
                parts[part][name] = buffer.getvalue()
    background = sorted(parts["images_background"].items())
    parts["images_background_small1"] = dict(background[: 10 * drawers])
    parts["images_background_small2"] = dict(background[10 * drawers : 20 * drawers])
    zips = {}
    for part, members in parts.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members.items():
                archive.writestr(f"{part}/{name}", data)
        zips[f"{part}.zip"] = buffer.getvalue()
    return zips


def test_tfds_omniglot_builds_offline_and_matches_the_local_zips(offline, tmp_path):
    zips = omniglot_zips()
    serve_from_download_cache("omniglot", tmp_path / "tfds", zips)
    (tmp_path / "root" / "omniglot").mkdir(parents=True)
    for part in ("images_background", "images_evaluation"):
        (tmp_path / "root" / "omniglot" / f"{part}.zip").write_bytes(zips[f"{part}.zip"])

    tfds_data = load_arrays("omniglot", source="tfds", data_dir=tmp_path / "tfds", use_cache=False)
    local = load_arrays("omniglot", source="local", data_dir=tmp_path / "root", use_cache=False)
    assert offline == []
    assert tfds_data.arrays["x"].shape == (1623, 2, 28, 28, 1)
    for key in ("char_ids", "alphabet", "alphabet_names"):
        np.testing.assert_array_equal(tfds_data.arrays[key], local.arrays[key])
    assert tfds_data.arrays["alphabet_names"][0] == "Latin00"
    # tfds has no drawer feature: within a character its drawers come in tfds's order.
    for ours, theirs in zip(tfds_data.arrays["x"], local.arrays["x"], strict=True):
        assert sorted(d.tobytes() for d in ours) == sorted(d.tobytes() for d in theirs)
