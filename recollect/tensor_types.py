"""Type aliases for the library's signatures.

Where this sits: at the bottom of `recollect/`; every module may import it for its
type hints. It holds no state and imports nothing from the package.
"""

from __future__ import annotations

import numpy.typing as npt
import tensorflow as tf

# A batch given by a caller: a tf.Tensor, a numpy array, or nested lists of numbers.
TensorLike = tf.Tensor | npt.ArrayLike
