"""SavedModel export of a `RecollectionMemory`.

Where this sits: at the end of a run, or whenever a consumer that does not have
this package (a serving stack, another language) needs the memory. The exported
model carries the codec's weights and the whole buffer, and has four signatures:

```
encode(x float32 [B, *input_shape])           -> int32 [B, c]
encode_packed(x float32 [B, *input_shape])    -> uint8 [B, ceil(k/8)]
decode(indices int32 [B, c])                  -> float32 [B, *input_shape]
recall(n int32 [], task int32 [])             -> {"x": float32 [n, ...], side fields...,
                                                  "rows": int64 [n]}   (task -1: any)
```

Load it with plain TensorFlow (keep the loaded object in a variable):

    loaded = tf.saved_model.load(path)
    out = loaded.recall(tf.constant(16), tf.constant(-1))
"""

from __future__ import annotations

import keras
import tensorflow as tf

from recollect import bits
from recollect.memory import RecollectionMemory


def export_saved_model(memory: RecollectionMemory, path: str) -> str:
    """Writes `memory` as a SavedModel that loads without this package.

    Args:
        memory: the memory to export.
        path: output directory.

    Returns:
        path.

    Raises:
        ValueError: if `memory` is not a `RecollectionMemory`.
    """
    if not isinstance(memory, RecollectionMemory):
        raise ValueError(f"Expected a RecollectionMemory. Received: {type(memory).__name__}")
    codec = memory.codec
    input_spec = tf.TensorSpec([None, *codec.input_spec_shape], tf.float32, name="x")
    index_spec = tf.TensorSpec([None, codec.num_latents], tf.int32, name="indices")

    archive = keras.export.ExportArchive()
    archive.track(memory)
    archive.add_endpoint("encode", lambda x: codec.encode(x), input_signature=[input_spec])
    archive.add_endpoint(
        "encode_packed",
        lambda x: bits.pack_codes(codec.encode(x), codec.num_categories),
        input_signature=[input_spec],
    )
    archive.add_endpoint("decode", lambda indices: codec.decode(indices), [index_spec])
    archive.add_endpoint(
        "recall",
        lambda n, task: memory._recall_graph(n, task, decode=True),
        input_signature=[
            tf.TensorSpec([], tf.int32, name="n"),
            tf.TensorSpec([], tf.int32, name="task"),
        ],
    )
    archive.write_out(path, verbose=False)
    return path
