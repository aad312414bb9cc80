"""The frozen settings of a distillation run, checked when they are made.

Where this sits: `runners/distill.py` builds a `DistillConfig` from flags (or a test
builds one directly) and passes it to `agents.distill.run`; `methods()` lists what
each seed trains, in order.

```
DistillConfig
  data_dir, seeds                                   MNIST (recollect.datasets), run seeds
  teacher, teacher_sha256, teacher_epochs           LeNet trained here, or a saved .keras file
  students                                          networks.STUDENTS: cnn (Table 7), mlp (Table 8)
  compressions, num_categories, codec*              one recollection memory per total compression
  baselines, subset_percents                        real, real_teacher, subsets, codes
  samplers, sampler_k, sampler_n                    samplers.SAMPLERS (Table 9, Algorithm 3)
  episodes, batch_size, learning_rate               the student's schedule and test points
  fit_batch_size, eval_batch_size                   how the teacher and codecs train; evaluation
```
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from agents.distill import networks, samplers
from agents.experiment.settings import check, is_int, is_number
from agents.stores.codecs import check_codec_settings
from recollect.datasets.errors import file_sha256

BASELINES = ("real", "real_teacher", "subsets", "codes")


@dataclasses.dataclass(frozen=True)
class Method:
    """One way of feeding the student: where its inputs come from and who labels them.

    Attributes:
        name: the key in results: the student, the source and, for sampled
            sources, the sampler ("cnn/real", "cnn/subset_10%",
            "mlp/recollections_10x/active_diverse", ...).
        source: real | subset | recollections | codes (`agents.distill.sources`).
        targets: labels (the true labels) or teacher (the teacher's outputs).
        amount: the subset's percent, or the total compression; None for real.
        sampled: whether `sampler` picks the inputs (generative sources); real
            inputs are drawn uniformly, as in the paper's Table 9.
        student: the student network's name (`networks.STUDENTS`).
        sampler: the sampler's name (`samplers.SAMPLERS`); uniform when not sampled.
    """

    name: str
    source: str
    targets: str
    amount: float | None = None
    sampled: bool = False
    student: str = "cnn"
    sampler: str = "uniform"


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """Everything a distillation run depends on; invalid values raise ValueError here.

    Attributes:
        data_dir: data root holding mnist/ (None: $RECOLLECT_DATA_DIR, else
            tensorflow_datasets).
        seeds: run seeds; each trains its own teacher, codecs and students.
        teacher: a saved Keras teacher (.keras, float [B, 28, 28, 1] in [0, 1] to
            10 logits); None: a LeNet trained here for teacher_epochs.
        teacher_sha256: the sha256 the teacher file must have; None: the file's
            own, read when the config is made (config.json records it).
        teacher_epochs: epochs of the LeNet teacher trained here.
        students: the students' networks, among cnn (the teacher's LeNet) and
            mlp; each is trained with every method, from its own initial weights.
        compressions: total compressions of the training set, codes plus the
            codec's float32 parameters (the paper's Table 7: 10, 50, 100); each
            gets the largest code shape that fits (`recollect.budget`).
        num_categories: l of every code (the paper: 2); None: the best l in 2..256.
        codec: the autoencoder's architecture, mlp or conv.
        codec_units: hidden units (mlp) or filters (conv); None: c*l (mlp), c*l/4 (conv).
        codec_kernel_size: kernel size of the conv codec's layers.
        codec_noise: scale of the Gumbel noise in codec training.
        codec_learning_rate: Adam step size of the codec.
        codec_epochs: epochs each codec trains on the training images before
            their codes fill its memory.
        baselines: among real (true labels), real_teacher (real inputs, the
            teacher's outputs), subsets (random subsets of the training images,
            the teacher's outputs) and codes (random codes decoded by each codec,
            no buffer).
        subset_percents: the sizes of the random subsets, in percent.
        samplers: how inputs are picked from the memories, among uniform,
            active, active_diverse and dpp; each gives its own recollection
            methods, and code sampling uses the first (Figure 4 compares it with
            the buffer under the same sampler).
        sampler_k: k, candidates per example (active) or the diverse subset kept.
        sampler_n: n, the diverse samplers draw k * n candidates per example.
        episodes: test points, in examples trained on (an episode is one example).
        batch_size: examples per student step; every test point is a multiple.
        learning_rate: Adam step size of the student (the paper reports the
            better of 1e-3 and 1e-4).
        fit_batch_size: images per step when the teacher and the codecs train.
        eval_batch_size: test images per compiled evaluation call.
    """

    data_dir: str | None = None
    seeds: tuple[int, ...] = (0,)
    teacher: str | None = None
    teacher_sha256: str | None = None
    teacher_epochs: int = 10
    students: tuple[str, ...] = ("cnn",)
    compressions: tuple[float, ...] = (10.0, 50.0, 100.0)
    num_categories: int | None = 2
    codec: str = "conv"
    codec_units: int | None = None
    codec_kernel_size: int = 5
    codec_noise: float = 1.0
    codec_learning_rate: float = 1e-3
    codec_epochs: int = 10
    baselines: tuple[str, ...] = BASELINES
    subset_percents: tuple[float, ...] = (10.0, 2.0, 1.0)
    samplers: tuple[str, ...] = ("uniform",)
    sampler_k: int = 10
    sampler_n: int = 10
    episodes: tuple[int, ...] = (10, 100, 1000, 10000)
    batch_size: int = 1
    learning_rate: float = 1e-3
    fit_batch_size: int = 64
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        """Checks every setting; raises ValueError naming the flag to change."""
        lists = ("seeds", "students", "samplers", "compressions", "baselines")
        for name in (*lists, "subset_percents", "episodes"):
            value = getattr(self, name)
            check(
                isinstance(value, list | tuple) and len(value) > 0,
                f"--{name} a non-empty list",
                f"{name}={value!r}",
            )
            object.__setattr__(self, name, tuple(value))
        self._check_run()
        self._check_teacher()
        self._check_codec()
        self._check_student()
        self._check_methods()

    def _check_run(self) -> None:
        seeds = self.seeds
        check(
            all(is_int(s, 0) for s in seeds) and len(set(seeds)) == len(seeds),
            "distinct --seeds >= 0",
            f"seeds={seeds!r}",
        )
        for name in ("fit_batch_size", "eval_batch_size", "batch_size"):
            value = getattr(self, name)
            check(is_int(value, 1), f"--{name} >= 1", f"{name}={value!r}")

    def _check_teacher(self) -> None:
        epochs = self.teacher_epochs
        check(is_int(epochs, 1), "--teacher_epochs >= 1", f"teacher_epochs={epochs!r}")
        sha256 = self.teacher_sha256
        if self.teacher is None:
            check(
                sha256 is None,
                "--teacher with --teacher_sha256",
                f"teacher=None, teacher_sha256={sha256!r}",
            )
            return
        check(
            self.teacher.endswith(".keras") and os.path.isfile(self.teacher),
            "--teacher to name a saved .keras model",
            f"teacher={self.teacher!r}",
        )
        digest = file_sha256(self.teacher)
        check(
            sha256 in (None, digest),
            f"--teacher with sha256 {sha256} (the one recorded for this run)",
            f"{self.teacher} has sha256 {digest}",
        )
        object.__setattr__(self, "teacher_sha256", digest)

    def _check_codec(self) -> None:
        check_codec_settings(self)
        epochs = self.codec_epochs
        check(is_int(epochs, 1), "--codec_epochs >= 1", f"codec_epochs={epochs!r}")
        l = self.num_categories
        check(
            l is None or (is_int(l, 2) and l <= 256),
            "--num_categories in [2, 256] (or unset)",
            f"num_categories={l!r}",
        )
        ratios = self.compressions
        check(
            all(is_number(r) and r > 0 for r in ratios) and len(set(ratios)) == len(ratios),
            "distinct --compressions > 0",
            f"compressions={ratios!r}",
        )

    def _check_student(self) -> None:
        students = self.students
        check(
            all(s in networks.STUDENTS for s in students) and len(set(students)) == len(students),
            f"distinct --students among {list(networks.STUDENTS)}",
            f"students={students!r}",
        )
        names = self.samplers
        check(len(set(names)) == len(names), "distinct --samplers", f"samplers={names!r}")
        for name in names:
            samplers.build_sampler(name, k=self.sampler_k, n=self.sampler_n)
        rate = self.learning_rate
        check(is_number(rate) and rate > 0, "--learning_rate > 0", f"learning_rate={rate!r}")
        episodes, batch = self.episodes, self.batch_size
        check(
            all(is_int(e, 1) and e % batch == 0 for e in episodes)
            and list(episodes) == sorted(set(episodes)),
            f"increasing --episodes, each a multiple of --batch_size={batch}",
            f"episodes={episodes!r}",
        )

    def _check_methods(self) -> None:
        unknown = [b for b in self.baselines if b not in BASELINES]
        check(
            not unknown and len(set(self.baselines)) == len(self.baselines),
            f"distinct --baselines among {list(BASELINES)}",
            f"baselines={self.baselines!r}",
        )
        percents = self.subset_percents
        check(
            all(is_number(p) and 0 < p <= 100 for p in percents)
            and len(set(percents)) == len(percents),
            "distinct --subset_percents in (0, 100]",
            f"subset_percents={percents!r}",
        )

    def methods(self) -> tuple[Method, ...]:
        """What each seed trains, in order: per student, baselines, then per compression.

        Per compression, recollections under each sampler, then code sampling under
        the first sampler.
        """
        return tuple(m for student in self.students for m in self._student_methods(student))

    def _student_methods(self, student: str) -> list[Method]:
        chosen = set(self.baselines)
        out = []
        if "real" in chosen:
            out.append(Method(f"{student}/real", "real", "labels", student=student))
        if "real_teacher" in chosen:
            out.append(Method(f"{student}/real_teacher", "real", "teacher", student=student))
        if "subsets" in chosen:
            out += [
                Method(f"{student}/subset_{p:g}%", "subset", "teacher", p, student=student)
                for p in self.subset_percents
            ]
        for ratio in self.compressions:
            for sampler in self.samplers:
                name = f"{student}/recollections_{ratio:g}x/{sampler}"
                out.append(Method(name, "recollections", "teacher", ratio, True, student, sampler))
            if "codes" in chosen:
                name = f"{student}/codes_{ratio:g}x/{self.samplers[0]}"
                out.append(Method(name, "codes", "teacher", ratio, True, student, self.samplers[0]))
        return out

    def to_dict(self) -> dict:
        """A JSON-ready dict; `from_dict` reads it back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DistillConfig:
        """The config a `to_dict` result describes."""
        return cls(**values)
