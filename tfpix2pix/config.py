"""Configuration: frozen dataclasses per component, named presets, dotted overrides.

A run's resolved `Config` is written to `<workdir>/config.json`, so `test`, `predict` and
`export` rebuild the same models from the work dir alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from tfpix2pix import files
from tfpix2pix.errors import UsageError

DIRECTIONS = ("AtoB", "BtoA")
NORMS = ("instance", "batch", "none")
GENERATORS = ("unet", "resnet9")
GAN_MODES = ("vanilla", "lsgan")
STRATEGIES = ("default", "mirrored", "multi-worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Validation metrics a run can keep its best checkpoint by, and whether lower is better.
BEST_METRICS = {"l1": "lower", "psnr": "higher", "ssim": "higher", "pixel_accuracy": "higher",
                "class_accuracy": "higher", "class_iou": "higher"}


@dataclass(frozen=True)
class DataConfig:
    """Where the pairs come from and how they are turned into tensors (§6.2)."""

    dataset: str = "facades-sample"
    data_dir: str | None = None
    a_dir: str | None = None
    b_dir: str | None = None
    data_root: str = "data"
    direction: str = "BtoA"
    image_size: int = 256
    load_size: int = 286
    flip: bool = True
    skip_bad: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture (§3.2, appendix 6.1)."""

    generator: str = "unet"
    base_filters: int = 64
    norm: str = "instance"
    dropout: float = 0.5
    resnet_blocks: int = 9
    discriminator_filters: int = 64
    discriminator_layers: int = 3


@dataclass(frozen=True)
class LossConfig:
    """Objective (§3.1): cGAN loss plus `l1_weight` times L1."""

    gan_mode: str = "vanilla"
    l1_weight: float = 100.0


@dataclass(frozen=True)
class TrainConfig:
    """Optimization (§3.3) and the loop's intervals."""

    batch_size: int = 1
    epochs: int = 200
    decay_epochs: int = 100
    steps: int | None = None
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    seed: int = 0
    deterministic: bool = False
    log_every: int = 50
    sample_every: int = 500
    save_every: int = 1000
    keep_checkpoints: int = 3
    keep_every: int | None = None
    strategy: str = "default"
    tpu: str = ""  # TPU name or grpc:// address for --strategy tpu; "" reads $TPU_NAME (unset: this VM's TPU).
    precision: str = "float32"
    jit: bool = False
    # Validation on the val split: None = once per epoch, at most every 1,000 steps; 0 = off.
    eval_every: int | None = None
    eval_images: int = 50  # the first N val pairs: 50 facades at 256 px cost about 2% of an epoch on 2 cores
    best_metric: str = "l1"  # checkpoints/best/ keeps the step with the best value (BEST_METRICS)


