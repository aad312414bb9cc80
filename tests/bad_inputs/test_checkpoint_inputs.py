"""Damaged and mismatched checkpoints and .keras files; bad prefixes to save."""

import contextlib
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from recollect import RecollectionMemory, TaskRingPolicy
from tests.bad_inputs.harness import (
    Case,
    Subject,
    area,
    cached,
    check,
    conv_codec,
    delete,
    empty,
    files_state,
    flip_byte,
    images,
    memory_state,
    new_memory,
    params,
    partly_full,
    scratch,
    transitions_memory,
    truncate,
)

DATA_FILE = ".data-00000-of-00001"


# ----------------------------------------------------------------- restore
@cached
def saved_checkpoint() -> str:
    """A checkpoint of a memory that holds other items than the restore targets."""
    memory = new_memory(observed=12)
    memory.stabilize(images(4), num_steps=1)  # non-zero Adam slots and iterations
    return memory.save_checkpoint(str(scratch("ckpt") / "memory"))


def damaged_checkpoint(suffix: str, damage: Callable[[Path], None]) -> str:
    """A copy of the saved checkpoint with one of its files damaged."""
    source = Path(saved_checkpoint())
    prefix = scratch("ckpt") / f"{damage.__name__}{suffix.split('-')[0].replace('.', '_')}"
    for file in source.parent.glob(f"{source.name}.*"):  # .index, .data-*, any sidecar
        shutil.copyfile(file, f"{prefix}{file.name[len(source.name) :]}")
    damage(Path(f"{prefix}{suffix}"))
    return str(prefix)


@cached
def restore_target() -> RecollectionMemory:
    return new_memory(observed=7)


def restore_case(
    name: str,
    *,
    prefix: Callable[[], str] = saved_checkpoint,
    target: Callable[[], RecollectionMemory] = restore_target,
) -> Case:
    """restore_checkpoint(prefix) into target; state: the target and the checkpoints."""

    def setup() -> Subject:
        memory, path = target(), prefix()
        return Subject(
            (memory, path), lambda: {**memory_state(memory), **files_state(scratch("ckpt"))}
        )

    return Case(name, setup, lambda t: t[0].restore_checkpoint(t[1]))


def damaged(suffix: str, damage: Callable[[Path], None]) -> Callable[[], str]:
    return lambda: damaged_checkpoint(suffix, damage)


RESTORE = [
    restore_case("from a missing prefix", prefix=lambda: str(scratch("ckpt") / "missing")),
    restore_case(
        "from the checkpoint's folder, not its prefix", prefix=lambda: str(scratch("ckpt"))
    ),
    restore_case("from a truncated .data file", prefix=damaged(DATA_FILE, truncate)),
    restore_case("from a bit-flipped .data file", prefix=damaged(DATA_FILE, flip_byte)),
    restore_case("from an empty .data file", prefix=damaged(DATA_FILE, empty)),
    restore_case("without its .data file", prefix=damaged(DATA_FILE, delete)),
    restore_case("from a truncated .index file", prefix=damaged(".index", truncate)),
    restore_case("from a bit-flipped .index file", prefix=damaged(".index", flip_byte)),
    restore_case("from an empty .index file", prefix=damaged(".index", empty)),
    restore_case("without its .memory.json", prefix=damaged(".memory.json", delete)),
    restore_case("from a truncated .memory.json", prefix=damaged(".memory.json", truncate)),
    restore_case("into num_classes=5", target=lambda: new_memory(observed=7, num_classes=5)),
    restore_case("into num_tasks=4", target=lambda: new_memory(observed=7, num_tasks=4)),
    restore_case("into capacity=21", target=lambda: new_memory(observed=7, capacity=21)),
    restore_case("into capacity=8", target=lambda: new_memory(observed=7, capacity=8)),
    restore_case(
        "into code shape 16x4", target=lambda: new_memory(conv_codec(num_latents=16), observed=7)
    ),
    restore_case(
        "into code shape 8x16", target=lambda: new_memory(conv_codec(num_categories=16), observed=7)
    ),
    restore_case(
        "into policy TaskRingPolicy(3)",
        target=lambda: new_memory(observed=7, policy=TaskRingPolicy(3)),
    ),
    restore_case(
        "into an mlp codec on (8, 8, 1)",
        target=lambda: new_memory(conv_codec(architecture="mlp"), observed=7),
    ),
    restore_case(
        "into input shape (16, 16, 1)",
        target=lambda: new_memory(conv_codec(input_shape=(16, 16, 1)), observed=7),
    ),
    restore_case("into a transitions memory", target=transitions_memory),
]


