"""The lifelong gymnasium agent: Double DQN whose replay memory is a RecollectionMemory.

```
config.py    LifelongConfig, DQNConfig, CodecConfig (frozen, checked)
envs.py      the games of a cycle (MinAtar, ALE, any gymnasium image env)
replay.py    RealTransitions / RecollectionTransitions at one byte budget
dqn.py       DQNAgent: compiled step (observe, learn, act) and act
loop.py      run(config, workdir), run_references(...)
phases.py    one phase (steps, evaluation) and a seed's state
results.py   return matrices -> normalised returns, BWT
```
"""

from agents.lifelong.config import CodecConfig, DQNConfig, LifelongConfig
from agents.lifelong.loop import run, run_references

__all__ = ["CodecConfig", "DQNConfig", "LifelongConfig", "run", "run_references"]
