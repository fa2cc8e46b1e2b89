"""`train`: a run from its config and work dir, in the order a resume needs.

The step is `trainer.py`, the state `build.py`, the intervals `controller.py`; this module puts
them together once per run and returns what the run did.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import keras
import tensorflow as tf

from tfpix2pix import config as config_lib, files, workdir as workdir_lib
from tfpix2pix.data import pipeline, sources
from tfpix2pix.errors import UsageError
from tfpix2pix.models import precision
from tfpix2pix.train import build, checkpoints, hparams, samples, strategy as strategy_lib
from tfpix2pix.train.controller import Controller


@dataclass(frozen=True)
class TrainResult:
    """What a finished `train` call did.

    Attributes:
        step: the global step reached.
        total_steps: the run's last step.
        steps_per_epoch: global steps per epoch.
        losses: the loss parts of the last step.
        images_per_second: training rate over the last log window.
        checkpoint: the newest checkpoint's path (None if none was saved).
        workdir, samples, logs: the run's folders.
        validation: the last validation (step and val metrics; None without one).
        best: the best validation so far, kept in checkpoints/best/ (None without one).
        warnings: the warnings this call raised.
    """

    step: int
    total_steps: int
    steps_per_epoch: int
    losses: dict[str, float]
    images_per_second: float
    checkpoint: str | None
    workdir: str
    samples: str
    logs: str
    validation: dict | None = None
    best: dict | None = None
    warnings: tuple[str, ...] = ()


def train(config: config_lib.Config, *, workdir: str, evaluator=None, log=print,
          interactive: bool | None = None) -> TrainResult:
    """Trains (or resumes) the run in `workdir` until the configured step count.

    Args:
        evaluator: scores the generator on the val split every `train.eval_every` steps
            (`tfpix2pix.evaluate.validation.Validator`, which `tfpix2pix train` passes); None or an
            empty one: no validation.

    Raises:
        UsageError: bad data, a batch that does not split over the replicas, an unusable work dir.
        RuntimeError: a non-finite loss, a failed save, a lost worker (the message says which).
        Interrupted: SIGINT or SIGTERM, after a checkpoint was saved.
    """
    config = config_lib.validate(config)
    data_config, train_config = config.data, config.train
    # 1. The strategy first: MultiWorkerMirroredStrategy configures collectives before TensorFlow starts.
    strategy = strategy_lib.make_strategy(train_config.strategy, tpu=train_config.tpu or None)
    if train_config.deterministic:
        keras.utils.set_random_seed(train_config.seed)
        tf.config.experimental.enable_op_determinism()
    strategy_lib.check_batch(train_config.batch_size, strategy)
    strategy_lib.check_jit(train_config.jit, strategy)
    # 2. The data, every file checked, and the run's length in steps.
    train_sources = sources.split_sources(data_config, "train", image_size=data_config.image_size, log=log)
    per_epoch = pipeline.steps_per_epoch(len(train_sources), train_config.batch_size)
    if per_epoch < 1:
        raise UsageError(f"--batch-size {train_config.batch_size} is larger than the {len(train_sources)} training pairs")
    total_steps = train_config.steps or train_config.epochs * per_epoch
    reached = workdir_lib.latest_step(workdir_lib.checkpoint_dir(workdir))
    if reached > total_steps:
        raise UsageError(f"work dir {workdir} is already at step {reached}, past the {total_steps} steps asked for: "
                         "nothing to train (give a larger --steps or --epochs); nothing was changed")
    # 3. The work dir: folders, the chief's lock for the whole run, and config.json, so test/export need no flags.
    sources.check_outside_data(workdir, "--workdir", train_sources)
    workdir_lib.make_writable_folder(workdir, "--workdir")
    places = checkpoints.destinations(
        strategy, workdir, checkpoints=workdir_lib.checkpoint_dir(workdir), logs=workdir_lib.train_logs_dir(workdir),
        samples=workdir_lib.samples_dir(workdir),
    )
    with workdir_lib.lock(workdir) if places.is_chief else contextlib.nullcontext():
        if places.is_chief:
            config_lib.save(config, workdir_lib.config_path(workdir))
        return _train(config, workdir, strategy, train_sources, per_epoch, total_steps, places, evaluator or None, log,
                      interactive)


def _train(config, workdir, strategy, train_sources, per_epoch, total_steps, places, evaluator, log,
           interactive) -> TrainResult:
    data_config, train_config = config.data, config.train
    workers = strategy_lib.WorkerSync(strategy)
    try:
        with precision.policy(train_config.precision):
            # 4. The state, then the controller, which restores the newest checkpoint, then trains.
            state = build.build_training(config, strategy=strategy, steps_per_epoch=per_epoch)
            controller = Controller(
                state=state, train_config=train_config, places=places,
                dataset=functools.partial(
                    pipeline.training_dataset, train_sources, direction=data_config.direction,
                    image_size=data_config.image_size, load_size=data_config.load_size, flip=data_config.flip,
                    seed=train_config.seed, global_batch_size=train_config.batch_size),
                steps_per_epoch=per_epoch, total_steps=total_steps,
                sample_batch=samples.sample_batch(data_config, train_sources, log) if places.samples else None,
                workers=workers, workdir=workdir, evaluator=evaluator,
                eval_every=config_lib.eval_interval(train_config, per_epoch), health=config.health, log=log,
            )
            if places.is_chief:
                hparams.write(controller.writer, config, evaluator.metric_names if evaluator else (),
                              trial=files.abspath(workdir))
            progressed = controller.train(total_steps, interactive=interactive)
    finally:
        checkpoints.cleanup(places)
    return TrainResult(
        step=progressed.step, total_steps=total_steps, steps_per_epoch=per_epoch, losses=progressed.losses,
        images_per_second=progressed.images_per_second, checkpoint=progressed.checkpoint, workdir=workdir,
        samples=workdir_lib.samples_dir(workdir), logs=workdir_lib.logs_dir(workdir),
        validation=progressed.validation, best=progressed.best, warnings=progressed.warnings,
    )

