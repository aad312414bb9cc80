"""Tiny gymnasium games for the lifelong agent's tests, registered on import.

"RecollectCue-v0": one-step episodes; the frame lights channel 0 or channel 1 of a
4x4x2 grid (the cue); action == cue earns 1, else 0. A random policy scores 0.5,
a learned one 1.0. "RecollectCueSwap-v0" pays for the other action, so learning
one and then the other shows forgetting. "RecollectFlat-v0" has frames of rank 1.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

SHAPE = (4, 4, 2)


class CueGame(gym.Env):
    """See the module docstring; `swap` pays for the action that is not the cue."""

    def __init__(self, swap: bool = False, shape: tuple[int, ...] = SHAPE) -> None:
        self.swap = swap
        self.observation_space = gym.spaces.Box(0, 1, shape=shape, dtype=np.bool_)
        self.action_space = gym.spaces.Discrete(2)
        self._cue = 0

    def _frame(self) -> np.ndarray:
        frame = np.zeros(self.observation_space.shape, np.bool_)
        frame[..., self._cue] = True
        return frame

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._cue = int(self.np_random.integers(2))
        return self._frame(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        paid = 1 - self._cue if self.swap else self._cue
        reward = 1.0 if int(action) == paid else 0.0
        return self._frame(), reward, True, False, {}


class FlatGame(CueGame):
    """Frames of rank 1, which no frame codec takes."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32)

    def _frame(self) -> np.ndarray:
        return np.full((4,), float(self._cue), np.float32)


for _id, _kwargs, _entry in (
    ("RecollectCue-v0", {}, CueGame),
    ("RecollectCueSwap-v0", {"swap": True}, CueGame),
    ("RecollectCueWide-v0", {"shape": (4, 6, 2)}, CueGame),
    ("RecollectFlat-v0", {}, FlatGame),
):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_entry, kwargs=_kwargs)

CUE = "gym:RecollectCue-v0"
SWAP = "gym:RecollectCueSwap-v0"
WIDE = "gym:RecollectCueWide-v0"
FLAT = "gym:RecollectFlat-v0"
