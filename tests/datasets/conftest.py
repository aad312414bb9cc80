"""Shared set-up of the dataset tests: no data root from the environment, a fake root."""

import pytest

from recollect.datasets import sources, tfds_source
from tests.datasets import fakes


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(sources.CACHE_DIR_ENV, raising=False)


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    """A data root with tiny copies of every data set, in the layout of a real one."""
    path = tmp_path_factory.mktemp("data")
    fakes.write_mnist(path / "mnist", num_train=60, num_test=20)
    fakes.write_cifar100(path / "cifar100", train_per_class=2, test_per_class=1)
    fakes.write_image_folder(path / "cifar10", archive="cifar10.tar.gz", train_per_class=3)
    fakes.write_omniglot_npz(path / "omniglot", fakes.omniglot_images())
    return path


@pytest.fixture
def no_tfds(monkeypatch):
    """tfds as it is without network: every load fails."""

    def fail(name, data_dir):
        raise ConnectionError(f"cannot download {name}")

    monkeypatch.setattr(tfds_source, "load_splits", fail)
