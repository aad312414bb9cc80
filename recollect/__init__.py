"""recollect: Scalable Recollections for continual lifelong learning.

A Keras memory that compresses each experience to a k-bit discrete code, keeps
the codes in a packed buffer, and decodes them back into recollections for replay
(Riemer et al., AAAI 2019).
"""

from recollect import bits, budget
from recollect.autoencoder import DiscreteAutoencoder
from recollect.continuous_autoencoder import ContinuousAutoencoder
from recollect.footprint import Footprint
from recollect.index_buffer import Field, IndexBuffer, supervised_fields, transition_fields
from recollect.memory import RecollectionMemory
from recollect.write_policies import ReservoirPolicy, TaskRingPolicy, WritePolicy

__version__ = "0.1.0"

__all__ = [
    "ContinuousAutoencoder",
    "DiscreteAutoencoder",
    "Field",
    "Footprint",
    "IndexBuffer",
    "RecollectionMemory",
    "ReservoirPolicy",
    "TaskRingPolicy",
    "WritePolicy",
    "bits",
    "budget",
    "supervised_fields",
    "transition_fields",
]
