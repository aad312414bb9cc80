"""Tests for Incremental CIFAR-100: coarse-label tasks and the GEM variant."""

from recollect.datasets import catalog
from tests.datasets.fakes import load_uncached as _load


def test_incremental_cifar100_tasks(root):
    coarse = _load(root, "incremental_cifar100")
    names = list(catalog.CIFAR100_SUPERCLASSES.values())
    for task in coarse:
        expected = sorted(catalog.CIFAR100_CLASSES.index(f) for f in names[task.task_id])
        assert list(task.classes) == expected
    gem = _load(root, "incremental_cifar100", variant="gem")
    for task in gem:
        assert list(task.classes) == list(range(5 * task.task_id, 5 * task.task_id + 5))
    assert gem.metadata["variant"] == "gem"
