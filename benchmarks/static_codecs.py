"""Static (not learned) image coding for `benchmarks.rate_distortion`: JPEG, WebP, lossless.

Each function codes one item at a time and returns the file and its decoding, so the
benchmark can count bytes per item and measure the distortion on the same decodings.

```
images uint8 [N, H, W, C]  --pictures-->  uint8 [N, H', W', 1 or 3]  (binary: 0 or 255;
                                          C other than 1 or 3: channels tiled in a grid)
  lossy: jpeg (TensorFlow), webp (Pillow)  at a quality in [1, 100]
  lossless: png (TensorFlow), zstd of the uint8 item, np.packbits (binary), zstd of it
  --unpictured-->  uint8 [N, H, W, C]     (binary: thresholded at 128, i.e. 0.5)
```

Header accounting: TensorFlow's JPEG encoder writes the standard Huffman tables, so the
bytes up to the end of the SOS segment (`jpeg_header_length`) repeat across images of
one shape and quality; `shared_header_bits` counts each distinct header once. WebP
files lose their 20-byte RIFF header: its 12 bytes of tags are counted once, its two
sizes follow from the item's length. Neither counts the length that a store of
variable-size items keeps for each one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
import zstandard
from PIL import Image

from benchmarks import frame_bits

WEBP_HEADER_BYTES = 20  # "RIFF" size "WEBP" "VP8 " size
Coder = Callable[[np.ndarray], tuple[bytes, np.ndarray]]


def pictures(images: np.ndarray, binary: bool) -> np.ndarray:
    """uint8 [N, H, W, C] as JPEG/WebP/PNG take them: binary values as 0 or 255.

    Returns:
        uint8 [N, H, W, C] for C in (1, 3); else grey [N, r * H, (C / r) * W, 1], the
        channels in a grid of r rows, r the largest divisor of C up to sqrt(C).
    """
    count, height, width, channels = images.shape
    scaled = images * np.uint8(255) if binary else images
    if channels in (1, 3):
        return scaled
    rows = max(d for d in range(1, math.isqrt(channels) + 1) if channels % d == 0)
    grid = scaled.reshape(count, height, width, rows, channels // rows)
    return grid.transpose(0, 3, 1, 4, 2).reshape(count, rows * height, -1, 1)


def unpictured(decoded: np.ndarray, shape: Sequence[int], binary: bool) -> np.ndarray:
    """Inverse of `pictures`: uint8 [N, *shape]; binary values thresholded at 128 (0.5)."""
    height, width, channels = shape
    x = decoded
    if channels not in (1, 3):
        rows = decoded.shape[1] // height
        grid = decoded.reshape(len(x), rows, height, channels // rows, width)
        x = grid.transpose(0, 2, 4, 1, 3).reshape(len(x), height, width, channels)
    return (x >= 128).astype(np.uint8) if binary else x.astype(np.uint8)


def jpeg_header_length(data: bytes) -> int:
    """Bytes of a JPEG file up to and including its first SOS segment (before the scan).

    Raises:
        ValueError: data that is not a JPEG with an SOS segment.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError(f"Expected a JPEG file (FFD8). Received: first bytes {data[:2]!r}")
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:
            return position
    raise ValueError(f"Expected an SOS segment (FFDA) in the JPEG. Received: {len(data)} bytes")


def shared_header_bits(
    files: Sequence[bytes], headers: Sequence[tuple[bytes, int]]
) -> tuple[float, list[int]]:
    """Mean bits per item with the headers left out and each distinct one counted once.

    Args:
        files: the N coded items.
        headers: per file, (the bytes of its header that a store keeps once, the bytes
            of the file that header replaces).

    Returns:
        (mean bits per item, the sizes of the distinct headers).
    """
    distinct = sorted(map(len, {shared for shared, _ in headers}))
    body = sum(len(f) - length for f, (_, length) in zip(files, headers, strict=True))
    return 8.0 * (body + sum(distinct)) / len(files), distinct


def jpeg_header(data: bytes) -> tuple[bytes, int]:
    """A JPEG's shared header: the bytes through its SOS segment, and their count."""
    length = jpeg_header_length(data)
    return data[:length], length


def webp_header(data: bytes) -> tuple[bytes, int]:
    """A WebP's shared header: its 12 bytes of RIFF tags; it replaces the 20-byte RIFF header.

    The two sizes in those 20 bytes follow from the item's stored length.
    """
    return data[0:4] + data[8:16], WEBP_HEADER_BYTES


def jpeg(picture: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    """TensorFlow's JPEG of uint8 [H, W, C] at quality, and its decoding (same shape)."""
    data = tf.io.encode_jpeg(picture, quality=quality).numpy()
    return data, tf.io.decode_jpeg(data, channels=picture.shape[-1]).numpy()


def webp(picture: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    """Pillow's lossy WebP of uint8 [H, W, C] at quality, and its decoding (same shape)."""
    mode = "L" if picture.shape[-1] == 1 else "RGB"
    buffer = io.BytesIO()
    Image.fromarray(picture[..., 0] if mode == "L" else picture, mode).save(
        buffer, "WEBP", quality=quality
    )
    data = buffer.getvalue()
    return data, np.asarray(Image.open(io.BytesIO(data)).convert(mode)).reshape(picture.shape)


def png(picture: np.ndarray) -> tuple[bytes, np.ndarray]:
    """TensorFlow's PNG of uint8 [H, W, C], and its decoding (lossless)."""
    data = tf.io.encode_png(picture).numpy()
    return data, tf.io.decode_png(data, channels=picture.shape[-1]).numpy()


IMAGE_CODECS = {"jpeg": jpeg, "webp": webp}
SHARED_HEADERS = {"jpeg": jpeg_header, "webp": webp_header}


def code_items(images: np.ndarray, binary: bool, coder: Coder) -> tuple[list[bytes], np.ndarray]:
    """Codes every item as a picture with coder.

    Args:
        images: uint8 [N, H, W, C]; binary: values 0 or 1.
        binary: the values are 0 or 1 (decodings are thresholded at 0.5).
        coder: uint8 picture [H', W', C'] -> (file, decoded picture of that shape).

    Returns:
        (the N files, the decoded items uint8 [N, H, W, C]).
    """
    coded = [coder(p) for p in pictures(images, binary)]
    decoded = unpictured(np.stack([d for _, d in coded]), images.shape[1:], binary)
    return [f for f, _ in coded], decoded


def lossless(images: np.ndarray, binary: bool) -> dict[str, tuple[list[bytes], np.ndarray]]:
    """PNG, zstd (level 19) of the uint8 item, and for binary items packbits and zstd of it.

    Returns:
        method -> (the N files, their decodings uint8 [N, H, W, C]).
    """
    compress = zstandard.ZstdCompressor(level=frame_bits.LEVEL).compress
    decompress = zstandard.ZstdDecompressor().decompress
    flat = images.reshape(len(images), -1)
    coded = {"png": code_items(images, binary, png)}
    files = [compress(item.tobytes()) for item in flat]
    coded["zstd_uint8"] = (files, np.stack([np.frombuffer(decompress(f), np.uint8) for f in files]))
    if binary:
        packed = [item.tobytes() for item in np.packbits(flat, axis=1)]
        files = [compress(item) for item in packed]
        coded["packbits"] = (packed, np.stack([_unpack(p, flat.shape[1]) for p in packed]))
        coded["zstd_packbits"] = (
            files,
            np.stack([_unpack(decompress(f), flat.shape[1]) for f in files]),
        )
    return {m: (f, d.reshape(images.shape)) for m, (f, d) in coded.items()}


def _unpack(data: bytes, count: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, np.uint8), count=count)
