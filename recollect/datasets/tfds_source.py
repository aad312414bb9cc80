"""The tensorflow_datasets path: used when no local data root is given, or when asked.

Where this sits: `sources.locate` returns `locate(...)` of this module for
`source="tfds"`, or for `"auto"` without a data root; nothing is downloaded until
the `Located.read` runs, so a stream already in the cache needs no network.

```
tfds.builder(name, data_dir).download_and_prepare()
    --> as_dataset(split, batch_size=-1) as numpy, for train and test
    --> the arrays the local formats return:
        mnist, cifar10, cifar100   image -> x_<split>, label -> y_<split>,
                                   coarse_label -> coarse_<split> (CIFAR-100)
        omniglot                   both splits pooled, ordered by character id, and
                                   downsampled as `omniglot.assemble_omniglot` does
```

Any tfds failure (no network, no package, a broken download) raises one
`DataNotFoundError` saying why tfds was tried and what failed; `failure_hint` adds
what a network failure or a missing module means.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

import numpy as np

from recollect.datasets.errors import CorruptDataError, DataNotFoundError
from recollect.datasets.formats import Decoded, Located
from recollect.datasets.omniglot import assemble_omniglot

# split -> feature -> array, and class-label feature -> class names.
Splits = dict[str, dict[str, np.ndarray]]
LabelNames = dict[str, list[str]]


def load_splits(name: str, data_dir: str | os.PathLike | None) -> tuple[str, Splits, LabelNames]:
    """Loads every split of a tfds data set as numpy (downloading when needed).

    Args:
        name: the tfds name, e.g. `mnist`.
        data_dir: tfds's data directory; None for its default.

    Returns:
        (version, split -> feature -> array, class-label feature -> names).
    """
    import tensorflow_datasets as tfds  # Imported here: slow, and only this path needs it.

    builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
    if not builder.is_prepared():
        for host in download_hosts(builder):
            check_network(host)  # seconds, not the minutes tfds's retries take offline
    builder.download_and_prepare()
    splits = {
        split: tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        for split in ("train", "test")
    }
    names = {
        key: list(feature.names)
        for key, feature in builder.info.features.items()
        if isinstance(feature, tfds.features.ClassLabel)
    }
    return str(builder.version), splits, names


# Probed when a builder names no download URLs: tfds's own mirror of prepared data sets.
PROBE_HOST = ("storage.googleapis.com", 443)
PROBE_SECONDS = 5.0


def download_hosts(builder: Any) -> list[tuple[str, int]]:
    """(host, port) of each file the builder would download and tfds has not cached.

    A file already in tfds's download cache (`<data_dir>/downloads`) needs no
    network, so a builder whose files are all there gives [].
    """
    from tensorflow_datasets.core.download import resource

    infos = getattr(builder, "url_infos", None) or {}
    if not infos:
        return [PROBE_HOST]
    root = getattr(builder, "_data_dir_root", None)
    downloads = os.path.join(os.fspath(root), "downloads") if root else None
    hosts: list[tuple[str, int]] = []
    for url, info in infos.items():
        name = resource.get_dl_fname(url, info.checksum)
        if downloads is not None and os.path.exists(os.path.join(downloads, name)):
            continue
        parsed = urllib.parse.urlparse(url)
        host = (parsed.hostname or "", parsed.port or (80 if parsed.scheme == "http" else 443))
        if host not in hosts:
            hosts.append(host)
    return hosts


def check_network(host: tuple[str, int] = PROBE_HOST, timeout: float = PROBE_SECONDS) -> None:
    """Raises ConnectionError unless a TCP connection to host opens within timeout seconds.

    Offline, tfds's download manager retries each file with back-off for minutes
    before it gives up; this probe fails in seconds (a name that does not resolve
    fails at once).
    """
    try:
        socket.create_connection(host, timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(
            f"the network could not be reached ({host[0]}:{host[1]} within {timeout:g} s: {err})"
        ) from err


def locate(
    name: str,
    data_dir: str | os.PathLike | None,
    *,
    reason: str,
    message: Callable[[str], str],
) -> Located:
    """Returns where tfds would read data set `name` from, without downloading it.

    Args:
        name: `mnist`, `cifar10`, `cifar100` or `omniglot`.
        data_dir: tfds's data directory; None for its default.
        reason: why tfds is used, for the error message (e.g. "no data_dir ...").
        message: the problem -> the whole error message (data set, expected files).

    Returns:
        The location; its `read` raises `DataNotFoundError` when tfds fails.
    """
    try:
        package = importlib.metadata.version("tensorflow-datasets")
    except importlib.metadata.PackageNotFoundError:
        package = "missing"

    def read() -> Decoded:
        try:
            version, splits, names = load_splits(name, data_dir)
        except Exception as err:  # Any tfds failure means "no data here".
            problem = (
                f"{reason[0].upper()}{reason[1:]}, so tensorflow_datasets was tried "
                f"(tfds.builder('{name}').download_and_prepare()) and failed: "
                f"{type(err).__name__}: {err}"
            )
            hint = failure_hint(err)
            if hint:
                problem += f"\n{hint}"
            raise DataNotFoundError(message(problem)) from err
        arrays, metadata = _CONVERTERS[name](splits, names)
        return arrays, {**metadata, "tfds_version": version}

    fingerprint = f"tfds:{name}:{package}:{data_dir}"
    return Located(name, "tfds", f"tfds:{name}", "tfds", fingerprint, {}, read)


def failure_hint(err: BaseException) -> str:
    """Returns a sentence on what a tfds failure means, or "" when nothing is known.

    Args:
        err: what `load_splits` raised.

    Returns:
        For a network failure anywhere in the exception chain: tfds needs the network
        the first time. For a missing module: the install is incomplete.
    """
    chain: list[BaseException] = []
    link: BaseException | None = err
    while link is not None and all(link is not seen for seen in chain):
        chain.append(link)
        link = link.__cause__ or link.__context__
    if any(isinstance(link, _network_errors()) for link in chain):
        return (
            "tensorflow_datasets downloads a data set from the internet the first time, "
            "and the network could not be reached. Without network access, put the files "
            "below in a local data root instead."
        )
    missing = next((link for link in chain if isinstance(link, ModuleNotFoundError)), None)
    if missing is not None:
        return (
            f"tensorflow_datasets lacks the module {missing.name!r}: reinstall recollect's "
            "pinned requirements (pip install -e .), or put the files below in a local data root."
        )
    return ""


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the network was unreachable (DNS, connect, timeout, HTTP)."""
    errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, socket.gaierror)
    try:
        import requests  # tfds downloads with `requests`; a dependency of tfds.
    except ImportError:
        return errors
    return (*errors, requests.exceptions.RequestException)


