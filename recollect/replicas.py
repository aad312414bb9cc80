"""The memory under `tf.distribute`: one buffer mirrored on every replica, written in step.

Where this sits: `RecollectionMemory`'s methods call `check_scope` first; inside a
replica function (`strategy.run`) the memory's graph functions (`memory_graph.py`)
take the paths below instead of their single-device ones. Without a strategy
(or under the default one) none of this runs, and results are as before bit for bit.

```
built under strategy.scope():  codec weights, Adam slots: MirroredVariables, one copy
                               per replica; the buffer (rows, counters, seed): plain
                               variables on the host, one buffer per worker (host_local)
observe  (replica i, B_i items)  encode + pack locally; all_gather every replica's
         items in replica order (across workers too); merge_call -> each worker
         writes them once into its buffer (policy rows, one scatter per field)
         -> rows[sum B_i]; replica i gets rows[offset_i : offset_i + B_i]
recall   (replica i, n_i)        all_gather the n_i; merge_call -> one draw of sum n_i
         rows (the same on every worker: same writes, same seed); replica i reads
         its rows from its worker's buffer and decodes them locally
stabilize                        loss scaled by B_i / sum B_j, gradients summed by
                                 the optimizer's all-reduce; the decoder's weights
                                 put back (decoder_steps) in a merge_call
```

Why one buffer per worker and not one shard per replica: a buffer of codes is small
(60,000 MNIST codes of 26 bytes are 1.5 MB), so a copy per worker costs little, its
contents and draws do not depend on the number of replicas, and writing every
replica's items at once, in replica order, is what one device does with the global
batch: the same rows, the same draws, the same state. It stays on the host CPU, as
on one device (a GPU would hold it for nothing), and a checkpoint of it is the one
a single device writes, so it restores under any strategy or none.

TensorFlow's MirroredStrategy synchronises replicas with `merge_call`, which it
refuses inside `tf.cond`, `tf.while_loop` or a nested `tf.function` of the replica
function: call observe, recall and stabilize at the top level of the function
given to `strategy.run` (the error TensorFlow raises otherwise says the same).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import tensorflow as tf


def replica_context() -> tf.distribute.ReplicaContext | None:
    """The replica context of a strategy's `run` (not the default strategy's), else None."""
    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    return tf.distribute.get_replica_context()


def check_scope(variable: Any) -> None:
    """Refuses a memory used under a strategy that did not create its variables.

    Args:
        variable: one of the memory's variables (a Keras or tf.Variable).

    Raises:
        ValueError: under a strategy (its scope or its `run`) whose scope the
            variable was not created in.
    """
    if not tf.distribute.has_strategy():
        return
    strategy = tf.distribute.get_strategy()
    value = getattr(variable, "value", variable)
    if not strategy.extended.variable_created_in_scope(value):
        raise ValueError(
            f"Expected a memory built under the scope of the strategy it runs under "
            f"(with strategy.scope(): RecollectionMemory(...)). Received: a memory built "
            f"outside {type(strategy).__name__}'s scope, used inside it"
        )


def host_local(make: Callable[[], None]) -> None:
    """Runs make() outside any strategy's scope: the variables it makes are plain ones.

    Strategy scopes are per thread, so make() runs in a thread of its own when a
    strategy is in scope: the buffer is then one plain copy on each worker's host,
    written once per worker in cross-replica context and read by its replicas (a
    mirrored copy per replica would cost a broadcast of uint8 initial values that
    TensorFlow's collectives cannot send).
    """
    if not tf.distribute.has_strategy():
        make()
        return
    failure: list[BaseException] = []

    def target() -> None:
        try:
            make()
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target, name="recollect-host-variables")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def scatter(variable: Any, indices: tf.Tensor, updates: tf.Tensor) -> None:
    """`variable[indices] = updates` on every copy of a mirrored variable (or the one)."""
    value = getattr(variable, "value", variable)
    if isinstance(value, tf.distribute.DistributedValues):
        tf.distribute.get_strategy().extended.update(
            value, lambda v, i, u: v.scatter_nd_update(i, u), args=(indices, updates), group=False
        )
        return
    value.scatter_nd_update(indices, updates)


def _own_part(
    context: tf.distribute.ReplicaContext, joined: tf.Tensor, sizes: tf.Tensor
) -> tf.Tensor:
    """This replica's rows of what every replica's requests gave, in replica order."""
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    offset = tf.reduce_sum(sizes[:replica])
    return joined[offset : offset + sizes[replica]]


def _all_gather(context: tf.distribute.ReplicaContext, value: tf.Tensor) -> tf.Tensor:
    """Every replica's value joined along axis 0; small integers travel as int32."""
    if value.dtype in (tf.float16, tf.float32, tf.float64, tf.int32, tf.int64):
        return context.all_gather(value, axis=0)
    return tf.cast(context.all_gather(tf.cast(value, tf.int32), axis=0), value.dtype)


def _local(strategy: tf.distribute.Strategy, value: Any) -> list[tf.Tensor]:
    return list(strategy.experimental_local_results(value))


def write(
    context: tf.distribute.ReplicaContext,
    write_all: Callable[[Mapping[str, tf.Tensor]], tf.Tensor],
    stored: Mapping[str, tf.Tensor],
) -> tf.Tensor:
    """Writes every replica's items at once, in replica order; returns this replica's rows.

    Args:
        context: the replica context.
        write_all: the buffer's write (cross-replica): fields [sum B_i, ...] -> rows.
        stored: this replica's fields, [B_i, ...] each.

    Returns:
        int64 [B_i]: the row each of this replica's items went to (-1: dropped).
    """
    # Every replica's items, in replica order, on every replica (across workers too);
    # then each worker writes them once into its copies.
    sizes = context.all_gather(tf.shape(next(iter(stored.values())))[:1], axis=0)
    gathered = {name: _all_gather(context, value) for name, value in stored.items()}

    def merge(strategy: tf.distribute.Strategy, items: Mapping[str, Any]) -> tf.Tensor:
        return write_all({name: _local(strategy, value)[0] for name, value in items.items()})

    rows = context.merge_call(merge, args=(gathered,))
    return _own_part(context, rows, sizes)


def draw_rows(
    context: tf.distribute.ReplicaContext,
    draw: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    n: tf.Tensor,
    task: tf.Tensor,
) -> tf.Tensor:
    """One draw of every replica's requests together; returns this replica's rows.

    Args:
        context: the replica context.
        draw: (n int32 [], task int32 []) -> rows int64 [n] (cross-replica).
        n: int32 [], this replica's request.
        task: int32 [], the task drawn from (-1: any); the same on every replica.

    Returns:
        int64 [n]: this replica's rows.
    """
    counts = context.all_gather(tf.reshape(n, [1]), axis=0)
    tasks = context.all_gather(tf.reshape(task, [1]), axis=0)
    same_task = tf.debugging.assert_equal(
        tasks, tf.fill(tf.shape(tasks), tasks[0]), message="recall: every replica's task alike"
    )
    with tf.control_dependencies([same_task]):
        total = tf.reduce_sum(counts)

    def merge(strategy: tf.distribute.Strategy, total: Any, task: Any) -> tf.Tensor:
        return draw(_local(strategy, total)[0], _local(strategy, task)[0])

    rows = context.merge_call(merge, args=(total, tasks[0]))
    return _own_part(context, rows, counts)


def loss_weight(context: tf.distribute.ReplicaContext, batch: tf.Tensor) -> tf.Tensor:
    """float32 []: B_i / sum B_j, so that summed gradients are those of the global mean."""
    local = tf.cast(batch, tf.float32)
    return local / context.all_reduce(tf.distribute.ReduceOp.SUM, local)


def assign(
    context: tf.distribute.ReplicaContext,
    variables: Sequence[Any],
    values: Sequence[tf.Tensor],
) -> None:
    """Assigns values (identical on every replica) to mirrored variables, from a replica."""

    def merge(strategy: tf.distribute.Strategy, new: Sequence[Any]) -> None:
        for variable, value in zip(variables, new, strict=True):
            strategy.extended.update(
                getattr(variable, "value", variable),
                lambda v, x: v.assign(x),
                args=(value,),
                group=False,
            )

    context.merge_call(merge, args=(list(values),))


def replica_seed(seed: tf.Tensor) -> tf.Tensor:
    """int64 [2]: a stateless seed, folded with the replica id inside a replica function.

    Each replica then draws its own noise, as it would for its own rows; outside a
    strategy's `run` the seed is returned as it is.
    """
    context = replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return seed
    replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
    return tf.random.experimental.stateless_fold_in(seed, replica)
