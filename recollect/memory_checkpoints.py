"""A memory's checkpoints: written atomically with their config, restored only if it all checks.

Where this sits: `RecollectionMemory` takes these methods from `MemoryCheckpoints`;
`checkpointing.py` writes and verifies the files, and `memory_layout.checkpoint_config`
says what a checkpoint must match (fields and their ranges, policy, codec).

```
<prefix>.index, <prefix>.data-*   tf.train.Checkpoint(memory=..., optimizer=...)
<prefix>.memory.json              the config and each file's size and sha256
```
"""

from __future__ import annotations

import keras
import tensorflow as tf

from recollect import checkpointing, memory_layout


class MemoryCheckpoints:
    """Checkpoint methods of a memory with `_parts()`, `optimizer` and `learning_rate`."""

    optimizer: keras.optimizers.Optimizer
    learning_rate: float
    decoder_steps: int | None

    def _parts(self) -> memory_layout.MemoryParts:
        raise NotImplementedError

    def checkpoint(self) -> tf.train.Checkpoint:
        """A `tf.train.Checkpoint` of the codec, buffer and optimizer."""
        return tf.train.Checkpoint(memory=self, optimizer=self.optimizer)

    def save_checkpoint(self, path: str) -> str:
        """Writes a checkpoint and its `<path>.memory.json` (config, sha256s), atomically.

        Args:
            path: checkpoint prefix, e.g. "ckpt/memory".

        Returns:
            the prefix written.

        Raises:
            ValueError: if path is not a prefix (a non-empty str not ending in "/").
        """
        config = memory_layout.checkpoint_config(
            self._parts(), learning_rate=self.learning_rate, decoder_steps=self.decoder_steps
        )
        return checkpointing.write_atomically(self.checkpoint(), path, config=config)

    def restore_checkpoint(self, path: str) -> None:
        """Restores a checkpoint, checking all of it first (see `checkpointing.py`).

        Args:
            path: checkpoint prefix, as given to `save_checkpoint`.

        Raises:
            ValueError: before any change, if the checkpoint or its `.memory.json`
                is missing, a file is damaged or truncated, or the config (fields
                and their ranges, policy, codec, ...) differs: the message names
                the first differing entry.
        """
        config = memory_layout.checkpoint_config(
            self._parts(), learning_rate=self.learning_rate, decoder_steps=self.decoder_steps
        )
        checkpointing.restore_verified(self, path, config=config)  # type: ignore[arg-type]
