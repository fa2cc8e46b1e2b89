"""Which run a `train` call means: its work dir, and its config from a saved run or a preset plus overrides.

    request = TrainRequest(dataset="maps", steps=1000)
    config, workdir = resolve_run(request)

The policy lives here, not in the command line, so it is tested without argparse: the dataset
and the default work dir, how a saved config and a preset combine, the epochs -> lr decay rule,
and which fields a resume may not change (`RESUME_FIXED_FIELDS`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass

import tensorflow as tf

from tfpix2pix import config as config_lib, files, machine, workdir as workdir_lib
from tfpix2pix.data import datasets
from tfpix2pix.errors import UsageError

# A resume continues the saved run, so these must keep their saved values: they decide the data,
# the models and the objective; the data order, jitter, dropout masks and the lr schedule are
# functions of the seed and the batch size; and the optimizers' layout depends on the precision.
# The rest of `train` (the stop point, intervals, checkpoints kept, strategy, XLA) may change.
RESUME_FIXED_FIELDS = (
    "data.dataset", "data.data_dir", "data.a_dir", "data.b_dir", "data.direction", "data.image_size",
    "data.load_size", "data.flip",
    "model.generator", "model.base_filters", "model.norm", "model.dropout", "model.resnet_blocks",
    "model.discriminator_filters", "model.discriminator_layers",
    "loss.gan_mode", "loss.l1_weight",
    "train.batch_size", "train.seed", "train.precision",
)


# `--precision auto`: the run's precision chosen for the machine (`auto_precision`), then saved as such.
AUTO_PRECISION = "auto"
# bfloat16 pays off once convolutions dominate the step: measured on an AVX512_BF16 CPU (2026-12-02,
# docs/PERFORMANCE.md), 0.82x float32's speed at 32 px x 8 filters, 1.04x at 64 x 16, 1.30x at
# 128 x 32, 1.58x at the paper's 256 x 64. The smallest model given bfloat16, (image side, base
# filters); a model qualifies when side x filters reaches theirs.
BFLOAT16_MIN_SIZE = (128, 32)


def auto_precision(*, strategy: str = "default", image_size: int = 256, base_filters: int = 64,
                   facts: dict | None = None, gpus: int | None = None) -> tuple[str, str]:
    """(precision, why) for a model of this size on this machine: mixed_bfloat16 where only a CPU
    with native bfloat16 trains a model large enough to gain from it, else float32.

    bfloat16 is fast only on CPUs with AVX512_BF16 or AMX, and there only with TensorFlow's oneDNN
    kernels (`facts["onednn"]`, on by default on such CPUs); it is several times slower elsewhere
    (docs/PERFORMANCE.md). On small models its casts cost more than its faster convolutions gain
    (`BFLOAT16_MIN_SIZE`). GPUs and TPUs keep float32 until bfloat16 is measured there.
    """
    if facts is None and gpus is None:
        return _this_machine(strategy, image_size, base_filters)
    facts = machine.cpu_facts() if facts is None else facts
    gpus = len(tf.config.list_physical_devices("GPU")) if gpus is None else gpus
    if strategy == "tpu" or gpus:
        return "float32", f"{'a TPU' if strategy == 'tpu' else 'a GPU'} trains: float32 until bfloat16 is measured there"
    if not machine.has_native_bfloat16(facts):
        return "float32", "the CPU has no native bfloat16 (neither AVX512_BF16 nor AMX), where it is slower than float32"
    if facts.get("onednn") is False:
        return "float32", ("the CPU computes bfloat16 natively, but TensorFlow's oneDNN kernels are off "
                           "(TF_ENABLE_ONEDNN_OPTS=0), and without them bfloat16 is slower than float32")
    smallest_side, smallest_filters = BFLOAT16_MIN_SIZE
    if image_size * base_filters < smallest_side * smallest_filters:
        return "float32", (f"the CPU computes bfloat16 natively, but this model ({image_size} px, {base_filters} "
                           f"filters) is too small to gain from it: below {smallest_side} px x {smallest_filters} "
                           "filters its casts cost more than its faster convolutions save")
    return "mixed_bfloat16", f"the CPU computes bfloat16 natively ({', '.join(machine.bfloat16_flags(facts))})"


def auto_precision_for(config: config_lib.Config) -> tuple[str, str]:
    """`auto_precision` on this machine for the run `config` describes."""
    return auto_precision(strategy=config.train.strategy, image_size=config.data.image_size,
                          base_filters=config.model.base_filters)


def sets_precision(assignments) -> bool:
    """Whether `--set` assignments name train.precision (applied last, they win over --precision)."""
    return any(assignment.partition("=")[0].strip() == "train.precision" for assignment in assignments)


@functools.cache
def _this_machine(strategy: str, image_size: int, base_filters: int) -> tuple[str, str]:
    """`auto_precision` for this machine, worked out once per process (resolving and the log line both ask)."""
    return auto_precision(strategy=strategy, image_size=image_size, base_filters=base_filters,
                          facts=machine.this_machine(), gpus=len(tf.config.list_physical_devices("GPU")))


@dataclass(frozen=True)
class TrainRequest:
    """What the caller asked for; None (or False) means "not given": the saved run or the preset decides.

    Attributes mirror the `train` flags; `assignments` are `--set section.field=value` strings,
    applied last. `precision` may also be `AUTO_PRECISION` (the `train` command's default):
    `auto_precision`'s pick for a new run, the saved precision on resume.
    """

    dataset: str | None = None
    data_dir: str | None = None
    a_dir: str | None = None
    b_dir: str | None = None
    data_root: str | None = None
    direction: str | None = None
    skip_bad: bool = False
    workdir: str | None = None
    preset: str | None = None
    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    seed: int | None = None
    deterministic: bool = False
    strategy: str | None = None
    tpu: str | None = None
    precision: str | None = None
    jit: bool = False
    keep_checkpoints: int | None = None
    keep_every: int | None = None
    assignments: tuple[str, ...] = ()

    @property
    def custom_data(self) -> bool:
        return bool(self.data_dir or self.a_dir or self.b_dir)


def _dataset(request: TrainRequest) -> str | None:
    """The official dataset the request names (facades-sample when no data is given), or None for own data."""
    if request.dataset and request.custom_data:
        raise UsageError("give either --dataset or your own data (--data-dir, or --a-dir with --b-dir), not both")
    if request.dataset and request.dataset not in datasets.REGISTRY:
        raise UsageError(f"unknown dataset {request.dataset!r}; known: {', '.join(datasets.REGISTRY)}")
    return request.dataset or (None if request.custom_data else datasets.SAMPLE_NAME)


def default_workdir(request: TrainRequest) -> str:
    """`runs/<dataset>`, or `runs/<own data folder's name>`, unless the request names one.

    Every path of the request is checked first: one TensorFlow cannot open stops here.
    """
    for flag, path in (("--workdir", request.workdir), ("--data-dir", request.data_dir), ("--a-dir", request.a_dir),
                       ("--b-dir", request.b_dir), ("--data-root", request.data_root)):
        if path:
            files.check(path, flag)
    if request.workdir is not None:
        if not request.workdir.strip():
            raise UsageError(f"--workdir must name a folder, got {request.workdir!r}")
        return request.workdir
    name = _dataset(request) or os.path.basename(os.path.normpath(request.data_dir or request.a_dir or "custom"))
    return os.path.join("runs", name)


def resolve_config(saved: config_lib.Config | None, request: TrainRequest, *, workdir: str = "") -> config_lib.Config:
    """The config of the run: `saved` (a resume) or the preset, then the request's explicit values.

    Raises:
        UsageError: conflicting data flags, an unknown name or value, or a resume that would
            change one of `RESUME_FIXED_FIELDS` (the message lists each change).
    """
    dataset = _dataset(request)
    base = config_lib.preset(request.preset or (datasets.REGISTRY[dataset].preset if dataset else "facades"))
    config = saved or base
    if saved is not None and request.preset:  # An explicit preset on resume must agree with the saved run.
        config = dataclasses.replace(saved, model=base.model, loss=base.loss, data=dataclasses.replace(
            saved.data, image_size=base.data.image_size, load_size=base.data.load_size))
    if saved is None:
        data_fields = {"dataset": dataset or "", "data_dir": request.data_dir, "a_dir": request.a_dir,
                       "b_dir": request.b_dir, "direction": datasets.REGISTRY[dataset].direction if dataset else "AtoB"}
    else:  # Data named again on resume must be the saved run's: a change is refused below like other fixed fields.
        data_fields = _given(request, "dataset", "data_dir", "a_dir", "b_dir")
        if request.custom_data:
            data_fields.setdefault("dataset", "")
    data_fields.update(_given(request, "data_root", "direction"))
    if request.skip_bad:
        data_fields["skip_bad"] = True
    train_fields = _given(request, "batch_size", "seed", "strategy", "tpu", "precision", "keep_checkpoints",
                          "keep_every", "steps")
    auto = train_fields.get("precision") == AUTO_PRECISION
    if auto:  # Picked below, once the model's size is known; a resume keeps the run's own.
        del train_fields["precision"]
    train_fields.update({flag: True for flag in ("deterministic", "jit") if getattr(request, flag)})
    if request.epochs is not None:
        # --epochs N keeps the preset's proportion of decaying epochs (the paper's 100 + 100, §3.3).
        train_fields.update(epochs=request.epochs, steps=None,
                            decay_epochs=round(request.epochs * base.train.decay_epochs / base.train.epochs))
    config = dataclasses.replace(
        config, data=dataclasses.replace(config.data, **data_fields),
        train=dataclasses.replace(config.train, **train_fields),
    )
    config = config_lib.override(config, list(request.assignments))
    if auto and saved is None and not sets_precision(request.assignments):
        config = dataclasses.replace(config, train=dataclasses.replace(
            config.train, precision=auto_precision_for(config)[0]))
    config = config_lib.validate(config)
    if saved is not None:
        changed = [f"{key}: {_field(saved, key)!r} -> {_field(config, key)!r}"
                   for key in RESUME_FIXED_FIELDS if _field(saved, key) != _field(config, key)]
        if changed:
            raise UsageError(f"work dir {workdir} holds a run with other settings ({'; '.join(changed)}); "
                             "resume without them or use a new --workdir")
    return config


def resolve_run(request: TrainRequest) -> tuple[config_lib.Config, str]:
    """(config, work dir) of the run `request` means, reading the work dir's saved config when there is one."""
    workdir = default_workdir(request)
    saved = workdir_lib.load_config(workdir) if workdir_lib.has_config(workdir) else None
    if saved is None and workdir_lib.checkpoints_on_disk(workdir_lib.checkpoint_dir(workdir)):
        raise UsageError(f"work dir {workdir} holds checkpoints but no config.json, so its settings are unknown: "
                         "put its config.json back (from a backup or a copy of the run), or train in a new "
                         "--workdir; nothing was changed")
    return resolve_config(saved, request, workdir=workdir), workdir


def _given(request: TrainRequest, *names: str) -> dict:
    """{name: value} for the request's attributes among `names` that were given (not None)."""
    return {name: getattr(request, name) for name in names if getattr(request, name) is not None}


def _field(config: config_lib.Config, key: str):
    section, name = key.split(".")
    return getattr(getattr(config, section), name)
