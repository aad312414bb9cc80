"""The Scalable Recollection Module: a discrete codec over a packed index buffer.

Where this sits: a learner's `train_step` calls, per incoming batch (Algorithm 1),

```
memory.recall(n) x N      buffer rows -> unpack_codes -> decoder -> x^  (recollections)
memory.stabilize(x, x^s)  N autoencoder steps, each on x ++ a different recalled batch
learner step              on x ++ the first recalled batch
memory.observe(x, y, t)   encoder -> argmax -> pack_codes -> buffer write (policy rows)
```

Only packed codes (ceil(k/8) bytes, k = c * ceil(log2 l)) and small side fields
(label, task id, or an RL transition's action/reward/discount) are stored; the
buffer's fields are drawn in `memory_layout.py`, which also checks every input.
Inputs and recollections have the codec's input shape, whatever its architecture.

Usage:

    codec = DiscreteAutoencoder(input_shape=(28, 28, 1), num_latents=104, num_categories=4)
    memory = RecollectionMemory(codec, capacity=3000, num_classes=10, num_tasks=20)
    for x, y, t in stream:                     # x float32 [B, 28, 28, 1] in [0, 1]
        if memory.size() > 0:
            recalled = [memory.recall(10) for _ in range(num_steps)]
            memory.stabilize(x, [r[0] for r in recalled])
        memory.observe(x, y, t)
    memory.footprint()   # Footprint(bits_per_item=208, input_bytes=78000, ...)

Every method that reads or writes the buffer or the codec also runs inside a
user's `tf.function` (tensor `n` and `task` included), and inside a
`tf.distribute` strategy's `run` when the memory was built under its scope
(`replicas.py`): in a graph the argument checks are assertions (`graph_checks.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from recollect import arguments, bits, graph_checks, memory_graph, memory_layout, replicas
from recollect.autoencoder import DiscreteAutoencoder
from recollect.footprint import Footprint
from recollect.index_buffer import Field, IndexBuffer
from recollect.memory_checkpoints import MemoryCheckpoints
from recollect.memory_layout import codes_field
from recollect.tensor_types import TensorLike
from recollect.write_policies import WritePolicy


@keras.saving.register_keras_serializable(package="recollect")
class RecollectionMemory(MemoryCheckpoints, keras.Model):
    """A memory of experiences stored as packed discrete codes.

    Args:
        codec: a `DiscreteAutoencoder` (or its serialized config).
        capacity: int, rows in the index buffer.
        num_classes: int >= 1, labels are in [0, num_classes) (supervised items).
        num_tasks: int >= 1, task ids are in [0, num_tasks) (supervised items).
        side_fields: optional dict name -> `Field` replacing the supervised
            (label, task) fields, e.g. an RL transition's action, reward and
            discount.
        encoded_inputs: tuple of the names of the inputs stored as codes: ("x",)
            by default; ("x", "next_x") for transitions.
        policy: a `WritePolicy`; reservoir sampling by default.
        learning_rate: float, Adam's step size for `stabilize`.
        decoder_steps: int >= 0: after this many `stabilize` steps only the encoder
            learns, and every stored code decodes exactly as when it was written.
            None (default): the decoder learns on every step (Algorithm 1).
        seed: int (int64), seeds the buffer's draws.
        device: where the buffer lives ("/CPU:0").
        host_trainable: let a Keras model holding the memory train the codec. If
            False (default), `trainable_weights` is empty and `call` takes the
            code's mode, so a host's `fit` cannot change what stored codes decode
            to; `stabilize` trains the codec with the memory's optimizer either way.

    Raises:
        ValueError: on a codec that is not a `DiscreteAutoencoder`, an argument of the
            wrong type or range, or a policy that does not fit the fields.
    """

    def __init__(
        self,
        codec: DiscreteAutoencoder | dict,
        *,
        capacity: int,
        num_classes: int | None = None,
        num_tasks: int | None = None,
        side_fields: Mapping[str, Field | dict] | None = None,
        encoded_inputs: Sequence[str] = ("x",),
        policy: WritePolicy | dict | None = None,
        learning_rate: float = 1e-3,
        decoder_steps: int | None = None,
        seed: int = 0,
        device: str | None = "/CPU:0",
        host_trainable: bool = False,
        **kwargs: Any,
    ) -> None:
        codec = memory_layout.checked_codec(
            codec,
            capacity=capacity,
            num_classes=num_classes,
            num_tasks=num_tasks,
            encoded_inputs=encoded_inputs,
            learning_rate=learning_rate,
            decoder_steps=decoder_steps,
            seed=seed,
        )
        trainable = kwargs.pop("trainable", True)  # applied last, once the codec is listed
        super().__init__(**kwargs)
        self.codec = codec
        self.num_classes = num_classes
        self.num_tasks = num_tasks
        self.encoded_inputs = tuple(encoded_inputs)
        self.learning_rate = float(learning_rate)
        self.decoder_steps = None if decoder_steps is None else int(decoder_steps)
        self.seed = int(seed)
        self.device = device
        self.code_bytes_per_item = bits.code_bytes(codec.num_latents, codec.num_categories)
        self.side_fields, fields = memory_layout.memory_fields(
            code_bytes=self.code_bytes_per_item,
            encoded_inputs=self.encoded_inputs,
            num_classes=num_classes,
            num_tasks=num_tasks,
            side_fields=side_fields,
        )
        self.buffer = IndexBuffer(
            capacity=capacity, fields=fields, policy=policy, seed=seed, device=device
        )
        self._compile_steps()
        self.host_trainable = bool(host_trainable)
        object.__setattr__(self, "trainable", trainable)  # the setter: frozen unless host_trainable
        self.built = True

    # ----------------------------------------------------------- compiled core
    def _compile_steps(self) -> None:
        """Makes the codec's optimizer and the compiled graph functions (state made once)."""
        self.optimizer = keras.optimizers.Adam(learning_rate=self.learning_rate)
        self.codec.trainable = True  # a codec frozen before (or in a config): stabilize trains all
        codec_variables = list(self.codec.trainable_variables)
        self.optimizer.build(codec_variables)
        compiled = memory_graph.compile_functions(
            self._parts(), self.optimizer, codec_variables, decoder_steps=self.decoder_steps
        )
        self._read_rows = compiled.read_rows
        self._encode_packed = compiled.encode_packed
        self._stabilize_step = compiled.stabilize_step
        self._recall_items = compiled.recall_items
        self._recall_codes = compiled.recall_codes
        self._write = compiled.write

    def _parts(self) -> memory_layout.MemoryParts:
        # Made on demand: an attribute would add a second path to them in a checkpoint.
        return memory_layout.MemoryParts(
            self.codec, self.buffer, self.side_fields, self.encoded_inputs
        )

    # ------------------------------------------------------------- public API
    def size(self) -> tf.Tensor:
        """int64 []: the number of items stored."""
        return self.buffer.size()

    def encode(self, x: TensorLike) -> tf.Tensor:
        """Maps float [B, *input_shape] in [0, 1] to int32 indices [B, c]."""
        return self.codec.encode(self.codec.check_inputs(x))

    def decode(self, indices: TensorLike) -> tf.Tensor:
        """Maps int [B, c] in [0, l) to float32 [B, *input_shape]; see `codec.decode`."""
        return self.codec.decode(indices)

    def observe(
        self,
        x: TensorLike,
        y: TensorLike | None = None,
        task: TensorLike | None = None,
        **side: TensorLike,
    ) -> tf.Tensor:
        """Encodes, packs and writes a batch of experiences.

        Args:
            x: float [B, *input_shape] in [0, 1] (or uint8, scaled by 1/255).
            y: int [B] labels in [0, num_classes) (supervised items).
            task: int [B] task ids in [0, num_tasks), or one int for the batch.
            **side: the other side fields and encoded inputs (e.g. `next_x`).

        Returns:
            int64 [B]: the row each item went to (-1: dropped by the policy).

        Raises:
            ValueError: on any malformed input (or a strategy the memory was not
                built under), before anything is written.
        """
        supervised = {k: v for k, v in {"label": y, "task": task}.items() if v is not None}
        return self.observe_items({"x": x, **side, **supervised})

    def observe_items(self, items: Mapping[str, TensorLike]) -> tf.Tensor:
        """Like `observe`, with every input and side field in one dict.

        Args:
            items: dict encoded input or side field name -> [B, ...].

        Returns:
            int64 [B]: the row each item went to (-1: dropped by the policy).

        Raises:
            ValueError: on any malformed input, before anything is written (in a
                `tf.function`: shapes when traced, values by assertions when run).
        """
        replicas.check_scope(self.codec.noise_seed)
        if graph_checks.in_graph():
            return memory_graph.observe(self._parts(), items)
        checked, stored = memory_layout.check_observe_items(
            self.codec, items, encoded_inputs=self.encoded_inputs, side_fields=self.side_fields
        )
        empty = np.zeros((0, self.code_bytes_per_item), np.uint8)
        for name, value in checked.items():  # an empty batch is checked, not encoded
            stored[codes_field(name)] = self._encode_packed(value) if value.shape[0] else empty
        if self.buffer.validate(stored) == 0:
            return tf.zeros([0], tf.int64)  # nothing to write: no draw, no state change
        return self._write(
            {
                name: tf.cast(tf.convert_to_tensor(stored[name]), spec.dtype)
                for name, spec in self.buffer.fields.items()
            }
        )

    def recall(self, n: int, task: int | None = None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Samples n stored items uniformly and decodes them.

        Args:
            n: int >= 1, items to recall (with replacement).
            task: optional int; recall only items of this task.

        Returns:
            (x_hat float32 [n, *input_shape], label int32 [n], task int32 [n]).

        Raises:
            ValueError: n < 1, a task out of range, or nothing stored (for that task).
        """
        if "label" not in self.side_fields or "task" not in self.side_fields:
            raise ValueError("recall() needs supervised items; use recall_items() for others.")
        items = self.recall_items(n, task)
        return items["x"], items["label"], items["task"]

    def recall_items(
        self, n: int, task: int | None = None, *, decode: bool = True
    ) -> dict[str, tf.Tensor]:
        """Samples n items: decoded inputs (or packed codes) and every side field.

        Args:
            n: int >= 1.
            task: optional int task id to restrict the draw.
            decode: decode the codes (True) or return the packed bytes.

        Returns:
            dict: encoded input name -> float32 [n, *input_shape] (or
            `<name>_codes` -> uint8 [n, code_bytes]), side field -> [n, ...], and
            "rows" -> int64 [n].

        Raises:
            ValueError: as `recall` (in a `tf.function`: assertions when run).
        """
        replicas.check_scope(self.codec.noise_seed)
        if graph_checks.in_graph():
            task_spec = self.side_fields.get("task")
            num_tasks = None if task_spec is None else task_spec.num_values or 2**31 - 1
            task_id = graph_checks.checked_task(task, num_tasks)
            count = graph_checks.checked_count(n)
            return memory_graph.recall(self._parts(), count, task_id, decode=decode)
        n, task = arguments.python_int(n), arguments.python_int(task)
        memory_layout.check_recall(self.buffer, self.side_fields, n, task)
        fn = self._recall_items if decode else self._recall_codes
        return fn(tf.constant(n, tf.int32), tf.constant(-1 if task is None else task, tf.int32))

    def recall_rows(self, rows: TensorLike) -> dict[str, tf.Tensor]:
        """Decodes the items at the given buffer rows (no sampling).

        Args:
            rows: int [m], each in [0, capacity) and holding an item.

        Returns:
            dict: encoded input name -> float32 [m, *input_shape], side fields -> [m].

        Raises:
            ValueError: a row outside [0, capacity) or never written (in a graph: an assertion).
        """
        replicas.check_scope(self.codec.noise_seed)
        if graph_checks.in_graph():
            checked = graph_checks.checked_rows(rows, self.buffer)
            return memory_graph.items_at(self._parts(), checked, decode=True)
        return self._read_rows(tf.constant(memory_layout.check_rows(rows, self.buffer)))

    def stabilize(
        self,
        x_new: TensorLike,
        recollections: Sequence[TensorLike] | None = None,
        *,
        num_steps: int = 1,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """The recollection module's self-replay update (Algorithm 1, first phase).

        Runs `num_steps` Adam steps of the autoencoder, step s on x_new joined with
        recalled batch s, each recalled before the first step. In a strategy's `run`
        the batches must be given, and every replica's gradients are summed.

        Args:
            x_new: float [B, *input_shape] in [0, 1], the incoming examples.
            recollections: optional list of float32 [m, *input_shape] batches, one
                per step (from `recall`); None: `num_steps` batches of `batch_size`
                (default B) are recalled here, or none if empty.
            num_steps: int >= 1, N; ignored when recollections are given.
            batch_size: recalled items per step when recalling here.

        Returns:
            float32 [steps]: each step's reconstruction loss (numpy when eager).

        Raises:
            ValueError: on malformed inputs, or a strategy the memory was not built under.
        """
        replicas.check_scope(self.codec.noise_seed)
        x_new = self.codec.check_inputs(x_new, "x_new")
        if graph_checks.in_graph():
            return memory_graph.stabilize(
                self._parts(), self._stabilize_step, x_new, recollections, num_steps, batch_size
            )
        if recollections is None:
            memory_layout.check_num_steps(num_steps, batch_size)
            size = batch_size or int(x_new.shape[0])
            if int(self.size()) > 0:
                recollections = [self.recall_items(size)["x"] for _ in range(num_steps)]
            else:
                recollections = [None] * num_steps
        else:
            recollections = memory_layout.check_recollections(self.codec, recollections)
        batches = [x_new if r is None else tf.concat([x_new, r], axis=0) for r in recollections]
        losses = [self._stabilize_step(batch) for batch in batches]
        return np.asarray([float(v) for v in losses], np.float32)

    def footprint(self, *, bits_per_value: int = 8) -> Footprint:
        """The storage the memory uses, in bytes and the paper's units.

        Args:
            bits_per_value: bit depth of one raw input value (8 for images), to
                count storage in raw examples.

        Returns:
            `Footprint` (`memory_layout.footprint`); incremental storage: a full buffer.

        Raises:
            ValueError: if bits_per_value is not an int >= 1.
        """
        return memory_layout.footprint(
            self._parts(), items_stored=int(self.size()), bits_per_value=bits_per_value
        )

    def get_config(self) -> dict:
        """The constructor's arguments, for Keras serialisation."""
        config = super().get_config()
        supervised = self.num_classes is not None and set(self.side_fields) == {"label", "task"}
        config.update(
            {
                "codec": keras.saving.serialize_keras_object(self.codec),
                "capacity": self.buffer.capacity,
                "num_classes": self.num_classes,
                "num_tasks": self.num_tasks,
                "side_fields": (
                    None if supervised else {k: v.to_config() for k, v in self.side_fields.items()}
                ),
                "encoded_inputs": list(self.encoded_inputs),
                "policy": keras.saving.serialize_keras_object(self.buffer.policy),
                "learning_rate": self.learning_rate,
                "decoder_steps": self.decoder_steps,
                "seed": self.seed,
                "device": self.device,
                "host_trainable": self.host_trainable,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> RecollectionMemory:
        """A new, empty memory built from the dict `get_config` returns."""
        return cls(**config)

    @property
    def trainable(self) -> bool:
        """Whether a host may train the codec; never True without `host_trainable`."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        # A host's `trainable = True` recurses into its layers: keep this one frozen.
        keras.Model.trainable.fset(self, bool(value) and getattr(self, "host_trainable", True))

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Reconstructs x float32 [B, *input_shape] (Keras' `call`); frozen, the code's mode."""
        return self.codec(x, training=training if self.trainable else False)