def _image_set(splits: Splits, names: LabelNames) -> Decoded:
    arrays = {}
    for split in ("train", "test"):
        arrays[f"x_{split}"] = np.asarray(splits[split]["image"], dtype=np.uint8)
        arrays[f"y_{split}"] = np.asarray(splits[split]["label"], dtype=np.int32)
        if "coarse_label" in splits[split]:
            arrays[f"coarse_{split}"] = np.asarray(splits[split]["coarse_label"], dtype=np.int32)
    metadata: dict[str, Any] = {"class_names": names.get("label", [])}
    return arrays, metadata


def _omniglot(splits: Splits, names: LabelNames) -> Decoded:
    # tfds's `label` is the official character id minus one; its `alphabet` indexes
    # the sorted alphabet names. Tasks follow the official id order instead.
    images = np.concatenate([splits[s]["image"] for s in ("train", "test")])
    labels = np.concatenate([splits[s]["label"] for s in ("train", "test")])
    alphabets = np.concatenate([splits[s]["alphabet"] for s in ("train", "test")])
    order = np.argsort(labels, kind="stable")
    char_ids, counts = np.unique(labels, return_counts=True)
    if len(set(counts.tolist())) != 1:
        raise CorruptDataError(f"tfds omniglot: characters have {sorted(set(counts))} drawers")
    drawers = int(counts[0])
    white = images[order, :, :, 0].reshape(len(char_ids), drawers, *images.shape[1:3]) > 127
    first = alphabets[order].reshape(len(char_ids), drawers)[:, 0]
    tfds_order = list(dict.fromkeys(first.tolist()))
    alphabet_of = np.array([tfds_order.index(a) for a in first])
    alphabet_names = [names["alphabet"][a] for a in tfds_order]
    return assemble_omniglot(white, char_ids + 1, alphabet_of, alphabet_names), {}


_CONVERTERS: dict[str, Callable[[Splits, LabelNames], Decoded]] = {
    "mnist": _image_set,
    "cifar10": _image_set,
    "cifar100": _image_set,
    "omniglot": _omniglot,
}
