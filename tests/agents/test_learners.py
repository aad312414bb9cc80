"""Each learner's behaviour, checked where it would fail if the behaviour were gone."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from agents.gem_projection import project_gradient
from agents.learners import (
    LEARNERS,
    EwcConfig,
    EwcLearner,
    GemConfig,
    GemLearner,
    IcarlConfig,
    IcarlLearner,
    LwfConfig,
    LwfLearner,
    OnlineConfig,
    OnlineLearner,
    ReplayConfig,
    ReplayLearner,
)
from agents.learners import icarl as icarl_module
from agents.stores import RealStore
from recollect import ReservoirPolicy, TaskRingPolicy

INPUT = (2, 2, 1)
CLASSES = 3


def linear_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input(INPUT), keras.layers.Flatten(), keras.layers.Dense(CLASSES)]
    )


def data(n, seed=0, task=0):
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (n, *INPUT)) / 255.0).astype(np.float32)
    y = rng.integers(0, CLASSES, n).astype(np.int32)
    return x, y


def real_store(capacity=8, policy=None, num_tasks=2):
    return RealStore(
        capacity=capacity,
        input_shape=INPUT,
        num_classes=CLASSES,
        num_tasks=num_tasks,
        policy=policy or ReservoirPolicy(),
        seed=0,
    )


def test_registry_pairs_each_learner_with_its_config():
    for name, learner_class in LEARNERS.items():
        assert learner_class.config_class.__name__.lower().startswith(name.replace("_", ""))
    assert not OnlineLearner.needs_store and ReplayLearner.needs_store
    assert isinstance(GemLearner.write_policy(num_tasks=3, capacity=6), TaskRingPolicy)
    assert isinstance(ReplayLearner.write_policy(num_tasks=3, capacity=6), ReservoirPolicy)
    with pytest.raises(ValueError, match="one item per task"):
        GemLearner.write_policy(num_tasks=3, capacity=2)


@pytest.mark.parametrize(
    ("config_class", "values", "message"),
    [
        (OnlineConfig, {"learning_rate": 0}, "--learning_rate"),
        (OnlineConfig, {"optimizer": "rmsprop"}, "--optimizer"),
        (ReplayConfig, {"replay_batch_size": 0}, "--replay_batch_size"),
        (GemConfig, {"gem_memories_per_task": 0}, "--gem_memories_per_task"),
        (EwcConfig, {"ewc_samples": 0}, "--ewc_samples"),
        (EwcConfig, {"ewc_fisher": "exact"}, "--ewc_fisher among"),
        (LwfConfig, {"lwf_temperature": 0}, "--lwf_temperature"),
        (OnlineConfig, {"steps_per_batch": 0}, "--steps_per_batch >= 1"),
        (ReplayConfig, {"steps_per_batch": -1}, "--steps_per_batch >= 1"),
        (EwcConfig, {"steps_per_batch": 1.5}, "--steps_per_batch >= 1"),
        (GemConfig, {"steps_per_batch": 2, "jit_compile": True}, "--steps_per_batch=1 with --jit"),
    ],
)
def test_configs_refuse_bad_values_on_construction(config_class, values, message):
    with pytest.raises(ValueError, match=message):
        config_class(**values)


def test_a_learner_refuses_another_learners_config_or_a_missing_store():
    with pytest.raises(ValueError, match="OnlineConfig"):
        OnlineLearner(linear_model(), config=EwcConfig())
    with pytest.raises(ValueError, match="episodic store"):
        ReplayLearner(linear_model(), config=ReplayConfig())


def spy_on_model_step(learner):
    """Records the (x, y, tasks) of every model step run inside the compiled step."""
    seen = []
    step = learner.model_step

    def record(x, y, tasks):
        def keep(*values):
            seen.append([v.numpy() for v in values])
            return 0

        done = tf.py_function(keep, [x, y, tasks], tf.int32)
        with tf.control_dependencies([done]):
            return step(x, y, tasks)

    learner.model_step = record  # before the first call traces the step
    return seen


def test_replay_step_trains_on_new_and_recalled_items():
    store = real_store(capacity=16)
    learner = ReplayLearner(linear_model(), config=ReplayConfig(replay_batch_size=4), store=store)
    stored_x, stored_y = data(6, seed=1)
    store.observe(stored_x, stored_y, 0)
    seen = spy_on_model_step(learner)
    x, y = data(3, seed=2)
    learner.train_step(x, y, 1)
    x_step, y_step, tasks_step = seen[0]
    assert len(seen) == 1 and len(x_step) == 3 + 4
    np.testing.assert_array_equal(x_step[:3], x)
    for xi, yi in zip(x_step[3:], y_step[3:], strict=True):  # each a stored item (8-bit)
        close = np.all(np.abs(stored_x - xi) <= 1e-6, axis=tuple(range(1, stored_x.ndim)))
        assert np.any(close & (stored_y == yi))
    np.testing.assert_array_equal(tasks_step, [1, 1, 1, 0, 0, 0, 0])
    assert int(store.size()) == 6 + 3  # and the new batch was observed after the step


def test_replay_steps_each_recall_a_fresh_batch_and_observe_once():
    store = real_store(capacity=16)
    config = ReplayConfig(replay_batch_size=4, steps_per_batch=3)
    learner = ReplayLearner(linear_model(), config=config, store=store)
    stored_x, stored_y = data(6, seed=1)
    store.observe(stored_x, stored_y, 0)
    seen = spy_on_model_step(learner)
    x, y = data(3, seed=2)
    learner.train_step(x, y, 1)
    assert len(seen) == 3 and learner.optimizer.iterations.numpy() == 3
    for x_step, _, tasks_step in seen:
        np.testing.assert_array_equal(x_step[:3], x)
        np.testing.assert_array_equal(tasks_step, [1, 1, 1, 0, 0, 0, 0])
    assert len({x_step[3:].tobytes() for x_step, _, _ in seen}) == 3  # three distinct recalls
    assert int(store.size()) == 6 + 3 and int(store.buffer.num_seen) == 6 + 3
    for batch in range(4):
        learner.train_step(*data(3, seed=3 + batch), 1)
    assert int(store.size()) == 16 and int(store.buffer.num_seen) == 6 + 3 * 5
    assert learner.optimizer.iterations.numpy() == 3 * 5
    assert learner._train.experimental_get_tracing_count() == 1


def test_replay_with_an_empty_store_trains_on_the_new_batch_only():
    store = real_store()
    learner = ReplayLearner(linear_model(), config=ReplayConfig(), store=store)
    seen = spy_on_model_step(learner)
    learner.train_step(*data(3), 0)
    learner.train_step(*data(2, seed=1), 0)  # the same compiled step, now with a store
    assert [len(x) for x, _, _ in seen] == [3, 2 + 10] and int(store.size()) == 5


def gem_learner(memories_per_task=None):
    store = real_store(capacity=4, policy=TaskRingPolicy(num_tasks=2))
    config = GemConfig(memory_strength=0.0, gem_memories_per_task=memories_per_task)
    return GemLearner(linear_model(), config=config, store=store), store


def test_gem_projects_exactly_when_a_memory_gradient_disagrees():
    size = None
    for case, violated in (("agree", False), ("disagree", True)):
        learner, store = gem_learner()
        store.observe(*data(2), 0)
        size = sum(learner._sizes)
        g = np.zeros(size, np.float32)
        g[0] = 1.0
        memories = np.zeros((1, size), np.float32)
        memories[0, 0] = 2.0 if case == "agree" else -1.0
        learner.task_gradients = lambda *args, m=memories: tf.constant(m)  # before tracing
        learner._gradient = lambda *args, g=g: (tf.constant(g), tf.constant(0.0))
        before = [v.numpy().copy() for v in learner.model.trainable_variables]
        learner.train_step(*data(2, seed=1), 1)
        assert learner.num_projections == int(violated), case
        moved = (
            learner.model.trainable_variables[0].numpy().reshape(-1)[0] - before[0].reshape(-1)[0]
        )
        assert moved < 0 if not violated else True  # plain SGD along g when nothing conflicts
    disagree = np.zeros((1, size), np.float32)
    disagree[0, 0], disagree[0, 1] = -1.0, 1.0
    learner, _ = gem_learner()
    projected = learner.project(g, disagree)
    assert learner.num_projections == 1
    np.testing.assert_allclose(
        projected, project_gradient(g, disagree, margin=0.0, ridge=1e-3), rtol=1e-6
    )
    # The ridge (1e-3) leaves a violation of its own size; without projection it is -1.
    assert float((disagree @ projected)[0]) >= -1e-3 > float((disagree @ g)[0])


@pytest.mark.parametrize("violated", [False, True])
def test_gem_takes_its_steps_in_one_call_projecting_each_in_conflict(violated):
    store = real_store(capacity=4, policy=TaskRingPolicy(num_tasks=2))
    config = GemConfig(memory_strength=0.0, steps_per_batch=3)
    learner = GemLearner(linear_model(), config=config, store=store)
    store.observe(*data(2), 0)
    size = sum(learner._sizes)
    g = np.zeros(size, np.float32)
    g[0], g[1] = 1.0, 0.5
    memories = np.zeros((1, size), np.float32)
    memories[0, 0], memories[0, 1] = (-1.0, 1.0) if violated else (2.0, 0.0)
    learner.task_gradients = lambda *args: tf.constant(memories)  # before tracing
    learner._gradient = lambda *args: (tf.constant(g), tf.constant(0.0))
    before = learner.model.trainable_variables[0].numpy().reshape(-1)[:2].copy()
    learner.train_step(*data(2, seed=1), 1)
    assert learner.optimizer.iterations.numpy() == 3
    assert learner.num_projections == (3 if violated else 0)  # two in the graph, one after
    direction = project_gradient(g, memories, margin=0.0, ridge=1e-3) if violated else g
    moved = learner.model.trainable_variables[0].numpy().reshape(-1)[:2] - before
    np.testing.assert_allclose(moved, -3 * 0.01 * direction[:2], rtol=1e-5)
    assert int(store.task_size(1)) == 2  # observed once
    assert learner._train.experimental_get_tracing_count() == 1


def test_gem_draws_fresh_memories_for_every_step():
    store = real_store(capacity=4, policy=TaskRingPolicy(num_tasks=2))
    config = GemConfig(gem_memories_per_task=1, steps_per_batch=3)
    learner = GemLearner(linear_model(), config=config, store=store)
    store.observe(*data(2), 0)
    learner.train_step(*data(2, seed=1), 1)
    assert learner.draws.numpy()[1] == 3 and learner.optimizer.iterations.numpy() == 3


def test_gem_reads_every_memory_of_each_earlier_task():
    learner, store = gem_learner()
    store.observe(*data(2, seed=3), 0)
    past, rows = learner.memory_rows(tf.constant(1))
    assert past.numpy().tolist() == [0]
    np.testing.assert_array_equal(rows.numpy(), [0, 1])  # task 0's ring: rows 0 and 1
    assert learner.memory_rows(tf.constant(0))[1].shape == (0,)  # no earlier task
    drawn, _ = gem_learner(memories_per_task=1)
    drawn.store.observe(*data(2, seed=3), 0)
    assert len(drawn.memory_rows(tf.constant(1))[1]) == 1


def test_gem_step_keeps_memories_and_updates_the_model():
    learner, store = gem_learner()
    before = [v.numpy().copy() for v in learner.model.trainable_variables]
    learner.train_step(*data(2, seed=4), 0)
    loss = learner.train_step(*data(2, seed=5), 1)
    assert np.isfinite(loss)
    assert int(store.task_size(0)) == 2 and int(store.task_size(1)) == 2
    after = learner.model.trainable_variables
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after, strict=True))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_ewc_fisher_and_penalty_match_their_closed_forms():
    learner = EwcLearner(linear_model(), config=EwcConfig(ewc_lambda=3.0, ewc_samples=5))
    x, y = data(7, seed=6)
    kernel, bias = (v.numpy() for v in learner.model.trainable_variables)
    flat = x.reshape(len(x), -1)
    residual = softmax(flat @ kernel + bias) - np.eye(CLASSES)[y]  # dCE/dlogits
    fisher_kernel = np.mean(
        [np.square(np.outer(f, r)) for f, r in zip(flat[:5], residual[:5], strict=True)], axis=0
    )
    fisher_bias = np.mean(np.square(residual[:5]), axis=0)
    assert float(learner.extra_loss(x, None, None)) == 0.0  # no task finished yet
    learner.end_task(0, x, y)
    np.testing.assert_allclose(learner.sums["a"][0].numpy(), fisher_kernel, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(learner.sums["a"][1].numpy(), fisher_bias, rtol=1e-4, atol=1e-7)
    shift = [np.full_like(kernel, 0.1), np.full_like(bias, -0.2)]
    for variable, delta in zip(learner.model.trainable_variables, shift, strict=True):
        variable.assign_add(delta)
    expected = 0.5 * 3.0 * (np.sum(fisher_kernel * 0.01) + np.sum(fisher_bias * 0.04))
    assert float(learner.extra_loss(x, None, None)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("learner_class", "config_class"),
    [(OnlineLearner, OnlineConfig), (EwcLearner, EwcConfig), (LwfLearner, LwfConfig)],
)
def test_steps_per_batch_steps_in_one_call_equal_as_many_calls(learner_class, config_class):
    def make(steps):
        learner = learner_class(linear_model(), config=config_class(steps_per_batch=steps))
        x0, y0 = data(8, seed=9)
        for _ in range(3 // steps):  # three model steps on task 0 either way
            learner.train_step(x0, y0, 0)
        learner.end_task(0, x0, y0)  # EWC's and LwF's penalties now apply
        return learner

    assert config_class() == config_class(steps_per_batch=1)  # one step is the default
    once, thrice = make(1), make(3)
    x, y = data(5, seed=10)
    losses = [once.train_step(x, y, 1) for _ in range(3)]
    assert thrice.train_step(x, y, 1) == losses[0]  # the loss as the batch arrived
    assert thrice.optimizer.iterations.numpy() == 3 + 3
    for a, b in zip(once.model.weights, thrice.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # the same ops, in order
    assert thrice._train.experimental_get_tracing_count() == 1


def test_ewc_squared_mean_gradient_fisher_is_gems_and_its_penalty_has_no_half():
    config = EwcConfig(ewc_lambda=3.0, ewc_samples=5, ewc_fisher="squared_mean_gradient")
    learner = EwcLearner(linear_model(), config=config)
    x, y = data(7, seed=6)
    variables = learner.model.trainable_variables
    with tf.GradientTape() as tape:
        logits = learner.model(x[:5])
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y[:5], logits))
    expected = [np.square(g.numpy()) for g in tape.gradient(loss, variables)]
    kernel, bias = (v.numpy() for v in variables)
    flat = x[:5].reshape(5, -1)
    residual = softmax(flat @ kernel + bias) - np.eye(CLASSES)[y[:5]]  # dCE/dlogits
    np.testing.assert_allclose(expected[0], np.square(flat.T @ residual / 5), rtol=1e-4)
    learner.end_task(0, x, y)
    for a, fisher in zip(learner.sums["a"], expected, strict=True):
        np.testing.assert_allclose(a.numpy(), fisher, rtol=1e-5, atol=1e-9)
    shift = [np.full_like(kernel, 0.1), np.full_like(bias, -0.2)]
    for variable, delta in zip(variables, shift, strict=True):
        variable.assign_add(delta)
    penalty = 3.0 * (np.sum(expected[0] * 0.01) + np.sum(expected[1] * 0.04))  # no 1/2
    assert float(learner.extra_loss(x, None, None)) == pytest.approx(penalty, rel=1e-4)


def test_lwf_loss_is_zero_before_the_first_task_ends():
    learner = LwfLearner(linear_model(), config=LwfConfig())
    x, y = data(6, seed=7)
    logits = learner.model(x)
    assert float(learner.extra_loss(x, None, logits)) == 0.0
    for _ in range(3):
        learner.train_step(x, y, 0)
    assert float(learner.extra_loss(x, None, learner.model(x))) == 0.0
    learner.end_task(0, x, y)
    assert float(learner.extra_loss(x, None, learner.model(x))) == pytest.approx(0.0, abs=1e-6)
    kernel = learner.model.trainable_variables[0]
    kernel.assign_add(np.random.default_rng(0).normal(size=kernel.shape).astype(np.float32))
    assert float(learner.extra_loss(x, None, learner.model(x))) > 1e-4


def test_footprints_count_what_each_learner_keeps():
    model = linear_model()
    params = 4 * 3 + 3
    assert OnlineLearner(model, config=OnlineConfig()).footprint().kind == "none"
    ewc = EwcLearner(linear_model(), config=EwcConfig()).footprint()
    assert ewc.state_bytes == 3 * 4 * params and ewc.raw_example_bytes == 4
    assert ewc.incremental_storage_raw_examples == pytest.approx(3 * 4 * params / 4)
    lwf = LwfLearner(linear_model(), config=LwfConfig()).footprint()
    assert lwf.state_bytes == 4 * params + 4 * CLASSES
    store = real_store(capacity=8)
    replay = ReplayLearner(linear_model(), config=ReplayConfig(), store=store).footprint()
    assert replay == store.footprint()


def test_a_checkpoint_of_a_learner_holds_its_store_and_state(tmp_path):
    def make():
        store = real_store()
        return EwcLearner(linear_model(), config=EwcConfig(), store=store), store

    learner, store = make()
    x, y = data(5, seed=8)
    store.observe(x, y, 1)
    learner.train_step(x, y, 0)
    learner.end_task(0, x, y)
    path = tf.train.Checkpoint(learner=learner).write(str(tmp_path / "ckpt"))
    fresh, fresh_store = make()
    tf.train.Checkpoint(learner=fresh).read(path).assert_consumed()
    for a, b in zip(learner.model.weights, fresh.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(learner.sums["a"][0].numpy(), fresh.sums["a"][0].numpy())
    assert fresh.optimizer.iterations.numpy() == 1
    assert fresh_store.size() == 5
    np.testing.assert_array_equal(fresh_store.read_rows(np.arange(5))[0].numpy(), x)


# ----------------------------------------------------------------------- iCaRL
def icarl(capacity=6, num_tasks=2, task_masks=None, strength=1.0):
    config = IcarlConfig(learning_rate=0.1, replay_batch_size=4, icarl_strength=strength)
    store = real_store(capacity, TaskRingPolicy(num_tasks), num_tasks=num_tasks)
    return IcarlLearner(linear_model(), config=config, store=store, task_masks=task_masks)


def test_herding_picks_distinct_rows_whose_running_mean_tracks_the_class_mean():
    features = np.array([[0.0, 0.0], [10.0, 0.0], [-10.0, 0.0], [1.0, 0.0], [0.0, 9.0]])
    order = icarl_module.herding(features, 3)
    mean = features.mean(axis=0)  # [0.2, 1.8]
    assert order[0] == 0  # the row nearest the mean comes first
    assert len(set(order.tolist())) == 3
    greedy = [np.linalg.norm(mean - features[order[: k + 1]].mean(axis=0)) for k in range(3)]
    first_three = np.linalg.norm(mean - features[:3].mean(axis=0))
    assert greedy[-1] < first_three  # better than taking rows in order
    assert len(icarl_module.herding(features, 9)) == len(features)  # at most n rows


def test_icarl_writes_a_class_balanced_share_per_task_at_its_end_only():
    learner = icarl(capacity=6)
    x, y = data(30, seed=1)
    for start in range(0, 30, 10):
        learner.train_step(x[start : start + 10], y[start : start + 10], 0)
    assert int(learner.store.size()) == 0  # nothing is stored during a task
    learner.end_task(0, x, y)
    stored_x, stored_y, stored_task = learner.store.read_rows(np.arange(3))
    assert sorted(stored_y.numpy().tolist()) == [0, 1, 2]  # share 3, one per class
    assert set(stored_task.numpy().tolist()) == {0}
    for row, label in zip(stored_x.numpy(), stored_y.numpy(), strict=True):
        assert any(np.allclose(row, x[i], atol=1 / 255) for i in np.flatnonzero(y == label))
    np.testing.assert_array_equal(learner.has_mean.numpy(), [1.0, 1.0, 1.0])
    # each class mean is its exemplar's normalised feature (one exemplar a class)
    features = learner.features(stored_x.numpy())
    np.testing.assert_allclose(learner.class_means.numpy()[stored_y.numpy()], features, atol=1e-5)


def test_icarl_predicts_the_nearest_class_mean_not_the_argmax():
    learner = icarl()
    x, y = data(12, seed=2)
    learner.end_task(0, x, y)
    logits = learner.model(x).numpy()
    features = logits / np.linalg.norm(logits, axis=1, keepdims=True)
    # means that send every input to the class its logits rank last
    means = np.eye(CLASSES, dtype=np.float32)
    learner.class_means.assign(-means)
    expected = np.argmax(-((features[:, None, :] + means[None]) ** 2).sum(-1), axis=1)
    predicted = learner._predict_graph(tf.constant(x), tf.constant(0)).numpy()
    np.testing.assert_array_equal(predicted, expected)
    assert np.any(predicted != logits.argmax(axis=1))
    assert learner.accuracy(x, y, 0) == pytest.approx(np.mean(expected == y))


def test_icarl_falls_back_to_the_masked_argmax_for_a_task_without_exemplars():
    masks = np.array([[1, 1, 0], [0, 0, 1]], np.float32)
    learner = icarl(task_masks=masks)
    x, y = data(12, seed=3)
    y = np.where(y == 2, 0, y).astype(np.int32)  # task 0 holds classes 0 and 1
    learner.end_task(0, x, y)
    assert learner.has_mean.numpy().tolist() == [1.0, 1.0, 0.0]
    on_task_1 = learner._predict_graph(tf.constant(x), tf.constant(1)).numpy()
    np.testing.assert_array_equal(on_task_1, np.full(len(x), 2))  # its only class
    on_task_0 = learner._predict_graph(tf.constant(x), tf.constant(0)).numpy()
    assert set(on_task_0.tolist()) <= {0, 1}


def test_icarl_distils_towards_the_model_of_the_last_task_end():
    learner = icarl()
    x, y = data(12, seed=4)
    learner.end_task(0, x, y)
    x_hat, _, tasks_hat = learner.store.read_rows(np.arange(3))
    assert float(learner.distillation(x_hat, tasks_hat)) == pytest.approx(0.0, abs=1e-6)
    before = [v.numpy() for v in learner.teacher.weights]
    for _ in range(5):
        learner.train_step(x[:4], y[:4], 1)
    assert float(learner.distillation(x_hat, tasks_hat)) > 1e-4
    for kept, now in zip(before, learner.teacher.weights, strict=True):
        np.testing.assert_array_equal(kept, now.numpy())  # the teacher stays put in a task
    # with the term switched off, the same steps move further from the teacher
    free = icarl(strength=0.0)
    free.end_task(0, x, y)
    for _ in range(5):
        free.train_step(x[:4], y[:4], 1)
    assert float(free.distillation(x_hat, tasks_hat)) > float(
        learner.distillation(x_hat, tasks_hat)
    )


def test_icarl_footprint_counts_the_exemplars_and_the_teacher():
    learner = icarl(capacity=6)
    footprint = learner.footprint()
    params = INPUT[0] * INPUT[1] * CLASSES + CLASSES
    assert footprint.capacity == 6
    assert footprint.state_bytes == 4 * params + 4 * (CLASSES * CLASSES + CLASSES)


def test_icarl_refuses_a_store_without_a_ring_per_task():
    config = IcarlConfig(learning_rate=0.1, replay_batch_size=4)
    learner = IcarlLearner(linear_model(), config=config, store=real_store(6))  # reservoir
    x, y = data(12, seed=5)
    with pytest.raises(ValueError, match="TaskRingPolicy"):
        learner.end_task(0, x, y)
    assert int(learner.store.size()) == 0 and float(learner.has_teacher) == 0.0  # nothing changed
