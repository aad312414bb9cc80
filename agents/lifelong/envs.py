"""The games of a lifelong run: gymnasium environments with one observation shape.

Where this sits: `agents.lifelong.loop` makes one `Game` per name in the config's
cycle and steps it; the agent and its replay memory see every game's frames at
the shared `obs_shape`, so one Q-network and one codec serve the whole cycle.

```
name               environment                                 frame
"breakout" ...     MinAtar (`minatar` package), full 6 actions  bool [10, 10, C]
                   padded with empty channels to C = 10      -> uint8 [10, 10, 10] in {0, 1}
"ale:pong" ...     ALE (`ale-py`), standard Atari preprocessing
                   (frame skip 4, 84x84 grayscale), 4 frames  -> uint8 [84, 84, 4] in [0, 255]
"gym:<id>"         any registered gymnasium id with a uint8 / bool box observation
                   of rank 3 (tests register tiny ones)      -> uint8 [H, W, C]
```

Every game must have the same number of discrete actions (MinAtar's full set is 6
for every game; ALE games are made with `full_action_space=True`, 18 actions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

MINATAR_GAMES = {
    "asterix": "MinAtar/Asterix-v1",
    "breakout": "MinAtar/Breakout-v1",
    "freeway": "MinAtar/Freeway-v1",
    "seaquest": "MinAtar/Seaquest-v1",
    "space_invaders": "MinAtar/SpaceInvaders-v1",
}
MINATAR_SHAPE = (10, 10, 10)
ATARI_SHAPE = (84, 84, 4)
ALE_PREFIX = "ale:"
GYM_PREFIX = "gym:"


@dataclasses.dataclass
class Game:
    """One environment of the cycle, with frames at the cycle's shared shape.

    Attributes:
        name: the name it was made from.
        env: the gymnasium environment.
        obs_shape: (H, W, C) of every frame `reset` and `step` return.
        num_actions: the size of its discrete action space.
        binary: frames hold only 0 and 1 (MinAtar), so raw storage packs 1 bit each.
    """

    name: str
    env: gym.Env
    obs_shape: tuple[int, int, int]
    num_actions: int
    binary: bool

    def reset(self, seed: int) -> np.ndarray:
        """Starts an episode; returns uint8 [*obs_shape]."""
        obs, _ = self.env.reset(seed=int(seed))
        return self._frame(obs)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        """Takes an action; returns (uint8 frame, reward, terminated, truncated)."""
        obs, reward, terminated, truncated, _ = self.env.step(int(action))
        return self._frame(obs), float(reward), bool(terminated), bool(truncated)

    def _frame(self, obs: Any) -> np.ndarray:
        frame = np.asarray(obs)
        if frame.ndim == 3 and frame.shape[0] == 4 and self.obs_shape[-1] == 4:
            frame = np.moveaxis(frame, 0, -1)  # FrameStackObservation stacks first
        frame = frame.astype(np.uint8)
        pad = self.obs_shape[-1] - frame.shape[-1]
        if pad:
            frame = np.concatenate([frame, np.zeros((*frame.shape[:-1], pad), np.uint8)], -1)
        return frame

    def close(self) -> None:
        """Closes the environment."""
        self.env.close()


def known_games() -> list[str]:
    """The names `make_game` accepts besides "ale:<Game>" and "gym:<id>"."""
    return sorted(MINATAR_GAMES)


def _minatar(name: str) -> tuple[gym.Env, bool]:
    try:
        import minatar.gym as minatar_gym
    except ImportError as error:
        raise ValueError(
            f"Expected the `minatar` package for game {name!r}. Install it with "
            '`pip install -e ".[rl]"`.'
        ) from error
    if MINATAR_GAMES[name] not in gym.registry:
        minatar_gym.register_envs()
    # v1 with the full action set: every game then has the same 6 actions.
    return gym.make(MINATAR_GAMES[name], use_minimal_action_set=False), True


def _ale(name: str) -> tuple[gym.Env, bool]:
    try:
        import ale_py
        from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation
    except ImportError as error:
        raise ValueError(
            f'Expected `ale-py` for game {name!r}. Install it with `pip install -e ".[atari]"`.'
        ) from error
    gym.register_envs(ale_py)
    game_id = f"ALE/{name[len(ALE_PREFIX) :]}-v5"
    if game_id not in gym.registry:
        raise ValueError(f"Expected an ALE game. Received: game={name!r} ({game_id} is unknown)")
    try:
        env = gym.make(game_id, frameskip=1, full_action_space=True, repeat_action_probability=0.25)
        env = AtariPreprocessing(env, frame_skip=4, screen_size=84, grayscale_obs=True)
    except gym.error.DependencyNotInstalled as error:
        raise ValueError(
            f"Expected opencv for Atari preprocessing: {error}. Install `.[atari]`."
        ) from error
    return FrameStackObservation(env, ATARI_SHAPE[-1]), False


def _gym(name: str) -> tuple[gym.Env, bool]:
    game_id = name[len(GYM_PREFIX) :]
    if game_id not in gym.registry:
        raise ValueError(f"Expected a registered gymnasium id. Received: game={name!r}")
    env = gym.make(game_id)
    space = env.observation_space
    binary = isinstance(space, gym.spaces.Box) and space.dtype == np.bool_
    return env, binary


def _factory(name: str) -> Callable[[str], tuple[gym.Env, bool]]:
    if name in MINATAR_GAMES:
        return _minatar
    if name.startswith(ALE_PREFIX):
        return _ale
    if name.startswith(GYM_PREFIX):
        return _gym
    raise ValueError(
        f"Expected a game in {known_games()}, 'ale:<Game>' or 'gym:<registered id>'. "
        f"Received: game={name!r}"
    )


def check_names(names: Sequence[str]) -> None:
    """Refuses an empty cycle or an unknown name, without making any environment.

    Raises:
        ValueError: naming the bad entry and the names that are known.
    """
    if not names:
        raise ValueError("Expected at least one game. Received: games=()")
    for name in names:
        _factory(name)
        if name.startswith(GYM_PREFIX) and name[len(GYM_PREFIX) :] not in gym.registry:
            raise ValueError(f"Expected a registered gymnasium id. Received: game={name!r}")


def make_games(names: Sequence[str]) -> list[Game]:
    """Makes the cycle's games at one shared frame shape.

    MinAtar games are padded to 10 channels; other games must already agree.

    Args:
        names: game names (see the module docstring), at least one.

    Returns:
        One `Game` per distinct name, in order of first appearance.

    Raises:
        ValueError: on an unknown name, a missing optional package, observations
            that are not uint8 / bool boxes of rank 3, games whose frame shapes or
            action counts differ, or a non-discrete action space.
    """
    check_names(names)
    made = {}
    for name in dict.fromkeys(names):
        env, binary = _factory(name)(name)
        made[name] = (env, binary, _checked_space(name, env))
    shapes = {shape for _, _, (shape, _) in made.values()}
    if all(name in MINATAR_GAMES for name in made):
        shapes = {MINATAR_SHAPE}
    actions = {count for _, _, (_, count) in made.values()}
    if len(shapes) != 1 or len(actions) != 1:
        for env, _, _ in made.values():
            env.close()
        raise ValueError(
            "Expected every game to have one frame shape and action count. Received: "
            + ", ".join(f"{n}: {s} x {a} actions" for n, (_, _, (s, a)) in made.items())
        )
    shape, count = shapes.pop(), actions.pop()
    return [Game(n, env, shape, count, binary) for n, (env, binary, _) in made.items()]


def _checked_space(name: str, env: gym.Env) -> tuple[tuple[int, int, int], int]:
    space, actions = env.observation_space, env.action_space
    if not isinstance(actions, gym.spaces.Discrete):
        env.close()
        raise ValueError(f"Expected discrete actions. Received: {name} has {actions}")
    if not (
        isinstance(space, gym.spaces.Box)
        and space.dtype in (np.uint8, np.bool_)
        and len(space.shape) == 3
    ):
        env.close()
        raise ValueError(
            f"Expected frames as a uint8 or bool box [H, W, C]. Received: {name} has {space}"
        )
    shape = tuple(int(d) for d in space.shape)
    if name.startswith(ALE_PREFIX):
        shape = ATARI_SHAPE
    return (shape[0], shape[1], shape[2]), int(actions.n)
