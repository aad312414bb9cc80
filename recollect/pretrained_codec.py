"""A codec's weights on disk, with the settings a run checks before it starts from them.

Where this sits: `runners.pretrain_codec` (through `agents.pretrain`) trains a
`DiscreteAutoencoder` on unlabelled images and `save`s it; a recollection store
given `codec_init` `read`s the file, refuses one whose code shape or architecture
differs from its own before any training, and `load_into`s its new codec.

```
codec.npz    encoder/000 .. encoder/NNN, decoder/000 .. decoder/NNN    float32 arrays,
             in the order of codec.encoder.weights and codec.decoder.weights
codec.json   {"format": FORMAT, "weights_file": "codec.npz", "weights_sha256": ...,
              "codec":    input_shape, num_latents, num_categories, architecture,
                          filters, hidden_units, kernel_size, bits_per_item,
                          code_bytes, param_count, codec_bytes,
              "training": what it was trained on and how (data set, examples,
                          epochs, ..., heldout_l1)}
```

Only the encoder's and decoder's weights are kept: the Gumbel noise's seed belongs
to the run that loads them. The settings file is written last, so a settings file
always describes complete weights, and the weights' sha256 in it ties the pair.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recollect import bits
from recollect.autoencoder import DiscreteAutoencoder
from recollect.checkpointing import file_digest
from recollect.codec_layers import KERNEL_SIZE, resolve_architecture, resolve_units

FORMAT = "recollect.pretrained_codec/1"
WEIGHTS_SUFFIX = ".npz"
PARAM_BYTES = 4  # float32
# The settings that decide the weights' shapes, per architecture.
_CODE_SETTINGS = ("input_shape", "num_latents", "num_categories", "architecture")
_WEIGHT_SETTINGS = {
    "conv": (*_CODE_SETTINGS, "filters", "kernel_size"),
    "grid": (*_CODE_SETTINGS, "filters", "kernel_size"),
    "mlp": (*_CODE_SETTINGS, "hidden_units"),
}
_STACKS = ("encoder", "decoder")


def settings_path(path: str) -> str:
    """The settings file beside a weights file: codec.npz -> codec.json."""
    return path[: -len(WEIGHTS_SUFFIX)] + ".json"


def codec_settings(
    *,
    input_shape: Sequence[int],
    num_latents: int,
    num_categories: int,
    architecture: str | None = None,
    filters: int | None = None,
    hidden_units: int | None = None,
    kernel_size: int = KERNEL_SIZE,
    width: int | None = None,
) -> dict[str, Any]:
    """The settings of the `DiscreteAutoencoder` these arguments build, defaults resolved.

    Args:
        input_shape: shape of one input.
        num_latents: c.
        num_categories: l.
        architecture: "conv", "mlp", "grid" or None (the codec's default for the shape).
        filters: conv filters; None: c * l / 4.
        hidden_units: mlp units; None: c * l.
        kernel_size: the conv layers' kernel size.
        width: filters (conv) or hidden units (mlp), whatever the architecture.

    Returns:
        {input_shape (a list), num_latents, num_categories, architecture, filters,
        hidden_units, kernel_size}, as a built codec reports them.

    Raises:
        ValueError: as `DiscreteAutoencoder` for a shape or size it would refuse.
    """
    shape, architecture = resolve_architecture(input_shape, architecture)
    filters, hidden_units = resolve_units(
        num_latents * num_categories, filters, hidden_units, width=width, architecture=architecture
    )
    return {
        "input_shape": list(shape),
        "num_latents": int(num_latents),
        "num_categories": int(num_categories),
        "architecture": architecture,
        "filters": filters,
        "hidden_units": hidden_units,
        "kernel_size": int(kernel_size),
    }


def built_codec_settings(codec: DiscreteAutoencoder) -> dict[str, Any]:
    """`codec_settings` of a built codec."""
    return codec_settings(
        input_shape=codec.input_spec_shape,
        num_latents=codec.num_latents,
        num_categories=codec.num_categories,
        architecture=codec.architecture,
        filters=codec.filters,
        hidden_units=codec.hidden_units,
        kernel_size=codec.kernel_size,
    )


@dataclasses.dataclass(frozen=True)
class PretrainedCodec:
    """A pretrained codec file, read and checked against its settings.

    Attributes:
        path: the weights file (.npz).
        codec: the codec's settings (see the module docstring).
        training: how it was trained (see the module docstring).
        weights_sha256: the weights file's sha256, as read now.
    """

    path: str
    codec: Mapping[str, Any]
    training: Mapping[str, Any]
    weights_sha256: str

    @classmethod
    def read(cls, path: str) -> PretrainedCodec:
        """Reads the settings beside a weights file and checks the weights against them.

        Args:
            path: the weights file, `<name>.npz`, with `<name>.json` beside it.

        Returns:
            The `PretrainedCodec`.

        Raises:
            ValueError: a path that is not an .npz file, a missing file, a settings
                file of another format, or weights whose sha256 differs from the
                one their settings record.
        """
        path = os.fspath(path)
        if not path.endswith(WEIGHTS_SUFFIX):
            raise ValueError(
                "Expected a pretrained codec's weights file, <name>.npz, with <name>.json "
                f"beside it. Received: {path}"
            )
        settings = settings_path(path)
        for name in (path, settings):
            if not os.path.isfile(name):
                raise ValueError(
                    f"Expected a pretrained codec at {path} with its settings in {settings}. "
                    f"Received: {name} does not exist"
                )
        with open(settings, encoding="utf-8") as f:
            content = json.load(f)
        if not isinstance(content, dict) or content.get("format") != FORMAT:
            found = content.get("format") if isinstance(content, dict) else type(content).__name__
            raise ValueError(
                f"Expected settings of format {FORMAT}. Received: {found!r} in {settings}"
            )
        digest = file_digest(path)["sha256"]
        if digest != content["weights_sha256"]:
            raise ValueError(
                f"Expected the weights that {settings} describes. Received: {path} has sha256 "
                f"{digest}, the settings record {content['weights_sha256']}"
            )
        return cls(path, dict(content["codec"]), dict(content["training"]), digest)

    def check_matches(self, expected: Mapping[str, Any]) -> None:
        """Raises ValueError unless the file's codec has the weights' shapes of `expected`.

        Args:
            expected: `codec_settings` of the codec to initialise. Only the settings
                that shape the weights are compared (filters and kernel size for a
                conv codec, hidden units for an mlp).

        Raises:
            ValueError: naming every setting that differs, the run's value and the file's.
        """
        keys = _WEIGHT_SETTINGS.get(str(expected["architecture"]), _WEIGHT_SETTINGS["mlp"])
        differ = [k for k in keys if _as_json(self.codec.get(k)) != _as_json(expected[k])]
        if differ:
            wanted = ", ".join(f"{k}={_as_json(expected[k])}" for k in keys)
            found = ", ".join(f"{k}={_as_json(self.codec.get(k))}" for k in differ)
            raise ValueError(
                f"Expected a pretrained codec with the run's {wanted}. Received: {self.path} "
                f"holds a codec with {found}"
            )

    def load_into(self, codec: DiscreteAutoencoder, *, sha256: str | None = None) -> None:
        """Sets a codec's encoder and decoder weights to the file's.

        Args:
            codec: a built codec whose settings match the file's.
            sha256: the weights file's expected sha256 (None: any).

        Raises:
            ValueError: settings that differ, a weights file with another sha256,
                or arrays that do not fit the codec's variables; the codec is
                unchanged then.
        """
        self.check_matches(built_codec_settings(codec))
        if sha256 is not None and sha256 != self.weights_sha256:
            raise ValueError(
                f"Expected the pretrained codec with sha256 {sha256}. Received: {self.path} "
                f"has sha256 {self.weights_sha256}"
            )
        variables = _named_variables(codec)
        with np.load(self.path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        shapes = {name: tuple(v.shape) for name, v in variables.items()}
        found = {name: a.shape for name, a in arrays.items()}
        if shapes != found:
            raise ValueError(
                f"Expected arrays of the codec's shapes {shapes}. Received: {self.path} "
                f"holds {found}"
            )
        for name, variable in variables.items():
            variable.assign(arrays[name].astype(np.float32))


def save(codec: DiscreteAutoencoder, path: str, *, training: Mapping[str, Any]) -> PretrainedCodec:
    """Writes a codec's weights to path and its settings beside it (settings last).

    Args:
        codec: the trained codec.
        path: the weights file, `<name>.npz`; `<name>.json` gets the settings.
        training: how it was trained, JSON-serialisable (see the module docstring).

    Returns:
        The file as `PretrainedCodec.read` would return it.

    Raises:
        ValueError: a path that does not end in .npz.
    """
    if not path.endswith(WEIGHTS_SUFFIX):
        raise ValueError(f"Expected a weights path ending in {WEIGHTS_SUFFIX}. Received: {path}")
    arrays = {name: v.numpy() for name, v in _named_variables(codec).items()}
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as f:
        np.savez(f, **arrays)
    os.replace(temporary, path)
    digest = file_digest(path)["sha256"]
    param_count = sum(int(a.size) for a in arrays.values())
    settings = {
        **built_codec_settings(codec),
        "bits_per_item": codec.bits_per_item,
        "code_bytes": bits.code_bytes(codec.num_latents, codec.num_categories),
        "param_count": param_count,
        "codec_bytes": PARAM_BYTES * param_count,
    }
    content = {
        "format": FORMAT,
        "weights_file": os.path.basename(path),
        "weights_sha256": digest,
        "codec": settings,
        "training": _as_json(dict(training)),
    }
    with open(f"{settings_path(path)}.tmp", "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
    os.replace(f"{settings_path(path)}.tmp", settings_path(path))
    return PretrainedCodec(path, settings, content["training"], digest)


def _named_variables(codec: DiscreteAutoencoder) -> dict[str, Any]:
    """stack/NNN -> the variable, for the encoder's and decoder's weights in order."""
    return {
        f"{stack}/{i:03d}": variable
        for stack in _STACKS
        for i, variable in enumerate(getattr(codec, stack).weights)
    }


def _as_json(value: Any) -> Any:
    """The value as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))
