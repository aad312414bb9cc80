"""A Double-DQN agent whose replay memory is a `RecollectionMemory` (or raw frames).

Where this sits: `agents.lifelong.loop` calls `step` once per environment step
and `act` for evaluation; both are compiled `tf.function`s with fixed input
signatures, so a step is one call with no numpy round trip:

```
step(transition, epsilon, learn)                       one compiled call per env step
  store.observe(obs, action, reward, discount, next_obs, game)
  if learn: batch = store.sample(B_game, game) ++ store.sample(B - B_game)  (decoded)
            y = r + gamma * discount * Q_target(o', argmax_a Q(o', a))      (Double DQN)
            Adam step on Huber(Q(o, a), y); every K learn steps Q_target <- Q
            store.stabilize(newest frame, batch frames)   codec self-replay, same decode
  a' = epsilon-greedy(Q(next_obs))                      the action for the next step
```

The Q-network is MinAtar's (Young and Tian, 2019): conv 3x3 (16) -> dense 128 ->
one value per action, or the Nature DQN's torso for Atari frames; with
`task_aware` a one-hot game id joins the dense layer.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from agents.lifelong.config import DQNConfig
from agents.lifelong.stores import TransitionStore


def build_q_network(
    config: DQNConfig,
    *,
    obs_shape: tuple[int, int, int],
    num_actions: int,
    num_games: int | None,
    name: str,
) -> keras.Model:
    """Frames float32 [B, H, W, C] (and game one-hot [B, G]) -> Q float32 [B, actions]."""
    frames = keras.Input(obs_shape, name="frames")
    if config.network == "nature":
        hidden = frames
        for filters, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            hidden = keras.layers.Conv2D(filters, kernel, strides=stride, activation="relu")(hidden)
    else:
        hidden = keras.layers.Conv2D(config.conv_filters, 3, activation="relu")(frames)
    hidden = keras.layers.Flatten()(hidden)
    inputs = [frames]
    if num_games:
        game = keras.Input((num_games,), name="game")
        inputs.append(game)
        hidden = keras.layers.Concatenate()([hidden, game])
    if config.hidden_units:
        hidden = keras.layers.Dense(config.hidden_units, activation="relu")(hidden)
    q_values = keras.layers.Dense(num_actions)(hidden)
    return keras.Model(inputs, q_values, name=name)


class DQNAgent(tf.Module):
    """Double DQN over a transition store.

    Args:
        config: the `DQNConfig`.
        store: the replay memory (`RealTransitions` or `RecollectionTransitions`).
        obs_shape: (H, W, C) of a frame.
        num_actions: discrete actions.
        num_games: games in the cycle (the store's game field).
        task_aware: feed the Q-network the game id.
        seed: seeds the initial weights and the exploration.
    """

    def __init__(
        self,
        config: DQNConfig,
        *,
        store: TransitionStore,
        obs_shape: tuple[int, int, int],
        num_actions: int,
        num_games: int,
        task_aware: bool,
        seed: int,
    ) -> None:
        super().__init__(name="dqn_agent")
        self.config = config
        self.store = store
        self.obs_shape = tuple(obs_shape)
        self.num_actions, self.num_games, self.task_aware = num_actions, num_games, task_aware
        self.scale = 1.0 if store.binary else 1.0 / 255.0
        keras.utils.set_random_seed(seed)
        options: dict[str, Any] = {
            "obs_shape": self.obs_shape,
            "num_actions": num_actions,
            "num_games": num_games if task_aware else None,
        }
        self.q_network = build_q_network(config, name="q", **options)
        self.target_network = build_q_network(config, name="q_target", **options)
        self.target_network.set_weights(self.q_network.get_weights())
        self.optimizer = keras.optimizers.Adam(
            config.learning_rate, global_clipnorm=config.gradient_clip_norm
        )
        self.optimizer.build(self.q_network.trainable_variables)
        self.rng = tf.random.Generator.from_seed(seed)
        self.learn_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="learn_steps")
        frames = tf.TensorSpec([None, *self.obs_shape], tf.uint8)
        vector = tf.TensorSpec([None], tf.int32)
        transition = {
            "obs": frames,
            "next_obs": frames,
            "action": vector,
            "reward": tf.TensorSpec([None], tf.float32),
            "discount": tf.TensorSpec([None], tf.float32),
            "game": vector,
            "age": vector,  # obs's step in its episode (stores that rebuild frame stacks)
        }
        scalar = tf.TensorSpec([], tf.float32)
        self.step = tf.function(
            self._step, input_signature=[transition, scalar, tf.TensorSpec([], tf.bool)]
        )
        self.act = tf.function(self._act, input_signature=[frames, vector, scalar])

    # ---------------------------------------------------------------- graph
    def _q(self, network: keras.Model, frames: tf.Tensor, game: tf.Tensor) -> tf.Tensor:
        if self.task_aware:
            return network([frames, tf.one_hot(game, self.num_games)])
        return network(frames)

    def _act(self, obs: tf.Tensor, game: tf.Tensor, epsilon: tf.Tensor) -> tf.Tensor:
        """Epsilon-greedy actions int32 [B] for frames uint8 [B, H, W, C]."""
        frames = tf.cast(obs, tf.float32) * self.scale
        greedy = tf.argmax(self._q(self.q_network, frames, game), axis=1, output_type=tf.int32)
        batch = tf.shape(obs)[:1]
        explore = self.rng.uniform(batch) < epsilon
        random = self.rng.uniform(batch, 0, self.num_actions, dtype=tf.int32)
        return tf.where(explore, random, greedy)

    def _learn(self, game: tf.Tensor, newest: tf.Tensor) -> tf.Tensor:
        """One Double-DQN step and one codec step; returns the Huber loss."""
        own = round(self.config.batch_size * self.config.current_game_fraction)
        batch = self.store.learn_batch(self.config.batch_size, own, game)
        next_q = self._q(self.q_network, batch["next_obs"], batch["game"])
        best = tf.argmax(next_q, axis=1, output_type=tf.int32)
        target_q = self._q(self.target_network, batch["next_obs"], batch["game"])
        bootstrap = tf.gather(target_q, best, batch_dims=1)
        target = batch["reward"] + self.config.discount * batch["discount"] * bootstrap
        target = tf.stop_gradient(target)
        variables = self.q_network.trainable_variables
        with tf.GradientTape() as tape:
            q_values = self._q(self.q_network, batch["obs"], batch["game"])
            chosen = tf.gather(q_values, batch["action"], batch_dims=1)
            loss = tf.reduce_mean(keras.losses.huber(target[:, None], chosen[:, None]))
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.store.stabilize(newest, batch, own)
        self.learn_steps.assign_add(1)
        period = tf.constant(self.config.target_update_period, tf.int64)
        if_due = tf.equal(tf.math.floormod(self.learn_steps, period), 0)
        tf.cond(if_due, self._sync_target, lambda: tf.constant(False))
        return loss

    def _sync_target(self) -> tf.Tensor:
        for target, source in zip(
            self.target_network.variables, self.q_network.variables, strict=True
        ):
            target.assign(source)
        return tf.constant(True)

    def _step(
        self, transition: dict[str, tf.Tensor], epsilon: tf.Tensor, learn: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Observes transitions, learns if asked, and picks the next actions."""
        self.store.observe(transition)
        game = transition["game"][0]
        loss = tf.cond(
            learn,
            lambda: self._learn(game, transition["next_obs"]),
            lambda: tf.constant(0.0),
        )
        action = self._act(transition["next_obs"], transition["game"], epsilon)
        return {"action": action, "loss": loss}

    # ------------------------------------------------------------- eager API
    def learn_ready(self, env_steps: int) -> bool:
        """Whether a seed that has taken env_steps steps learns on this one."""
        config = self.config
        return env_steps >= config.learn_start_steps and env_steps % config.update_period == 0