@dataclass(frozen=True)
class HealthConfig:
    """When a run's log says it is going wrong: thresholds of `train.health`. Warnings never stop a run."""

    # D has won when its mean loss is under this and its mean probability on generated pairs under
    # `d_won_probability` for `d_won_intervals` log intervals in a row. A D that labels every patch
    # right with p = 0.95 has a loss of 0.05; a healthy pix2pix D stays around 0.3-0.7 (§3.1 halves it).
    d_won_loss: float = 0.05
    d_won_probability: float = 0.05
    d_won_intervals: int = 5  # 5 x 50 steps: longer than the swings of a healthy batch-1 run
    # Mode collapse: the mean per-pixel standard deviation across different inputs' outputs, on the
    # [-1, 1] scale, under this. Real facades photos differ by about 0.4; 0.02 is 2.5 levels of 255.
    collapse_spread: float = 0.02
    # Saturation: the share of output values within 2/255 of -1 or 1 above this. Label maps with pure
    # colors reach about 2/3 (facades' palette), so only a nearly all-black/white output passes 0.9.
    saturated_share: float = 0.9
    # A plateau: the best metric not better for this many evaluations in a row (10 epochs at the default).
    plateau_evaluations: int = 10
    # A stall: training images/s under `stall_ratio` x the run's median for `stall_intervals` in a
    # row. Half the speed is more than the noise of a shared machine; one slow interval is a hiccup.
    stall_ratio: float = 0.5
    stall_intervals: int = 3


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    health: HealthConfig = field(default_factory=HealthConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(values) - set(sections)
        if unknown:
            raise UsageError(f"unknown config sections {sorted(unknown)}; valid: {sorted(sections)}")
        return cls(**{name: _section_class(name)(**values.get(name, {})) for name in sections})


def _section_class(name: str) -> type:
    return {"data": DataConfig, "model": ModelConfig, "loss": LossConfig, "train": TrainConfig,
            "health": HealthConfig}[name]


def _paper(direction: str, epochs: int, decay_epochs: int, batch_size: int = 1) -> Config:
    return Config(
        data=DataConfig(direction=direction),
        train=TrainConfig(epochs=epochs, decay_epochs=decay_epochs, batch_size=batch_size),
    )


# The paper's settings per dataset (§6.2, §3.3): 256x256, 70x70 PatchGAN, batch 1
# with 100 constant + 100 decaying epochs for the small sets, batch 4 for the large ones.
PRESETS: dict[str, Config] = {
    "facades": _paper("BtoA", 200, 100),
    "maps": _paper("AtoB", 200, 100),
    "cityscapes": _paper("BtoA", 200, 100),
    "edges2shoes": _paper("AtoB", 15, 7, batch_size=4),
    "edges2handbags": _paper("AtoB", 15, 7, batch_size=4),
    "night2day": _paper("AtoB", 17, 8, batch_size=4),
    # Small enough to train in seconds on a CPU: tests.
    "tiny": Config(
        data=DataConfig(direction="BtoA", image_size=32, load_size=36),
        model=ModelConfig(base_filters=8, discriminator_filters=8),
        train=TrainConfig(epochs=2, decay_epochs=1, log_every=10, sample_every=20, save_every=20),
    ),
    # The bundled sample's default: a real, visible result within a few minutes on 2 CPU cores.
    "sample": Config(
        data=DataConfig(direction="BtoA", image_size=128, load_size=143),
        model=ModelConfig(base_filters=32, discriminator_filters=32),
        train=TrainConfig(epochs=50, decay_epochs=25, log_every=50, sample_every=200, save_every=200),
    ),
}


def preset(name: str) -> Config:
    """Returns the named preset, or raises `UsageError` listing the valid names."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def _parse_value(key: str, text: str, current, annotation: str):
    """Parses `text` into the type of the field `key` (annotation as written in the class)."""
    if text.lower() in ("none", "null") and "None" in annotation:
        return None
    try:
        if "bool" in annotation:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if "int" in annotation:
            return int(text)
        if "float" in annotation:
            return float(text)
    except ValueError:
        raise UsageError(f"--set {key}={text}: expected a {annotation.replace(' | None', '')} value") from None
    return text


def override(config: Config, assignments: list[str]) -> Config:
    """Applies `section.field=value` strings; unknown keys raise `UsageError` with the valid ones."""
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        section_name, dot, field_name = key.strip().partition(".")
        valid = [
            f"{s.name}.{f.name}" for s in dataclasses.fields(Config) for f in dataclasses.fields(_section_class(s.name))
        ]
        if not sep or not dot or key.strip() not in valid:
            raise UsageError(f"--set {assignment!r}: unknown key {key.strip()!r}; valid keys: {', '.join(valid)}")
        section = getattr(config, section_name)
        annotation = {f.name: str(f.type) for f in dataclasses.fields(section)}[field_name]
        value = _parse_value(key.strip(), text.strip(), getattr(section, field_name), annotation)
        section = dataclasses.replace(section, **{field_name: value})
        config = dataclasses.replace(config, **{section_name: section})
    return config


SEED_LIMIT = 2**32  # Keras and NumPy seeding take seeds below 2**32.
_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


def _check_types(config: Config) -> None:
    """Every field holds a value of its annotated type (bool is not taken for a number)."""
    for section in dataclasses.fields(config):
        for item in dataclasses.fields(getattr(config, section.name)):
            value = getattr(getattr(config, section.name), item.name)
            annotation = str(item.type)
            if value is None and "None" in annotation:
                continue
            expected = _TYPES[annotation.replace(" | None", "")]
            if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
                raise UsageError(f"{section.name}.{item.name} must be a {annotation.replace(' | None', '')}"
                                 f"{' or null' if 'None' in annotation else ''}, got {value!r}")


def validate(config: Config) -> Config:
    """Checks types, ranges, choices and the architecture against the image size.

    Raises:
        UsageError: naming the field and the bad value.
    """
    _check_types(config)
    data, model, loss, train = config.data, config.model, config.loss, config.train
    choices = [
        ("data.direction", data.direction, DIRECTIONS),
        ("model.norm", model.norm, NORMS),
        ("model.generator", model.generator, GENERATORS),
        ("loss.gan_mode", loss.gan_mode, GAN_MODES),
        ("train.strategy", train.strategy, STRATEGIES),
        ("train.precision", train.precision, PRECISIONS),
        ("train.best_metric", train.best_metric, tuple(BEST_METRICS)),
    ]
    for key, value, allowed in choices:
        if value not in allowed:
            raise UsageError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    minimums = [
        ("data.image_size", data.image_size, 16),
        ("model.base_filters", model.base_filters, 1),
        ("model.discriminator_filters", model.discriminator_filters, 1),
        ("model.discriminator_layers", model.discriminator_layers, 0),
        ("model.resnet_blocks", model.resnet_blocks, 0),
        ("train.batch_size", train.batch_size, 1),
        ("train.epochs", train.epochs, 1),
        ("train.decay_epochs", train.decay_epochs, 0),
        ("train.log_every", train.log_every, 1),
        ("train.sample_every", train.sample_every, 1),
        ("train.save_every", train.save_every, 1),
        ("train.keep_checkpoints", train.keep_checkpoints, 1),
        ("train.seed", train.seed, 0),
        ("train.eval_images", train.eval_images, 1),
        ("health.d_won_intervals", config.health.d_won_intervals, 1),
        ("health.plateau_evaluations", config.health.plateau_evaluations, 1),
        ("health.stall_intervals", config.health.stall_intervals, 1),
    ]
    for key, value, minimum in minimums:
        if value < minimum:
            raise UsageError(f"{key} must be at least {minimum}, got {value}")
    if train.seed >= SEED_LIMIT:
        raise UsageError(f"train.seed must be below 2**32 ({SEED_LIMIT}), got {train.seed}")
    if data.image_size & (data.image_size - 1):
        raise UsageError(f"data.image_size must be a power of two (the U-Net halves it down to 1x1), got {data.image_size}")
    # §3.2.2: each of the PatchGAN's stride-2 layers halves the image; its last two 4x4 convolutions
    # (stride 1, padding 1) then need at least 3x3 to leave one patch logit.
    if model.discriminator_layers and data.image_size // 2**model.discriminator_layers < 3:
        smallest = 3 * 2**model.discriminator_layers
        smallest = 1 << (smallest - 1).bit_length()
        raise UsageError(f"model.discriminator_layers={model.discriminator_layers} needs data.image_size of at least "
                         f"{smallest} (each stride-2 layer halves the image), got {data.image_size}")
    if data.load_size < data.image_size:
        raise UsageError(f"data.load_size must be at least data.image_size ({data.image_size}), got {data.load_size}")
    if train.decay_epochs > train.epochs:
        raise UsageError(f"train.decay_epochs ({train.decay_epochs}) cannot exceed train.epochs ({train.epochs})")
    if train.steps is not None and train.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {train.steps}")
    if not 0.0 <= model.dropout < 1.0:
        raise UsageError(f"model.dropout must be in [0, 1), got {model.dropout}")
    if not (math.isfinite(loss.l1_weight) and loss.l1_weight >= 0):
        raise UsageError(f"loss.l1_weight must be a finite number >= 0, got {loss.l1_weight}")
    if not (math.isfinite(train.learning_rate) and train.learning_rate > 0):
        raise UsageError(f"train.learning_rate must be a finite number > 0, got {train.learning_rate}")
    for key, value in (("train.beta_1", train.beta_1), ("train.beta_2", train.beta_2)):
        if not 0.0 <= value < 1.0:
            raise UsageError(f"{key} must be in [0, 1), got {value}")
    if train.eval_every is not None and train.eval_every < 0:
        raise UsageError(f"train.eval_every must be 0 (off) or more, got {train.eval_every}")
    health = config.health
    for key, value in (("health.d_won_loss", health.d_won_loss), ("health.collapse_spread", health.collapse_spread)):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"{key} must be a finite number >= 0, got {value}")
    for key, value in (("health.d_won_probability", health.d_won_probability),
                       ("health.saturated_share", health.saturated_share), ("health.stall_ratio", health.stall_ratio)):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{key} must be in [0, 1], got {value}")
    if train.keep_every is not None and train.keep_every < 1:
        raise UsageError(f"train.keep_every must be at least 1, got {train.keep_every}")
    return config


def generator_arguments(config: Config) -> dict:
    """Keyword arguments of `models.generator.build_generator` for this run: the config unpacked once."""
    model = config.model
    return {"kind": model.generator, "image_size": config.data.image_size, "base_filters": model.base_filters,
            "norm": model.norm, "dropout": model.dropout, "resnet_blocks": model.resnet_blocks}


def discriminator_arguments(config: Config) -> dict:
    """Keyword arguments of `models.discriminator.build_patchgan_discriminator` for this run."""
    model = config.model
    return {"base_filters": model.discriminator_filters, "num_layers": model.discriminator_layers, "norm": model.norm,
            "image_size": config.data.image_size}


def save(config: Config, path: str) -> None:
    """Writes the config as JSON: readers see the old file or the new one (`files.write_bytes`)."""
    files.write_bytes(path, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")


def load(path: str) -> Config:
    """Reads and checks a saved config; any fault is one `UsageError` naming the file, which is left as it is."""
    if not files.isfile(path):
        raise UsageError(f"no config.json at {path}: is this a tfpix2pix work dir?")
    keep = "the file was left as it is: restore it from a backup, or train in a new --workdir"
    try:
        values = json.loads(files.read_bytes(path).decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text (byte {error.start}); {keep}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
                         f"{keep}") from None
    if not isinstance(values, dict) or not all(isinstance(section, dict) for section in values.values()):
        raise UsageError(f"{path} must hold a JSON object of sections (data, model, loss, train, health), "
                         f"got {type(values).__name__}; {keep}")
    try:
        return validate(Config.from_dict(values))
    except TypeError as error:  # an unknown field: the dataclass constructor names it
        raise UsageError(f"{path} is not a valid tfpix2pix config ({error}); {keep}") from None
    except UsageError as error:
        raise UsageError(f"{path}: {error}; {keep}") from None


def eval_interval(train: TrainConfig, steps_per_epoch: int) -> int:
    """Steps between validations: `train.eval_every`, or once per epoch and at most every 1,000 steps; 0 is off."""
    if train.eval_every is not None:
        return train.eval_every
    return max(1, min(steps_per_epoch, 1000))
