"""The frozen settings of a lifelong run, checked when they are made.

Where this sits: `runners/lifelong.py` builds a `LifelongConfig` from flags (a test
builds one directly) and passes it to `agents.lifelong.run`.

```
LifelongConfig
  games, steps_per_phase, cycles, task_aware      the cycle of games (agents.lifelong.envs)
  storage, memory_bytes, write_policy,
  stored_frames                                   the replay memory (agents.lifelong.replay)
  codec: CodecConfig                              its codec (storage="recollections")
  agent: DQNConfig                                the Double-DQN learner (agents.lifelong.dqn)
  eval_episodes, eval_max_steps, eval_epsilon     the greedy evaluation after every phase
  seeds
```
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from agents import strategies
from agents.experiment import settings
from agents.experiment.settings import as_config, check, is_int, is_number
from agents.lifelong import envs
from agents.lifelong.frame_stacks import check_stored_frames
from agents.stores import codecs

STORAGES = ("real", "recollections", "lossless", "corrected")
WRITE_POLICIES = ("game_rings", "reservoir")
NETWORKS = ("minatar", "nature")


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Double DQN (van Hasselt et al., 2016) with a Huber loss and Adam.

    Attributes:
        learning_rate: Adam's step size for the Q-network.
        discount: gamma.
        batch_size: transitions per learn step.
        current_game_fraction: share of each learn batch drawn from the game being
            played (the rest from every game in memory), as CLEAR mixes new and
            old experience; 0 draws uniformly from the whole memory.
        update_period: environment steps per learn step.
        target_update_period: learn steps between copies to the target network.
        learn_start_steps: environment steps of a seed before learning begins.
        epsilon_start: exploration at the start of every phase (each game switch).
        epsilon_end: exploration after epsilon_decay_steps of a phase.
        epsilon_decay_steps: steps of each phase over which epsilon anneals linearly.
        network: the Q-network's torso: "minatar" (one conv 3x3 of conv_filters,
            Young and Tian, 2019) or "nature" (convs 8x8/4 32, 4x4/2 64, 3x3/1 64,
            Mnih et al., 2015, for 84x84 Atari frames).
        conv_filters: filters of the "minatar" torso's conv 3x3 layer (16).
        hidden_units: units of the dense layer after the torso (MinAtar 128, Nature 512).
        gradient_clip_norm: global norm the gradients are clipped to.
    """

    learning_rate: float = 1e-3
    discount: float = 0.99
    batch_size: int = 32
    current_game_fraction: float = 0.5
    update_period: int = 1
    target_update_period: int = 500
    learn_start_steps: int = 500
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 2000
    network: str = "minatar"
    conv_filters: int = 16
    hidden_units: int = 128
    gradient_clip_norm: float = 10.0

    def __post_init__(self) -> None:
        """Raises ValueError naming the flag to change."""
        for name in ("batch_size", "update_period", "target_update_period", "conv_filters"):
            check(is_int(getattr(self, name), 1), f"--{name} >= 1", f"{getattr(self, name)!r}")
        for name in ("learn_start_steps", "epsilon_decay_steps", "hidden_units"):
            check(is_int(getattr(self, name), 0), f"--{name} >= 0", f"{getattr(self, name)!r}")
        check(self.network in NETWORKS, f"--network among {list(NETWORKS)}", f"{self.network!r}")
        check(
            is_number(self.learning_rate) and self.learning_rate > 0,
            "--learning_rate > 0",
            f"{self.learning_rate!r}",
        )
        check(
            is_number(self.gradient_clip_norm) and self.gradient_clip_norm > 0,
            "--gradient_clip_norm > 0",
            f"{self.gradient_clip_norm!r}",
        )
        for name in ("discount", "current_game_fraction", "epsilon_start", "epsilon_end"):
            value = getattr(self, name)
            check(is_number(value) and 0 <= value <= 1, f"--{name} in [0, 1]", f"{value!r}")


@dataclasses.dataclass(frozen=True)
class CodecConfig(codecs.CodecConfig):
    """The recollection memory's discrete autoencoder over frames.

    Every field of `agents.stores.codecs.CodecConfig` (the continual store's codec
    settings), with defaults for frames, and:

    Attributes:
        num_latents: c; a frame is stored in c * ceil(log2 l) bits.
        num_categories: l, categories per latent, in [2, 256].
        binarize_frames: round decoded frames of binary games (MinAtar) to {0, 1}.
        recent_transitions: K, the newest transitions kept raw in a FIFO ring inside
            the byte budget; each is encoded when it leaves the ring, after the codec
            has trained on it (0: encode every transition when it arrives).

    stabilize_steps is N as in the continual store, up to 1 here: with 1 each learn
    step also trains the codec on the newest frame joined with the frames recalled
    for that learn step (one decode serves the Q-learning and the self-replay);
    with 0, on the newest frame alone.
    """

    codec_units: int | None = 256
    codec_noise: float = 0.0
    num_latents: int = 40
    num_categories: int = 4
    binarize_frames: bool = True
    recent_transitions: int = 1000

    def __post_init__(self) -> None:
        """Raises ValueError naming the flag to change."""
        check(is_int(self.num_latents, 1), "--num_latents >= 1", f"{self.num_latents!r}")
        check(
            is_int(self.num_categories, 2) and self.num_categories <= 256,
            "--num_categories in [2, 256]",
            f"{self.num_categories!r}",
        )
        check(
            is_int(self.recent_transitions, 0),
            "--recent_transitions >= 0",
            f"{self.recent_transitions!r}",
        )
        check(
            is_int(self.stabilize_steps, 0) and self.stabilize_steps <= 1,
            "--stabilize_steps 0 or 1",
            f"{self.stabilize_steps!r}",
        )
        super().__post_init__()


