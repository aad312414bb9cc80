"""The Scalable Recollection Module: a discrete codec over a packed index buffer.

Where this sits: a learner's `train_step` calls, per incoming batch (Algorithm 1),

```
memory.recall(n) x N      buffer rows -> unpack_codes -> decoder -> x^  (recollections)
memory.stabilize(x, x^s)  N autoencoder steps, each on x ++ a different recalled batch
learner step              on x ++ the first recalled batch
memory.observe(x, y, t)   encoder -> argmax -> pack_codes -> buffer write (policy rows)
```

Only packed codes (ceil(k/8) bytes, k = c * ceil(log2 l)) and small side fields
(label, task id, or an RL transition's action/reward/discount) are stored.

Usage:

    codec = DiscreteAutoencoder(input_shape=(28, 28, 1), num_latents=104,
                                num_categories=4)
    memory = RecollectionMemory(codec, capacity=3000, num_classes=10, num_tasks=20)
    for x, y, t in stream:                     # x float32 [B, 28, 28, 1] in [0, 1]
        if memory.size() > 0:
            recalled = [memory.recall(10) for _ in range(num_steps)]
            memory.stabilize(x, [r[0] for r in recalled])
        memory.observe(x, y, t)
    memory.footprint()   # Footprint(bits_per_item=208, input_bytes=78000, ...)
"""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from recollect import bits
from recollect.autoencoder import DiscreteAutoencoder
from recollect.footprint import Footprint, raw_example_bytes
from recollect.index_buffer import Field, IndexBuffer, supervised_fields
from recollect.write_policies import WritePolicy

CODES = "codes"


def _codes_field(name: str) -> str:
    """Buffer field that stores the codes of encoded input `name`."""
    return CODES if name == "x" else f"{name}_codes"