# -------------------------------------------------------------------- save
def save_setup() -> Subject:
    """The partly full memory and a folder holding a regular file."""
    memory = partly_full().target
    folder = scratch("save")
    (folder / "a_file").write_bytes(b"not a folder")
    (folder / "cwd").mkdir(exist_ok=True)
    return Subject((memory, folder), lambda: {**memory_state(memory), **files_state(folder)})


def save_into_empty_prefix(memory: RecollectionMemory, folder: Path) -> str:
    with contextlib.chdir(folder / "cwd"):
        return memory.save_checkpoint("")


SAVE = area(
    save_setup,
    [
        ("under a regular file", lambda t: t[0].save_checkpoint(str(t[1] / "a_file" / "memory"))),
        ("save_checkpoint(None)", lambda t: t[0].save_checkpoint(None)),
        ("save_checkpoint(123)", lambda t: t[0].save_checkpoint(123)),
        ("save_checkpoint('') (an empty prefix)", lambda t: save_into_empty_prefix(*t)),
    ],
)


# --------------------------------------------------------------- .keras files
def rewrite_config(source: Path, target: Path, **changes: Any) -> None:
    """A copy of a .keras file whose config.json has some memory arguments changed."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"].update(changes)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@cached
def keras_files() -> Subject:
    """A saved .keras memory and damaged copies of it."""
    folder = scratch("keras")
    good = folder / "memory.keras"
    new_memory().save(str(good))
    for damage in (truncate, flip_byte, empty):
        shutil.copyfile(good, folder / f"{damage.__name__}.keras")
        damage(folder / f"{damage.__name__}.keras")
    (folder / "garbage.keras").write_bytes(np.random.default_rng(0).bytes(4096))
    shutil.copyfile(good, folder / "memory.zip")
    (folder / "a_folder.keras").mkdir(exist_ok=True)
    rewrite_config(good, folder / "capacity_0.keras", capacity=0)
    rewrite_config(good, folder / "capacity_21.keras", capacity=21)
    rewrite_config(good, folder / "unknown_arg.keras", bogus=1)
    return Subject(folder, lambda: files_state(folder))


def load_model(file: str) -> Callable[[Path], object]:
    return lambda folder: keras.models.load_model(folder / file)


LOAD_MODEL = area(
    keras_files,
    [
        ("a truncated .keras file", load_model("truncate.keras")),
        ("a bit-flipped .keras file", load_model("flip_byte.keras")),
        ("an empty .keras file", load_model("empty.keras")),
        ("a .keras file of random bytes", load_model("garbage.keras")),
        ("a missing .keras file", load_model("missing.keras")),
        ("a folder named x.keras", load_model("a_folder.keras")),
        ("config.json with capacity=0", load_model("capacity_0.keras")),
        ("config.json with capacity=21, weights of 20", load_model("capacity_21.keras")),
        ("config.json with an unknown argument", load_model("unknown_arg.keras")),
        ("a good .keras file named .zip", load_model("memory.zip")),
    ],
)


@pytest.mark.parametrize("case", params(RESTORE))
def test_restore_checkpoint_refuses(case: Case) -> None:
    """restore_checkpoint: the target memory and every checkpoint file unchanged."""
    check(case)


@pytest.mark.parametrize("case", params(SAVE))
def test_save_checkpoint_refuses(case: Case) -> None:
    """save_checkpoint to a bad prefix: the memory and the folder unchanged."""
    check(case)


@pytest.mark.parametrize("case", params(LOAD_MODEL))
def test_load_model_refuses(case: Case) -> None:
    """keras.models.load_model of damaged or mismatched .keras files: no file touched."""
    check(case)