@dataclasses.dataclass(frozen=True)
class LifelongConfig:
    """Everything a lifelong run depends on; invalid values raise ValueError here.

    Attributes:
        games: the cycle, names `agents.lifelong.envs.make_games` accepts.
        steps_per_phase: environment steps before switching to the next game.
        cycles: passes over the games.
        task_aware: feed the Q-network a one-hot id of the game being played.
        storage: "real" (raw frames, bit-packed when binary), "recollections",
            "lossless" (binary frames as their set positions, `LosslessTransitions`)
            or "corrected" (binary frames as a fixed pretrained codec's code and
            the positions it gets wrong, `CorrectedTransitions`).
        memory_bytes: the replay memory's byte budget, the same for both storages.
        write_policy: "game_rings" (an equal FIFO share per game) or "reservoir".
        stored_frames: "observation" (each observation whole) or "newest" (the
            newest frame of each observation's stack, the stacks rebuilt when
            sampled, as Dopamine does; `agents.lifelong.frame_stacks`).
        codec: the codec's settings (used by storage="recollections" and "corrected").
        agent: the Double-DQN settings.
        eval_episodes: greedy episodes per game after every phase.
        eval_max_steps: steps after which an evaluation episode is cut.
        eval_epsilon: the evaluation policy's exploration.
        seeds: run seeds.
        strategy: the tf.distribute strategy the learner's step is replicated
            over (`agents.strategies.STRATEGIES`): default (one device),
            mirrored or multi_worker; acting and the store stay on the host.
    """

    games: tuple[str, ...] = ("breakout", "space_invaders", "freeway", "asterix", "seaquest")
    steps_per_phase: int = 10_000
    cycles: int = 2
    task_aware: bool = False
    storage: str = "recollections"
    memory_bytes: int = 1_000_000
    write_policy: str = "game_rings"
    stored_frames: str = "observation"
    codec: Any = None
    agent: Any = None
    eval_episodes: int = 5
    eval_max_steps: int = 1000
    eval_epsilon: float = 0.01
    seeds: tuple[int, ...] = (0,)
    strategy: str = "default"

    def __post_init__(self) -> None:
        """Checks every setting; turns mappings into `CodecConfig` and `DQNConfig`."""
        object.__setattr__(self, "games", tuple(self.games))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "codec", as_config(self.codec, CodecConfig))
        object.__setattr__(self, "agent", as_config(self.agent, DQNConfig))
        envs.check_names(self.games)
        check(self.storage in STORAGES, f"--storage among {list(STORAGES)}", f"{self.storage!r}")
        check(
            self.write_policy in WRITE_POLICIES,
            f"--write_policy among {list(WRITE_POLICIES)}",
            f"{self.write_policy!r}",
        )
        check_stored_frames(self.stored_frames, self.write_policy)
        for name in ("steps_per_phase", "cycles", "memory_bytes", "eval_episodes"):
            check(is_int(getattr(self, name), 1), f"--{name} >= 1", f"{getattr(self, name)!r}")
        check(is_int(self.eval_max_steps, 1), "--eval_max_steps >= 1", f"{self.eval_max_steps}")
        check(
            is_number(self.eval_epsilon) and 0 <= self.eval_epsilon <= 1,
            "--eval_epsilon in [0, 1]",
            f"{self.eval_epsilon!r}",
        )
        check(isinstance(self.task_aware, bool), "--task_aware a bool", f"{self.task_aware!r}")
        check(
            bool(self.seeds) and all(is_int(s, 0) for s in self.seeds),
            "--seeds non-negative ints",
            f"seeds={self.seeds!r}",
        )
        check(len(set(self.seeds)) == len(self.seeds), "distinct --seeds", f"{self.seeds!r}")
        check(
            self.strategy in strategies.STRATEGIES,
            f"--strategy among {list(strategies.STRATEGIES)}",
            f"strategy={self.strategy!r}",
        )

    @property
    def distinct_games(self) -> tuple[str, ...]:
        """The games in order of first appearance; a game's id is its index here."""
        return tuple(dict.fromkeys(self.games))

    @property
    def num_phases(self) -> int:
        """Phases in a seed: one per game per cycle."""
        return len(self.games) * self.cycles

    def to_dict(self) -> dict:
        """A JSON-ready dict; `LifelongConfig(**d)` reads it back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def first_difference(self, other: Mapping[str, Any]) -> str | None:
        """'name: this != other' for the first setting that differs from a to_dict; else None.

        A setting that `other` lacks (a run written before the setting existed) is
        no difference while this config leaves it at its default.
        """
        return settings.first_difference(self, other)