@keras.saving.register_keras_serializable(package="recollect")
class RecollectionMemory(keras.Model):
    """A memory of experiences stored as packed discrete codes.

    Args:
        codec: a `DiscreteAutoencoder` (or its serialized config).
        capacity: int, rows in the index buffer.
        num_classes: int, labels are in [0, num_classes) (supervised items).
        num_tasks: int, task ids are in [0, num_tasks) (supervised items).
        side_fields: optional dict name -> `Field` replacing the supervised
            (label, task) fields, e.g. an RL transition's action, reward and
            discount.
        encoded_inputs: names of the inputs stored as codes: ("x",) by default;
            ("x", "next_x") for transitions.
        policy: a `WritePolicy`; reservoir sampling by default.
        learning_rate: float, Adam's step size for `stabilize`.
        seed: int, seeds the buffer's draws.
        device: where the buffer lives ("/CPU:0").

    Raises:
        ValueError: on a codec that is not a `DiscreteAutoencoder`, a capacity < 1,
            or a policy that does not fit the fields.
    """

    def __init__(
        self,
        codec: DiscreteAutoencoder | dict,
        *,
        capacity: int,
        num_classes: int | None = None,
        num_tasks: int | None = None,
        side_fields: dict | None = None,
        encoded_inputs: tuple[str, ...] | list[str] = ("x",),
        policy: WritePolicy | dict | None = None,
        learning_rate: float = 1e-3,
        seed: int = 0,
        device: str | None = "/CPU:0",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(codec, dict):
            codec = keras.saving.deserialize_keras_object(codec)
        if not isinstance(codec, DiscreteAutoencoder):
            raise ValueError(f"Expected a DiscreteAutoencoder. Received: codec={codec!r}")
        if not learning_rate > 0:
            raise ValueError(f"Expected learning_rate > 0. Received: {learning_rate!r}")
        self.codec = codec
        self.num_classes = num_classes
        self.num_tasks = num_tasks
        self.encoded_inputs = tuple(encoded_inputs)
        if "x" not in self.encoded_inputs:
            raise ValueError(f"Expected 'x' among encoded_inputs. Received: {encoded_inputs!r}")
        self.learning_rate = float(learning_rate)
        self.seed = int(seed)
        self.device = device
        self.code_bytes_per_item = bits.code_bytes(codec.num_latents, codec.num_categories)
        if side_fields is None:
            if num_classes is None or num_tasks is None:
                raise ValueError(
                    "Expected num_classes and num_tasks for supervised items (or side_fields). "
                    f"Received: num_classes={num_classes!r}, num_tasks={num_tasks!r}"
                )
            fields = supervised_fields(
                code_bytes=self.code_bytes_per_item, num_classes=num_classes, num_tasks=num_tasks
            )
            self.side_fields = {k: v for k, v in fields.items() if k != CODES}
        else:
            self.side_fields = {
                k: v if isinstance(v, Field) else Field(**v) for k, v in side_fields.items()
            }
            fields = {
                **{
                    _codes_field(n): Field((self.code_bytes_per_item,), "uint8")
                    for n in self.encoded_inputs
                },
                **self.side_fields,
            }
        clash = set(self.side_fields) & {_codes_field(n) for n in self.encoded_inputs}
        if clash:
            raise ValueError(f"Expected side fields not named like code fields. Received: {clash}")
        self.buffer = IndexBuffer(
            capacity=capacity, fields=fields, policy=policy, seed=seed, device=device
        )
        self.optimizer = keras.optimizers.Adam(learning_rate=self.learning_rate)
        self.optimizer.build(self.codec.trainable_variables)
        self._compile_functions()
        self.built = True

    # ----------------------------------------------------------- compiled core
    def _compile_functions(self):
        input_spec = tf.TensorSpec([None, *self.codec.input_spec_shape], tf.float32)
        codec = self.codec

        @tf.function(input_signature=[input_spec])
        def encode_packed(x):
            return bits.pack_codes(codec.encode(x), codec.num_categories)

        @tf.function(input_signature=[input_spec])
        def stabilize_step(x):
            with tf.GradientTape() as tape:
                loss = codec.reconstruction_loss(x, training=True)
            variables = codec.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            return loss

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
        def recall_items(n, task):
            return self._recall_graph(n, task, decode=True)

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
        def recall_codes(n, task):
            return self._recall_graph(n, task, decode=False)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
        def read_rows(rows):
            return self._items_at(rows, decode=True)

        self._read_rows = read_rows
        self._encode_packed = encode_packed
        self._stabilize_step = stabilize_step
        self._recall_items = recall_items
        self._recall_codes = recall_codes
        write_spec = {
            name: tf.TensorSpec([None, *spec.shape], spec.dtype)
            for name, spec in self.buffer.fields.items()
        }
        self._write = tf.function(self.buffer.write_unchecked, input_signature=[write_spec])

    def _recall_graph(self, n, task, decode: bool):
        """Graph body of recall; task < 0 means any task."""
        buffer, policy = self.buffer, self.buffer.policy
        by_task = "task" in self.side_fields
        if by_task:
            available = tf.cond(
                task < 0, buffer.size, lambda: buffer.task_size(tf.maximum(task, 0))
            )
        else:
            available = buffer.size()
        tf.debugging.assert_positive(
            available, message="recall: the memory holds no item (of this task) to recall"
        )
        tf.debugging.assert_positive(n, message="recall: n must be >= 1")
        random_bits = buffer._random_bits(n)
        if by_task:
            rows = tf.cond(
                task < 0,
                lambda: policy.sample_rows(buffer, n, None, random_bits),
                lambda: policy.sample_rows(buffer, n, task, random_bits),
            )
        else:
            rows = policy.sample_rows(buffer, n, None, random_bits)
        return {**self._items_at(rows, decode), "rows": rows}

    def _items_at(self, rows, decode: bool) -> dict:
        """Side fields and decoded inputs (or packed codes) at the given rows (graph)."""
        stored = self.buffer.read(rows)
        out = {name: stored[name] for name in self.side_fields}
        for name in self.encoded_inputs:
            packed = stored[_codes_field(name)]
            if decode:
                indices = bits.unpack_codes(
                    packed, self.codec.num_latents, self.codec.num_categories
                )
                out[name] = self.codec.decode(indices)
            else:
                out[_codes_field(name)] = packed
        return out

    # ------------------------------------------------------------- public API
    def size(self) -> tf.Tensor:
        """Returns int64 []: the number of items stored."""
        return self.buffer.size()

    def encode(self, x) -> tf.Tensor:
        """float [B, *input_shape] in [0, 1] -> int32 indices [B, c]."""
        return self.codec.encode(self.codec.check_inputs(x))

    def decode(self, indices) -> tf.Tensor:
        """int [B, c] -> float32 [B, *input_shape] in [0, 1]."""
        return self.codec.decode(indices)

    def observe(self, x, y=None, task=None, **side) -> tf.Tensor:
        """Encodes, packs and writes a batch of experiences.

        Args:
            x: float [B, *input_shape] in [0, 1] (or uint8, scaled by 1/255).
            y: int [B] labels in [0, num_classes) (supervised items).
            task: int [B] task ids in [0, num_tasks), or one int for the batch.
            **side: the other side fields and encoded inputs (e.g. `next_x`).

        Returns:
            int64 [B]: the row each item went to (-1: dropped by the policy).

        Raises:
            ValueError: on any malformed input, before anything is written.
        """
        inputs = dict(side)
        if y is not None:
            inputs["label"] = y
        if task is not None:
            inputs["task"] = task
        return self.observe_items({"x": x, **inputs})

    def observe_items(self, items: dict) -> tf.Tensor:
        """Like `observe`, with every input and side field in one dict."""
        expected = set(self.encoded_inputs) | set(self.side_fields)
        if set(items) != expected:
            raise ValueError(
                f"Expected exactly the inputs {sorted(expected)}. Received: {sorted(items)}"
            )
        checked = {name: self.codec.check_inputs(items[name], name) for name in self.encoded_inputs}
        batch = int(checked["x"].shape[0])
        for name, value in checked.items():
            if int(value.shape[0]) != batch:
                raise ValueError(
                    f"Expected {name} to have batch size {batch}. Received: "
                    f"{name}.shape={value.shape.as_list()}"
                )
        stored = {}
        for name, spec in self.side_fields.items():
            value = items[name]
            if spec.shape == () and np.ndim(value) == 0:
                value = np.full([batch], value)  # one task id for the whole batch
            stored[name] = value
        for name, value in checked.items():
            stored[_codes_field(name)] = self._encode_packed(value)
        self.buffer.validate(stored)
        return self._write(
            {
                name: tf.cast(tf.convert_to_tensor(stored[name]), spec.dtype)
                for name, spec in self.buffer.fields.items()
            }
        )

    def recall(self, n: int, task: int | None = None):
        """Samples n stored items uniformly and decodes them.

        Args:
            n: int >= 1, items to recall (with replacement).
            task: optional int; recall only items of this task.

        Returns:
            (x_hat float32 [n, *input_shape], label int32 [n], task int32 [n]).

        Raises:
            ValueError: if n < 1, the task is out of range, or nothing is stored
                (for that task).
        """
        if "label" not in self.side_fields or "task" not in self.side_fields:
            raise ValueError("recall() needs supervised items; use recall_items() for others.")
        items = self.recall_items(n, task)
        return items["x"], items["label"], items["task"]

    def recall_items(self, n: int, task: int | None = None, *, decode: bool = True) -> dict:
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
            ValueError: as `recall`.
        """
        self._check_recall(n, task)
        fn = self._recall_items if decode else self._recall_codes
        return fn(tf.constant(n, tf.int32), tf.constant(-1 if task is None else task, tf.int32))

    def recall_rows(self, rows) -> dict:
        """Decodes the items at the given buffer rows (no sampling).

        Args:
            rows: int [m], each in [0, capacity) and holding an item.

        Returns:
            dict: encoded input name -> float32 [m, *input_shape], side fields -> [m].

        Raises:
            ValueError: if a row is outside [0, capacity).
        """
        rows = np.asarray(rows, np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.buffer.capacity):
            raise ValueError(
                f"Expected rows in [0, {self.buffer.capacity}). Received: values in "
                f"[{rows.min()}, {rows.max()}]"
            )
        return self._read_rows(tf.constant(rows))

    def _check_recall(self, n, task):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"Expected n an int >= 1. Received: n={n!r}")
        if task is not None:
            spec = self.side_fields.get("task")
            if spec is None:
                raise ValueError("Expected a 'task' field to recall by task. Received: task=...")
            if not isinstance(task, int | np.integer) or not 0 <= task < (spec.num_values or 2**31):
                raise ValueError(
                    f"Expected task in [0, {spec.num_values}). Received: task={task!r}"
                )
        available = int(self.buffer.size() if task is None else self.buffer.task_size(task))
        if available == 0:
            what = (
                "The memory is empty"
                if task is None
                else f"The memory holds no item of task {task}"
            )
            raise ValueError(f"{what}: nothing to recall. Call observe() first. Received: n={n}")

    def stabilize(self, x_new, recollections=None, *, num_steps: int = 1, batch_size=None):
        """The recollection module's self-replay update (Algorithm 1, first phase).

        Runs `num_steps` Adam steps of the autoencoder, step s on x_new joined with
        recalled batch s. Recollections are drawn (and decoded) before the first
        step, so each is reconstructed with the parameters that made it.

        Args:
            x_new: float [B, *input_shape] in [0, 1], the incoming examples.
            recollections: optional list of float32 [m, *input_shape] batches, one
                per step (e.g. from `recall`); when None, `num_steps` batches of
                `batch_size` (default B) are recalled here, or none if empty.
            num_steps: int >= 1, N; ignored when recollections are given.
            batch_size: recalled items per step when recalling here.

        Returns:
            float32 numpy [steps]: the reconstruction loss of each step.

        Raises:
            ValueError: on malformed inputs.
        """
        x_new = self.codec.check_inputs(x_new, "x_new")
        if recollections is None:
            if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
                raise ValueError(f"Expected num_steps an int >= 1. Received: {num_steps!r}")
            size = batch_size or int(x_new.shape[0])
            if int(self.size()) > 0:
                recollections = [self.recall_items(size)["x"] for _ in range(num_steps)]
            else:
                recollections = [None] * num_steps
        else:
            recollections = [
                self.codec.check_inputs(r, f"recollections[{i}]")
                for i, r in enumerate(recollections)
            ]
            if not recollections:
                raise ValueError("Expected at least one recollection batch. Received: []")
        losses = []
        for recalled in recollections:
            batch = x_new if recalled is None else tf.concat([x_new, recalled], axis=0)
            losses.append(self._stabilize_step(batch))
        return np.asarray([float(v) for v in losses], np.float32)

    def footprint(self, *, bits_per_value: int = 8) -> Footprint:
        """The storage the memory uses, in bytes and the paper's units.

        Args:
            bits_per_value: bit depth of one raw input value (8 for MNIST, CIFAR
                and Omniglot images), to count storage in raw examples.

        Returns:
            `Footprint`: bits_per_item (k per encoded input), items_stored,
            capacity, input_bytes (codes of a full buffer), buffer_bytes (codes
            and side fields), codec_bytes (float32 parameters) and
            raw_example_bytes; its incremental_storage_raw_examples is
            input_bytes in raw examples.

        Raises:
            ValueError: if bits_per_value is not an int >= 1.
        """
        raw_bytes = raw_example_bytes(
            int(np.prod(self.codec.input_spec_shape)), bits_per_value=bits_per_value
        )
        capacity = self.buffer.capacity
        code_fields = len(self.encoded_inputs)
        side_bytes = sum(f.bytes_per_item() for f in self.side_fields.values())
        input_bytes = capacity * self.code_bytes_per_item * code_fields
        return Footprint(
            kind="recollections",
            bits_per_item=self.codec.bits_per_item * code_fields,
            items_stored=int(self.size()),
            capacity=capacity,
            input_bytes=input_bytes,
            buffer_bytes=input_bytes + capacity * side_bytes,
            codec_bytes=4 * (self.codec.decoder.count_params() + self.codec.encoder.count_params()),
            raw_example_bytes=raw_bytes,
            num_latents=self.codec.num_latents,
            num_categories=self.codec.num_categories,
        )

    def checkpoint(self) -> tf.train.Checkpoint:
        """A `tf.train.Checkpoint` of the codec, buffer and optimizer."""
        return tf.train.Checkpoint(memory=self, optimizer=self.optimizer)

    def save_checkpoint(self, path: str) -> str:
        """Writes a checkpoint (atomically: to a temporary prefix, then renamed).

        Args:
            path: checkpoint prefix, e.g. "ckpt/memory".

        Returns:
            the prefix written.
        """
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            self.checkpoint().write(os.path.join(tmp, "ckpt"))
            for name in os.listdir(tmp):
                os.replace(os.path.join(tmp, name), path + name[len("ckpt") :])
        return path

    def restore_checkpoint(self, path: str) -> None:
        """Restores a checkpoint, checking it fits before changing anything.

        The checkpoint is first restored into a fresh memory of this memory's
        config; only if that succeeds is this memory's state replaced.

        Raises:
            ValueError: if the checkpoint is missing or comes from a memory of
                another shape (code shape, capacity, fields, input shape).
        """
        if not tf.io.gfile.exists(path + ".index"):
            raise ValueError(f"Expected a checkpoint at {path}. Received: no {path}.index")
        probe = RecollectionMemory.from_config(self.get_config())
        try:
            status = probe.checkpoint().read(path)
            status.assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as error:
            raise ValueError(
                f"Expected a checkpoint of a memory shaped like this one "
                f"(codec {self.codec.num_latents}x{self.codec.num_categories}, capacity "
                f"{self.buffer.capacity}, input {self.codec.input_spec_shape}). "
                f"Received: {path} ({error})"
            ) from error
        for mine, theirs in zip(self.variables, probe.variables, strict=True):
            mine.assign(theirs)
        for mine, theirs in zip(self.optimizer.variables, probe.optimizer.variables, strict=True):
            mine.assign(theirs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "codec": keras.saving.serialize_keras_object(self.codec),
                "capacity": self.buffer.capacity,
                "num_classes": self.num_classes,
                "num_tasks": self.num_tasks,
                "side_fields": (
                    None
                    if self.num_classes is not None and set(self.side_fields) == {"label", "task"}
                    else {k: v.to_config() for k, v in self.side_fields.items()}
                ),
                "encoded_inputs": list(self.encoded_inputs),
                "policy": keras.saving.serialize_keras_object(self.buffer.policy),
                "learning_rate": self.learning_rate,
                "seed": self.seed,
                "device": self.device,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def call(self, x, training=False):
        """Reconstructs x through the codec (mode of the bottleneck)."""
        return self.codec(x, training=training)
