"""JPEG storage: each example kept as a JPEG of at most a fixed number of bytes.

What a practitioner does instead of storing raw images ("Memory Replay with Data
Compression", ICLR 2022): compress them, and keep more of them in the same bytes.

```
IndexBuffer  jpeg uint8 [capacity, slot_bytes]   the entropy-coded scan, zero-padded
             length uint16 [capacity]            its bytes
             level uint8 [capacity]              which quality of the ladder wrote it
             label int32 [capacity]   task int32 [capacity]
headers      one JPEG header per quality of the ladder (quantisation and Huffman
             tables, frame and scan headers), the same for every image of one
             shape and quality, so stored once and counted once
```

An item is written at the highest quality of the ladder (`jpeg_quality`, then 90,
75, 50, 35, 25, 15, 10, 5, 1 below it) whose scan fits `slot_bytes`; an item that
does not fit even at quality 1 is not stored (its row is -1). Encoding and decoding
are TensorFlow's own ops (`tf.io.encode_jpeg` / `decode_jpeg`), so `observe` and
`recall` work eagerly and inside the learner's compiled step.

Accounting (`footprint`): every item costs slot_bytes + 3 (length and level), and
the ladder's headers are counted once; together they fit the budget
(incremental_storage raw examples). The slot is what the budget buys per item:
with `jpeg_items` set, budget / jpeg_items; otherwise the 90th percentile of the
scan sizes of the first task's first examples at `jpeg_quality` (`plan`'s
`examples`), and the budget holds as many such slots as fit.

Where this sits: `STORES["jpeg"]`; replay and GEM recall from it like real storage,
and it needs no stabilising (`stabilize_batches = 0`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, cast

import numpy as np
import tensorflow as tf

from agents.stores.base import StoragePlan, StoreItems
from recollect import Field, Footprint, IndexBuffer, WritePolicy, budget, graph_checks
from recollect.footprint import raw_example_bytes
from recollect.tensor_types import TensorLike

LADDER = (90, 75, 50, 35, 25, 15, 10, 5, 1)
ITEM_SIDE_BYTES = 3  # uint16 length + uint8 quality level
EOI = b"\xff\xd9"


@dataclasses.dataclass(frozen=True)
class JpegStoreConfig:
    """The JPEG store's quality and item count.

    Attributes:
        jpeg_quality: the highest JPEG quality (1 to 100) an item is written at;
            an item whose JPEG does not fit its slot is written at the next lower
            quality that does (90, 75, 50, 35, 25, 15, 10, 5, 1).
        jpeg_items: items the buffer holds (the slot is the budget over them);
            None: as many as fit when a typical example (the 90th percentile of
            the first task's first 256) is written at jpeg_quality.
    """

    jpeg_quality: int = 50
    jpeg_items: int | None = None

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        quality = self.jpeg_quality
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ValueError(
                f"Expected --jpeg_quality an int in [1, 100]. Received: jpeg_quality={quality!r}"
            )
        items = self.jpeg_items
        if items is not None and (isinstance(items, bool) or not isinstance(items, int)):
            raise ValueError(f"Expected --jpeg_items an int >= 1. Received: jpeg_items={items!r}")
        if items is not None and items < 1:
            raise ValueError(f"Expected --jpeg_items an int >= 1. Received: jpeg_items={items!r}")

    def qualities(self) -> tuple[int, ...]:
        """The ladder, highest first: jpeg_quality and the qualities below it."""
        return (self.jpeg_quality, *(q for q in LADDER if q < self.jpeg_quality))


def split_jpeg(encoded: bytes) -> tuple[bytes, bytes]:
    """(header, scan): the bytes up to and including the SOS segment, and the scan.

    The scan is what follows, without the end-of-image marker (2 bytes that every
    JPEG ends with, put back when decoding).
    """
    start = encoded.find(b"\xff\xda")
    if start < 0 or not encoded.endswith(EOI):
        raise ValueError("Expected a baseline JPEG (SOS and EOI markers). Received another file.")
    length = int.from_bytes(encoded[start + 2 : start + 4], "big")
    return encoded[: start + 2 + length], encoded[start + 2 + length : -len(EOI)]


def headers_for(image_shape: tuple[int, ...], qualities: tuple[int, ...]) -> list[bytes]:
    """The JPEG header TF writes for images of this shape at each quality."""
    blank = tf.zeros(image_shape, tf.uint8)
    return [split_jpeg(tf.io.encode_jpeg(blank, quality=q).numpy())[0] for q in qualities]


def scan_bytes(images: np.ndarray, quality: int) -> np.ndarray:
    """int64 [N]: the scan (JPEG without its header) bytes of uint8 [N, H, W, C] images."""
    sizes = [
        len(split_jpeg(tf.io.encode_jpeg(image, quality=quality).numpy())[1]) for image in images
    ]
    return np.asarray(sizes, np.int64)


def _check_image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        raise ValueError(
            "Expected images [H, W, C] with C = 1 or 3 for --storage=jpeg (a stream that is "
            f"not flattened). Received: input_shape={tuple(input_shape)}"
        )
    height, width, channels = (int(d) for d in input_shape)
    return height, width, channels


def _slot_for(
    config: JpegStoreConfig, budget_bytes: float, examples: np.ndarray | None
) -> tuple[int, int]:
    """(items, slot_bytes) of the budget left after the headers."""
    if config.jpeg_items is not None:
        items = config.jpeg_items
        return items, int(budget_bytes // items) - ITEM_SIDE_BYTES
    if examples is None or len(examples) == 0:
        raise ValueError(
            "Expected --jpeg_items, or examples to size the slot by (the first task's). "
            "Received: jpeg_items=None and no examples"
        )
    slot = int(np.ceil(np.percentile(scan_bytes(examples, config.jpeg_quality), 90)))
    return int(budget_bytes // (slot + ITEM_SIDE_BYTES)), slot


class JpegStore(tf.Module):
    """A buffer of JPEG-compressed examples, each in a slot of slot_bytes.

    Args:
        capacity: examples kept.
        slot_bytes: the most bytes of one example's JPEG scan.
        qualities: the quality ladder, highest first.
        input_shape: (H, W, C) of one input, C = 1 or 3.
        num_classes: labels are in [0, num_classes).
        num_tasks: task ids are in [0, num_tasks).
        policy: the write policy.
        seed: seeds the buffer's draws.
    """

    config_class: ClassVar[type] = JpegStoreConfig
    stabilize_batches: ClassVar[int] = 0
    keeps_codes: ClassVar[bool] = False

    @classmethod
    def plan(
        cls,
        config: JpegStoreConfig,
        *,
        incremental_storage: float,
        input_shape: tuple[int, ...],
        budget_kind: str = "incremental",
        examples: np.ndarray | None = None,
    ) -> StoragePlan:
        """The item count and slot that fit the budget; raises ValueError when none does.

        JPEG has no learned parameters, so a total budget is its incremental one.

        Args:
            config: the store's settings.
            incremental_storage: the budget in raw examples.
            input_shape: (H, W, C).
            budget_kind: "incremental" or "total".
            examples: uint8 [N, H, W, C], the first task's first examples: they size
                the slot when jpeg_items is None, and the smallest slot allowed
                (their largest scan at quality 1).
        """
        if budget_kind not in budget.BUDGETS:
            raise ValueError(
                f"Expected --budget among {budget.BUDGETS}. Received: budget={budget_kind!r}"
            )
        shape = _check_image_shape(input_shape)
        header_bytes = sum(len(h) for h in headers_for(shape, config.qualities()))
        budget_bytes = float(incremental_storage) * raw_example_bytes(math.prod(shape))
        items, slot = _slot_for(config, budget_bytes - header_bytes, examples)
        blank = np.zeros((1, *shape), np.uint8)  # a blank image: the least a scan takes
        floor = int(
            scan_bytes(blank if examples is None or not len(examples) else examples, 1).max()
        )
        if items < 1 or slot < floor:
            raise ValueError(
                f"Expected --incremental_storage to hold one JPEG of {floor} bytes (the largest "
                f"scan at quality 1) plus {ITEM_SIDE_BYTES} bytes an item and the headers' "
                f"{header_bytes} bytes. Received: incremental_storage={incremental_storage} "
                f"({budget_bytes:g} bytes), jpeg_items={config.jpeg_items} (slot {slot} bytes)"
            )
        return StoragePlan(items, 8 * (slot + ITEM_SIDE_BYTES))

    @classmethod
    def from_plan(
        cls,
        plan: StoragePlan,
        *,
        config: JpegStoreConfig,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_tasks: int,
        policy: WritePolicy,
        seed: int = 0,
    ) -> JpegStore:
        """A buffer of the planned capacity and slot."""
        return cls(
            capacity=plan.capacity,
            slot_bytes=plan.bits_per_item // 8 - ITEM_SIDE_BYTES,
            qualities=config.qualities(),
            input_shape=input_shape,
            num_classes=num_classes,
            num_tasks=num_tasks,
            policy=policy,
            seed=seed,
        )

    def __init__(
        self,
        *,
        capacity: int,
        slot_bytes: int,
        qualities: tuple[int, ...],
        input_shape: tuple[int, ...],
        num_classes: int,
        num_tasks: int,
        policy: WritePolicy,
        seed: int = 0,
    ) -> None:
        super().__init__(name="jpeg_store")
        self.input_shape = _check_image_shape(input_shape)
        if not 1 <= slot_bytes < 2**16:
            raise ValueError(f"Expected slot_bytes in [1, 65536). Received: {slot_bytes}")
        self.slot_bytes, self.qualities = int(slot_bytes), tuple(qualities)
        headers = headers_for(self.input_shape, self.qualities)
        self.header_bytes = sum(len(h) for h in headers)
        self._headers = tf.constant(headers)
        self._header_lengths = tf.constant([len(h) for h in headers], tf.int32)
        self.buffer = IndexBuffer(
            capacity=capacity,
            fields={
                "jpeg": Field((self.slot_bytes,), "uint8"),
                "length": Field((), "uint16"),
                "level": Field((), "uint8", len(self.qualities)),
                "label": Field((), "int32", num_classes),
                "task": Field((), "int32", num_tasks),
            },
            policy=policy,
            seed=seed,
        )

    @property
    def policy(self) -> WritePolicy:
        """The buffer's write policy."""
        return cast(WritePolicy, self.buffer.policy)

    @property
    def capacity(self) -> int:
        """Items the buffer holds."""
        return self.buffer.capacity

    def encode(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        """Each image at the highest quality whose scan fits the slot (graph-safe).

        Each image is encoded down the ladder only until a scan fits (most fit at
        the first quality), not at every quality.

        Args:
            pixels: uint8 [B, H, W, C].

        Returns:
            dict: jpeg uint8 [B, slot_bytes] (zero-padded scans), length uint16 [B],
            level int32 [B] (the quality's place in the ladder; -1: fits at none,
            with the scan at the first quality).
        """
        scan, size, level = tf.map_fn(
            self._encode_one,
            pixels,
            fn_output_signature=(tf.string, tf.int32, tf.int32),
        )
        return {
            "jpeg": tf.io.decode_raw(scan, tf.uint8, fixed_length=self.slot_bytes),
            "length": tf.cast(size, tf.uint16),
            "level": level,
        }

    def _scan_at(self, image: tf.Tensor, level: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The scan (header and end marker cut) of image at the ladder's level, and its bytes."""
        branches = [
            lambda q=quality: tf.io.encode_jpeg(image, quality=q) for quality in self.qualities
        ]
        encoded = tf.switch_case(level, branches)
        header = self._header_lengths[level]
        size = tf.strings.length(encoded) - header - len(EOI)
        return tf.strings.substr(encoded, header, size), size

    def _encode_one(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(scan, its bytes, level) of one image: the first level down the ladder that fits."""
        last = len(self.qualities) - 1
        first_scan, first_size = self._scan_at(image, tf.constant(0))

        def lower(level: tf.Tensor, scan: tf.Tensor, size: tf.Tensor) -> tuple:
            del scan, size
            return (level + 1, *self._scan_at(image, level + 1))

        level, scan, size = tf.while_loop(
            lambda level, scan, size: (size > self.slot_bytes) & (level < last),
            lower,
            (tf.constant(0), first_scan, first_size),
        )
        fits = size <= self.slot_bytes
        scan = tf.where(fits, scan, first_scan)
        return scan, tf.where(fits, size, first_size), tf.where(fits, level, -1)

    def decode(self, items: dict[str, tf.Tensor]) -> tf.Tensor:
        """float32 [n, H, W, C] in [0, 1] from stored jpeg, length and level [n] (graph-safe)."""
        table = tf.constant([bytes([i]) for i in range(256)])
        padded = tf.strings.reduce_join(tf.gather(table, tf.cast(items["jpeg"], tf.int32)), axis=1)
        length = tf.cast(items["length"], tf.int32)
        scan = tf.strings.substr(padded, tf.zeros_like(length), length)
        level = tf.cast(items["level"], tf.int32)
        files = tf.strings.join([tf.gather(self._headers, level), scan, tf.constant(EOI)])
        channels = self.input_shape[-1]
        images = tf.map_fn(
            lambda data: tf.ensure_shape(
                tf.io.decode_jpeg(data, channels=channels), self.input_shape
            ),
            files,
            fn_output_signature=tf.TensorSpec(self.input_shape, tf.uint8),
        )
        return tf.cast(images, tf.float32) / 255.0

    def read_rows(self, rows: TensorLike) -> StoreItems:
        """The items at the given rows: (x float32 [m, ...], y int32 [m], task int32 [m])."""
        items = self.buffer.read(tf.convert_to_tensor(rows, tf.int64))
        return self.decode(items), items["label"], items["task"]

    def size(self) -> tf.Tensor:
        """int64 []: items stored."""
        return self.buffer.size()

    def task_size(self, task: TensorLike) -> tf.Tensor:
        """int64 []: items of one task stored."""
        return self.buffer.task_size(task)

    def observe(self, x: TensorLike, y: TensorLike, task: TensorLike) -> tf.Tensor:
        """Stores x float32 [B, H, W, C] in [0, 1] as JPEGs, with labels and task.

        Returns int64 [B], each item's row (-1: dropped by the policy, or no quality
        fits the slot).
        """
        x = tf.convert_to_tensor(x, tf.float32)
        pixels = tf.cast(tf.round(tf.clip_by_value(x * 255.0, 0.0, 255.0)), tf.uint8)
        coded = self.encode(pixels)
        fits = coded["level"] >= 0
        items = {
            "jpeg": coded["jpeg"],
            "length": coded["length"],
            "level": tf.cast(tf.maximum(coded["level"], 0), tf.uint8),
            "label": tf.cast(y, tf.int32),
            "task": tf.fill(tf.shape(pixels)[:1], tf.cast(task, tf.int32)),
        }
        kept = self.buffer.write_unchecked({k: tf.boolean_mask(v, fits) for k, v in items.items()})
        where = tf.cast(tf.where(fits), tf.int32)
        rows = tf.fill(tf.shape(fits, out_type=tf.int64), tf.constant(-1, tf.int64))
        return tf.tensor_scatter_nd_update(rows, where, kept)

    def recall(self, n: TensorLike, task: TensorLike | None = None) -> StoreItems:
        """Returns (x float32 [n, ...] in [0, 1], y int32 [n], task int32 [n])."""
        if graph_checks.in_graph():
            items = self.buffer.sample_unchecked(n, task)  # the learner checks size first
        else:
            items = self.buffer.sample(int(n), None if task is None else int(task))
        return self.decode(items), items["label"], items["task"]

    def stabilize(self, x: TensorLike, recollections: list[tf.Tensor] | None) -> None:
        """JPEGs need no stabilising."""
        del x, recollections

    def footprint(self) -> Footprint:
        """Slots and their lengths and levels at capacity, the headers once, label and task."""
        capacity = self.buffer.capacity
        input_bytes = capacity * (self.slot_bytes + ITEM_SIDE_BYTES) + self.header_bytes
        return Footprint(
            kind="jpeg",
            bits_per_item=8 * (self.slot_bytes + ITEM_SIDE_BYTES),
            items_stored=int(self.size()),
            capacity=capacity,
            input_bytes=input_bytes,
            buffer_bytes=input_bytes + capacity * 8,
            raw_example_bytes=raw_example_bytes(math.prod(self.input_shape)),
        )
