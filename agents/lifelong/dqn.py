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

Under a `tf.distribute` strategy (`strategy=`, `runners.lifelong --strategy`) the
learner is replicated and the actor is not: one environment gives one transition
a step, so observing and acting stay on the host, as on one device.

```
step(transition, epsilon, learn)                       three compiled calls
  observe(transition)                                  host: the store's write, as on one device
  if learn: learn(game, newest)
    batch = store.learn_batch(B, B_game, game)         host: the same draws as on one device
    strategy.run: replica i of R takes rows i, i+R, ... of the batch (interleaved,
                  so each has its share of the game being played and of the rest)
      Huber loss on its rows x B_i / B; gradients all-reduced (summed), then clipped
      to the global norm, as one device clips the global batch's gradients
      store.stabilize on its share of the codec's rows (the memory's replica path)
    every K learn steps Q_target <- Q                  host, on every copy
  a' = act(next_obs)                                   host
```

The Q-network, its target and their optimizer are mirrored; the store's buffers
stay plain variables on the host (`RecollectionTransitions` mirrors its codec).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from agents import strategies
from agents.lifelong.config import DQNConfig
from agents.lifelong.stores import TransitionStore
from recollect import replicas


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
        strategy: a `tf.distribute` strategy the learn step is replicated over
            (None: one device); the store must have been made with it.

    Raises:
        ValueError: a batch the replicas cannot share equally.
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
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        super().__init__(name="dqn_agent")
        strategies.check_divisible(strategy, {"batch_size": config.batch_size})
        self.config = config
        self.strategy = strategy
        self.store = store
        self.obs_shape = tuple(obs_shape)
        self.num_actions, self.num_games, self.task_aware = num_actions, num_games, task_aware
        self.scale = 1.0 if store.binary else 1.0 / 255.0
        keras.utils.set_random_seed(seed)
        self._build_networks()
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
        self.act = tf.function(self._act, input_signature=[frames, vector, scalar])
        if strategy is None:
            self.step = tf.function(
                self._step, input_signature=[transition, scalar, tf.TensorSpec([], tf.bool)]
            )
            return
        # Replicated: no tf.cond may hold the replicas' synchronisation, so the step
        # is three compiled calls in the one-device step's order.
        self.step = self._replicated_step
        self._observe = tf.function(self.store.observe, input_signature=[transition])
        self._learn_replicated = tf.function(
            self._learn_on_replicas, input_signature=[tf.TensorSpec([], tf.int32), frames]
        )

    def _build_networks(self) -> None:
        """The Q and target networks and the optimizer, placed by the strategy."""
        options: dict[str, Any] = {
            "obs_shape": self.obs_shape,
            "num_actions": self.num_actions,
            "num_games": self.num_games if self.task_aware else None,
        }
        config = self.config
        with strategies.scope(self.strategy):
            self.q_network = build_q_network(config, name="q", **options)
            self.target_network = build_q_network(config, name="q_target", **options)
            self.target_network.set_weights(self.q_network.get_weights())
            # Replicated, the step clips the all-reduced gradients itself: Keras clips
            # each replica's before summing them.
            clip = config.gradient_clip_norm if self.strategy is None else None
            self.optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=clip)
            self.optimizer.build(self.q_network.trainable_variables)

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

    def _draw(self, game: tf.Tensor) -> tuple[dict[str, tf.Tensor], int]:
        """The learning batch and how many of its rows are of the game being played."""
        own = round(self.config.batch_size * self.config.current_game_fraction)
        return self.store.learn_batch(self.config.batch_size, own, game), own

    def _huber(self, rows: dict[str, tf.Tensor]) -> tf.Tensor:
        """The mean Double-DQN Huber loss of rows (call inside the gradient tape)."""
        next_q = self._q(self.q_network, rows["next_obs"], rows["game"])
        best = tf.argmax(next_q, axis=1, output_type=tf.int32)
        target_q = self._q(self.target_network, rows["next_obs"], rows["game"])
        bootstrap = tf.gather(target_q, best, batch_dims=1)
        target = rows["reward"] + self.config.discount * rows["discount"] * bootstrap
        target = tf.stop_gradient(target)
        q_values = self._q(self.q_network, rows["obs"], rows["game"])
        chosen = tf.gather(q_values, rows["action"], batch_dims=1)
        return tf.reduce_mean(keras.losses.huber(target[:, None], chosen[:, None]))

    def _count_step(self) -> None:
        """Counts a learn step; syncs the target network every target_update_period."""
        self.learn_steps.assign_add(1)
        period = tf.constant(self.config.target_update_period, tf.int64)
        if_due = tf.equal(tf.math.floormod(self.learn_steps, period), 0)
        tf.cond(if_due, self._sync_target, lambda: tf.constant(False))

    def _learn(self, game: tf.Tensor, newest: tf.Tensor) -> tf.Tensor:
        """One Double-DQN step and one codec step; returns the Huber loss."""
        batch, own = self._draw(game)
        variables = self.q_network.trainable_variables
        with tf.GradientTape() as tape:
            loss = self._huber(batch)
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.store.stabilize(newest, batch, own)
        self._count_step()
        return loss

    def _learn_on_replicas(self, game: tf.Tensor, newest: tf.Tensor) -> tf.Tensor:
        """`_learn` with the batch drawn on the host and the update on every replica."""
        strategy = self.strategy
        assert strategy is not None  # only compiled for a strategy
        batch, own = self._draw(game)
        losses = strategy.run(lambda b, n: self._replica_update(b, n, own), args=(batch, newest))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)
        self._count_step()
        return loss

    def _replica_update(
        self, batch: dict[str, tf.Tensor], newest: tf.Tensor, own: int
    ) -> tf.Tensor:
        """One replica's share of the Double-DQN step and the codec step; its weighted loss."""
        context = tf.distribute.get_replica_context()
        count = context.num_replicas_in_sync
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
        rows = {name: value[replica::count] for name, value in batch.items()}
        variables = self.q_network.trainable_variables
        share = replicas.loss_weight(context, tf.shape(rows["action"])[0])
        with tf.GradientTape() as tape:
            loss = self._huber(rows) * share
        # The global batch's gradients, clipped as one device clips them; the
        # optimizer sums what every replica applies, so each applies 1/R of them.
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, tape.gradient(loss, variables))
        gradients, _ = tf.clip_by_global_norm(gradients, self.config.gradient_clip_norm)
        self.optimizer.apply([g / count for g in gradients], variables)
        # The codec's rows split as the batch is: this replica's newest frames, and
        # its rows, of which the first own_here are of the game being played.
        own_here = tf.maximum((own - replica + count - 1) // count, 0)
        self.store.stabilize(newest[replica::count], rows, own_here)
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
    def _replicated_step(
        self, transition: dict[str, Any], epsilon: tf.Tensor, learn: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """`step` under a strategy: observe, learn on the replicas if asked, act."""
        self._observe(transition)
        loss = tf.constant(0.0)
        if bool(learn):
            newest = tf.convert_to_tensor(transition["next_obs"], tf.uint8)
            loss = self._learn_replicated(tf.constant(transition["game"][0], tf.int32), newest)
        action = self.act(transition["next_obs"], transition["game"], epsilon)
        return {"action": action, "loss": loss}

    def learn_ready(self, env_steps: int) -> bool:
        """Whether a seed that has taken env_steps steps learns on this one."""
        config = self.config
        return env_steps >= config.learn_start_steps and env_steps % config.update_period == 0
