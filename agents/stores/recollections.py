"""Recollections: packed k-bit codes decoded by a codec trained online (Algorithm 1).

```
RecollectionMemory  codes uint8 [capacity, ceil(k/8)]   label int32   task int32
                    + DiscreteAutoencoder (mlp or conv) and its Adam optimizer
```

Where this sits: `STORES["recollections"]`; its plan (`recollection_plan.py`) picks
the code shape that fits the budget, incremental or total (`recollect.budget`), its
codec (`codecs.py`) starts from a pretrained file when `codec_init` names one
(`recollect.pretrained_codec`), and its own stabilising uses N recalled batches per
step (`stabilize_batches = N`). Every method works eagerly and inside the learner's
compiled step (the memory's methods are graph-safe). It keeps codes
(`keeps_codes`): `codes` and `decode_codes` let `agents.continual.drift` follow how
the codes written at one time decode later.
"""

from __future__ import annotations

from typing import ClassVar, cast

import numpy as np
import tensorflow as tf

from agents.stores import recollection_plan
from agents.stores.base import StoragePlan, StoreItems
from agents.stores.codecs import build_codec
from agents.stores.recollection_config import RecollectionStoreConfig
from recollect import Footprint, RecollectionMemory, WritePolicy, bits
from recollect import pretrained_codec as pretrained
from recollect.tensor_types import TensorLike


class RecollectionStore(tf.Module):
    """Recollections: a `RecollectionMemory` trained online on the stream.

    Args:
        memory: the memory (codec + packed buffer with its write policy).
        stabilize_steps: N, autoencoder steps per incoming batch (Algorithm 1).
    """

    config_class: ClassVar[type] = RecollectionStoreConfig
    supports_strategy: ClassVar[bool] = True  # the memory runs inside strategy.run
    keeps_codes: ClassVar[bool] = True

    @classmethod
    def plan(
        cls,
        config: RecollectionStoreConfig,
        *,
        incremental_storage: float,
        input_shape: tuple[int, ...],
        budget_kind: str = "incremental",
        examples: np.ndarray | None = None,
    ) -> StoragePlan:
        """The code shape and item count that fit the budget; see `recollection_plan.plan`.

        The code shape depends on the budget alone, not on `examples`.
        """
        del examples
        return recollection_plan.plan(
            config,
            incremental_storage=incremental_storage,
            input_shape=input_shape,
            budget_kind=budget_kind,
        )

    @classmethod
    def from_plan(
        cls,
        plan: StoragePlan,
        *,
        config: RecollectionStoreConfig,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_tasks: int,
        policy: WritePolicy,
        seed: int = 0,
    ) -> RecollectionStore:
        """A codec of the planned shape and a memory of the planned capacity."""
        if plan.num_latents is None or plan.num_categories is None:
            raise ValueError(f"Expected a plan with a code shape. Received: {plan}")
        codec = build_codec(
            config,
            num_latents=plan.num_latents,
            num_categories=plan.num_categories,
            input_shape=input_shape,
            seed=seed,
        )
        if config.codec_init is not None:
            pretrained.PretrainedCodec.read(config.codec_init).load_into(
                codec, sha256=config.codec_init_sha256
            )
        memory = RecollectionMemory(
            codec,
            capacity=plan.capacity,
            num_classes=num_classes,
            num_tasks=num_tasks,
            policy=policy,
            learning_rate=config.codec_learning_rate,
            decoder_steps=config.codec_decoder_steps,
            seed=seed,
        )
        return cls(memory, stabilize_steps=config.stabilize_steps)

    def __init__(self, memory: RecollectionMemory, *, stabilize_steps: int = 1) -> None:
        super().__init__(name="recollection_store")
        self.memory = memory
        self.memory_optimizer = memory.optimizer
        self.stabilize_batches = int(stabilize_steps)
        codec = memory.codec
        input_spec = tf.TensorSpec([None, *codec.input_spec_shape], tf.float32)
        code_spec = tf.TensorSpec([None, memory.code_bytes_per_item], tf.uint8)
        self._codes = tf.function(self._codes_graph, input_signature=[input_spec])
        self._decode_codes = tf.function(self._decode_codes_graph, input_signature=[code_spec])

    @property
    def policy(self) -> WritePolicy:
        """The buffer's write policy."""
        return cast(WritePolicy, self.memory.buffer.policy)

    @property
    def capacity(self) -> int:
        """Codes the buffer holds."""
        return self.memory.buffer.capacity

    def read_rows(self, rows: TensorLike) -> StoreItems:
        """The decoded items at the given rows: (x float32 [m, ...], y [m], task [m])."""
        items = self.memory.recall_rows(rows)
        return items["x"], items["label"], items["task"]

    def size(self) -> tf.Tensor:
        """int64 []: items stored."""
        return self.memory.size()

    def task_size(self, task: TensorLike) -> tf.Tensor:
        """int64 []: items of one task stored."""
        return self.memory.buffer.task_size(task)

    def observe(self, x: TensorLike, y: TensorLike, task: TensorLike) -> tf.Tensor:
        """Encodes, packs and stores x with its labels and task; int64 [B] rows."""
        return self.memory.observe(x, y, task)

    def recall(self, n: TensorLike, task: TensorLike | None = None) -> StoreItems:
        """n decoded recollections: (x float32 [n, ...], y int32 [n], task int32 [n])."""
        return self.memory.recall(n, task)

    def stabilize(self, x: TensorLike, recollections: list[tf.Tensor] | None) -> None:
        """One codec step on x joined with each recalled batch; N steps on x alone if none.

        With N = 0 (no self-replay), one step on x alone, whatever was recalled.
        """
        if self.stabilize_batches == 0:
            self.memory.stabilize(x, [tf.zeros_like(x)[:0]])  # joined with nothing
        elif recollections:
            self.memory.stabilize(x, recollections)
        else:
            self.memory.stabilize(x, num_steps=self.stabilize_batches)

    def footprint(self) -> Footprint:
        """The memory's packed codes and codec, in bytes and raw examples."""
        return self.memory.footprint()

    def codes(self, x: TensorLike) -> tf.Tensor:
        """uint8 [B, code_bytes]: the packed codes `observe` writes for x now.

        In a learner's step `observe` comes after `stabilize`, and the codec
        changes only in the next step's `stabilize`, so right after a step these
        are the codes it wrote for its incoming batch (a test compares them with
        the buffer's, for replay and GEM).

        Args:
            x: float32 [B, *input_shape] in [0, 1].
        """
        return self._codes(tf.convert_to_tensor(x, tf.float32))

    def decode_codes(self, codes: TensorLike) -> tf.Tensor:
        """float32 [B, *input_shape] in [0, 1]: packed codes decoded by the codec as it is now.

        Args:
            codes: uint8 [B, code_bytes], as `codes` returns them.
        """
        return self._decode_codes(tf.convert_to_tensor(codes, tf.uint8))

    def _codes_graph(self, x: tf.Tensor) -> tf.Tensor:
        codec = self.memory.codec
        return bits.pack_codes(codec.encode(x), codec.num_categories)

    def _decode_codes_graph(self, codes: tf.Tensor) -> tf.Tensor:
        codec = self.memory.codec
        indices = bits.unpack_codes(codes, codec.num_latents, codec.num_categories)
        return codec.decode_unchecked(indices)  # unpack_codes keeps indices in [0, l)
