"""FLOPs of a Table 1 training step: the codec's and the predictive model's.

Where this sits: `benchmarks.speed` sets the rate a row reaches in training
against a matmul; this module counts what a step computes. 2 x multiply-adds of
the Conv2D, Conv2DTranspose and Dense layers; a training pass is 3 forward passes;
biases and activations not counted; how often each learner encodes, decodes and
trains in a step is `STEP_USES`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import keras

import recollect
from agents import continual, models
from agents.stores import STORES, codecs
from recollect import TaskRingPolicy

# MNIST-Rotations: one 28x28 grey image in, ten classes out.
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
TRAINING_PASSES = 3  # forward + gradient w.r.t. activations + gradient w.r.t. weights


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one example's forward pass through a model's weighted layers.

    Counts 2 x multiply-adds of every Conv2D, Conv2DTranspose and Dense layer,
    nested models included; biases, activations and weightless layers count 0.
    A transposed conv costs what the conv whose gradient it is costs: every input
    pixel meets every kernel tap once.

    Args:
        model: a built Keras model (functional or Sequential).

    Returns:
        int, FLOPs per example.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kernel = layer.kernel.shape  # [k, k, out, in]
            positions = _positions(layer.input.shape)
            total += 2 * positions * kernel[0] * kernel[1] * kernel[2] * kernel[3]
        elif isinstance(layer, keras.layers.Conv2D):
            kernel = layer.kernel.shape  # [k, k, in / groups, out]
            positions = _positions(layer.output.shape)
            total += 2 * positions * kernel[0] * kernel[1] * kernel[2] * kernel[3]
        elif isinstance(layer, keras.layers.Dense):
            kernel = layer.kernel.shape  # [in, out]
            total += 2 * _positions(layer.input.shape) * kernel[0] * kernel[1]
    return total


def _positions(shape: Sequence[int | None]) -> int:
    """Spatial positions of a [B, ..., C] shape (1 for [B, C])."""
    count = 1
    for size in shape[1:-1]:
        count *= int(size)
    return count


@dataclasses.dataclass(frozen=True)
class StepUse:
    """Images through each part in one training step (a mean over the run's tasks).

    Attributes:
        encoded: images through the codec's encoder (stored codes).
        decoded: images through the codec's decoder (recollections).
        codec_trained: images in the codec's training steps, summed over steps.
        model_trained: images in the model's gradient passes (incl. GEM's memories).
    """

    encoded: float = 0.0
    decoded: float = 0.0
    codec_trained: float = 0.0
    model_trained: float = 0.0


@dataclasses.dataclass(frozen=True)
class StepShape:
    """What a learner's step depends on.

    Attributes:
        batch_size: B, incoming examples per step.
        replay_batch_size: recalled items per batch.
        stabilize_steps: N, codec steps per incoming batch (0: one step on the
            incoming batch alone).
        num_tasks: tasks in the stream.
        memories_per_task: GEM's memories per earlier task in a step.
        codec: whether the store has a codec (recollections) or not (real storage).
    """

    batch_size: int
    replay_batch_size: int
    stabilize_steps: int
    num_tasks: int
    memories_per_task: int
    codec: bool = True


def _online_use(shape: StepShape) -> StepUse:
    return StepUse(model_trained=shape.batch_size)


def _replay_use(shape: StepShape) -> StepUse:
    """Recall max(1, N) batches, N codec steps on B + R, one model step on B + R."""
    b, r, n = shape.batch_size, shape.replay_batch_size, shape.stabilize_steps
    if not shape.codec:  # real storage
        return StepUse(model_trained=b + r)
    trained = n * (b + r) if n else b  # N = 0: one step on the incoming batch alone
    return StepUse(encoded=b, decoded=max(1, n) * r, codec_trained=trained, model_trained=b + r)


def _gem_use(shape: StepShape) -> StepUse:
    """As replay's codec work, plus every earlier task's memories, decoded and in G."""
    b, r, n = shape.batch_size, shape.replay_batch_size, shape.stabilize_steps
    memories = shape.memories_per_task * (shape.num_tasks - 1) / 2
    if not shape.codec:
        return StepUse(model_trained=b + memories)
    return StepUse(
        encoded=b,
        decoded=n * r + memories,
        codec_trained=n * (b + r) if n else b,
        model_trained=b + memories,
    )


STEP_USES: dict[str, Callable[[StepShape], StepUse]] = {
    "online": _online_use,
    "replay": _replay_use,
    "gem": _gem_use,
}


def step_flops(use: StepUse, *, encoder: int, decoder: int, model: int) -> dict[str, float]:
    """FLOPs of one training step from its use of the parts.

    Args:
        use: images through each part in the step.
        encoder: the encoder's forward FLOPs per image.
        decoder: the decoder's forward FLOPs per image.
        model: the predictive model's forward FLOPs per image.

    Returns:
        {"codec": FLOPs, "model": FLOPs} per step.
    """
    codec = use.encoded * encoder + use.decoded * decoder
    codec += TRAINING_PASSES * use.codec_trained * (encoder + decoder)
    return {"codec": float(codec), "model": float(TRAINING_PASSES * use.model_trained * model)}


def build_codec(config: continual.ContinualConfig) -> recollect.DiscreteAutoencoder:
    """The recollection store's codec for a config, built as the store builds it."""
    store_config = config.store_config
    plan = STORES["recollections"].plan(
        store_config, incremental_storage=config.incremental_storage, input_shape=INPUT_SHAPE
    )
    return codecs.build_codec(
        store_config,
        num_latents=plan.num_latents,
        num_categories=plan.num_categories,
        input_shape=INPUT_SHAPE,
        seed=0,
    )


def config_flops(config: continual.ContinualConfig, num_tasks: int) -> dict[str, float]:
    """Codec and model FLOPs per training step of a config's run (codec 0 without one)."""
    recollections = config.uses_store and config.storage == "recollections"
    learner_config = config.learner_config
    memories = 0
    if config.uses_store:
        capacity = (
            STORES[config.storage]
            .plan(
                config.store_config,
                incremental_storage=config.incremental_storage,
                input_shape=INPUT_SHAPE,
            )
            .capacity
        )
        share = TaskRingPolicy(num_tasks=num_tasks).share(capacity)
        per_task = getattr(learner_config, "gem_memories_per_task", None)
        memories = share if per_task is None else min(per_task, share)
    shape = StepShape(
        batch_size=config.batch_size,
        replay_batch_size=getattr(learner_config, "replay_batch_size", 0),
        stabilize_steps=config.store_config.stabilize_steps if recollections else 0,
        num_tasks=num_tasks,
        memories_per_task=memories,
        codec=recollections,
    )
    encoder = decoder = 0
    if recollections:
        codec = build_codec(config)
        encoder, decoder = forward_flops(codec.encoder), forward_flops(codec.decoder)
    model = models.build_model(config.model, INPUT_SHAPE, NUM_CLASSES, **config.model_options)
    use = STEP_USES[config.learner](shape)
    return step_flops(use, encoder=encoder, decoder=decoder, model=forward_flops(model))
