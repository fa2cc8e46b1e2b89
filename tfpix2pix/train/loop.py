"""The training loop: builds the state from a config, restores it, and owns the intervals.

The step itself lives in `trainer.py`; this module decides when to log, draw samples and save,
and makes a run resumable from its work dir alone (STYLE.md point 6).
"""

from __future__ import annotations

import math
import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf

from tfpix2pix import config as config_lib
from tfpix2pix.train import checkpoints
from tfpix2pix.data import pipeline
from tfpix2pix.data import images
from tfpix2pix.train import optimizers
from tfpix2pix.data import sources
from tfpix2pix.train import strategy as strategy_lib
from tfpix2pix import workdir as workdir_lib
from tfpix2pix.models.discriminator import build_discriminator
from tfpix2pix.models.generator import build_generator
from tfpix2pix.progress import Progress
from tfpix2pix.train.schedule import ConstantThenLinearDecay
from tfpix2pix.train.trainer import Trainer

SAMPLE_COUNT = 4


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was saved at `step` before stopping."""

    def __init__(self, signal_number: int, step: int, path: str):
        super().__init__(f"stopped by signal {signal_number} at step {step}; checkpoint saved to {path}")
        self.signal_number = signal_number


class _SignalFlag:
    """Records SIGINT/SIGTERM instead of dying mid-step; the loop saves, then stops."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame):
        self.received = number

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def _optimizer(train_config, schedule):
    return optimizers.adam(schedule, beta_1=train_config.beta_1, beta_2=train_config.beta_2,
                           precision=train_config.precision)


def _sample_batch(config, train_sources, log):
    """A few fixed evaluation pairs for the sample grids: from val/ when present, else train/."""
    chosen = train_sources
    if sources.has_split(config.data, "val"):
        try:
            chosen = sources.split_sources(config.data, "val", image_size=config.data.image_size, log=log)
        except config_lib.UsageError as error:  # The grids are a view on training: never a reason to stop it.
            log(f"note: sample grids use training pairs, as the val split cannot be used: {error}")
    dataset = pipeline.evaluation_dataset(
        chosen[:SAMPLE_COUNT], direction=config.data.direction, image_size=config.data.image_size,
        batch_size=SAMPLE_COUNT,
    )
    return next(iter(dataset))


def _write_samples(generator, sample_batch, step: int, folder: str, writer) -> str:
    input_image, target = sample_batch
    generated = generator(input_image, training=False)
    rows = [
        [pipeline.to_uint8(input_image[i]).numpy(), pipeline.to_uint8(generated[i]).numpy(), pipeline.to_uint8(target[i]).numpy()]
        for i in range(input_image.shape[0])
    ]
    picture = images.grid(rows)
    path = os.path.join(folder, f"step_{step:07d}.png")
    images.save_png(path, picture)
    with writer.as_default(step=step):
        tf.summary.image("samples/input_generated_target", picture[None], max_outputs=1)
    return path


def _check_finite(losses: dict, step: int, last_checkpoint: str | None) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            kept = f"; the last good checkpoint {last_checkpoint} is untouched" if last_checkpoint else ""
            raise RuntimeError(f"non-finite loss {name}={value} at step {step}: training stopped{kept}")


def train(config: config_lib.Config, *, workdir: str, log=print, interactive: bool | None = None) -> dict:
    """Trains (or resumes) the run in `workdir` until the configured step count.

    Returns:
        A summary: final step, last losses, images per second, paths written.
    """
    config = config_lib.validate(config)
    data_config, train_config = config.data, config.train
    # First: MultiWorkerMirroredStrategy must configure collectives before TensorFlow starts up.
    strategy = strategy_lib.make_strategy(train_config.strategy, tpu=train_config.tpu or None)
    if train_config.deterministic:
        keras.utils.set_random_seed(train_config.seed)
        tf.config.experimental.enable_op_determinism()
    replicas = strategy.num_replicas_in_sync
    strategy_lib.check_batch(train_config.batch_size, strategy)
    strategy_lib.check_jit(train_config.jit, strategy)
    train_sources = sources.split_sources(data_config, "train", image_size=data_config.image_size, log=log)
    per_epoch = pipeline.steps_per_epoch(len(train_sources), train_config.batch_size)
    if per_epoch < 1:
        raise config_lib.UsageError(
            f"--batch-size {train_config.batch_size} is larger than the {len(train_sources)} training pairs"
        )
    total_steps = train_config.steps or train_config.epochs * per_epoch
    schedule = ConstantThenLinearDecay(
        train_config.learning_rate,
        (train_config.epochs - train_config.decay_epochs) * per_epoch,
        train_config.decay_epochs * per_epoch,
    )

    workdir_lib.make_writable_folder(workdir, "--workdir")
    places = checkpoints.destinations(
        strategy, workdir, checkpoints=workdir_lib.checkpoint_dir(workdir),
        logs=os.path.join(workdir, workdir_lib.LOGS, "train"), samples=os.path.join(workdir, workdir_lib.SAMPLES),
    )
    if places.is_chief:
        config_lib.save(config, workdir_lib.config_path(workdir))
    workers = strategy_lib.WorkerSync(strategy)
    keras.mixed_precision.set_global_policy(train_config.precision)
    try:
        with strategy.scope():
            synchronized = replicas > 1 and config.model.norm == "batch"
            keras.utils.set_random_seed(train_config.seed)  # the initial weights follow the seed
            generator = build_generator(config.model, image_size=data_config.image_size, synchronized=synchronized)
            discriminator = build_discriminator(config.model, synchronized=synchronized)
            trainer = Trainer(
                generator=generator, discriminator=discriminator,
                generator_optimizer=_optimizer(train_config, schedule),
                discriminator_optimizer=_optimizer(train_config, schedule),
                strategy=strategy, global_batch_size=train_config.batch_size,
                gan_mode=config.loss.gan_mode, l1_weight=config.loss.l1_weight,
                dropout_seed=train_config.seed, jit_compile=train_config.jit,
            )
            trainer.build_optimizers()
            step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            checkpoint = tf.train.Checkpoint(
                generator=generator, discriminator=discriminator,
                generator_optimizer=trainer.generator_optimizer,
                discriminator_optimizer=trainer.discriminator_optimizer,
                step=step, data_seed=tf.Variable(train_config.seed, dtype=tf.int64, trainable=False),
            )
        manager = checkpoints.checkpoint_manager(checkpoint, places.checkpoints, train_config)
        # Every worker restores the chief's checkpoint: a non-chief's own saves are scratch.
        restored = workdir_lib.restore_latest(checkpoint, places.restore_from, log=log)
        start = int(step.numpy())
        workers.check_same_step(start, workdir)
        if restored:
            log(f"resumed from {restored} at step {start} (epoch {start // per_epoch})")
        writer = tf.summary.create_file_writer(places.logs)
        sample_batch = _sample_batch(config, train_sources, log) if places.samples else None
        last_saved = restored
        last_losses: dict = {}
        rate = 0.0
        progress = Progress(total_steps - start, description=f"train from step {start}" if start else "train",
                            unit="step", interactive=interactive, every=train_config.log_every)
        with _SignalFlag() as flag, progress, strategy_lib.peer_failures(step, lambda: last_saved, workers):
            window_start, window_steps = time.perf_counter(), 0
            while int(step.numpy()) < total_steps:
                current = int(step.numpy())
                epoch, in_epoch = divmod(current, per_epoch)
                dataset_fn = strategy_lib.dataset_function(
                    train_sources, config=config, epoch=epoch, start_step=in_epoch,
                )
                batches = strategy_lib.distribute(strategy, dataset_fn)
                for inputs in batches:
                    current = int(step.numpy())
                    if current >= total_steps:
                        break
                    losses = {k: float(v) for k, v in trainer.train_step(tf.constant(current, tf.int64), inputs).items()}
                    _check_finite(losses, current + 1, last_saved)
                    step.assign_add(1)
                    current += 1
                    window_steps += 1
                    last_losses = losses
                    if current % train_config.log_every == 0 or current == total_steps:
                        elapsed = time.perf_counter() - window_start
                        rate = window_steps * train_config.batch_size / max(elapsed, 1e-9)
                        window_start, window_steps = time.perf_counter(), 0
                        with writer.as_default(step=current):
                            for name, value in losses.items():
                                tf.summary.scalar(f"loss/{name}", value)
                            tf.summary.scalar("learning_rate", float(schedule(current)))
                            tf.summary.scalar("images_per_second", rate)
                    if places.samples and (current % train_config.sample_every == 0 or current == total_steps):
                        _write_samples(generator, sample_batch, current, places.samples, writer)
                    saved_now = current % train_config.save_every == 0 or current == total_steps
                    if saved_now:
                        last_saved = checkpoints.save(manager, checkpoint, current, train_config, places)
                    progress.update(
                        1, step=current, epoch=current / per_epoch, d=losses["d_total"], g_gan=losses["g_gan"],
                        g_l1=losses["g_l1"], img_s=rate,
                    )
                    # Workers stop together: a save and the next step are collectives for all of them.
                    # A signal on the last step needs nothing more: the run is complete and saved.
                    if workers.any(flag.received is not None) and current < total_steps:
                        path = last_saved if saved_now else checkpoints.save(
                            manager, checkpoint, current, train_config, places)
                        writer.flush()
                        raise Interrupted(flag.received or signal.SIGTERM, current, path)
            workers.sum([0])  # a barrier: the chief, which hosts the coordination service, ends last
        writer.flush()
    finally:
        keras.mixed_precision.set_global_policy("float32")
        checkpoints.cleanup(places)
    return {
        "step": int(step.numpy()),
        "total_steps": total_steps,
        "steps_per_epoch": per_epoch,
        "losses": last_losses,
        "images_per_second": rate,
        "checkpoint": last_saved,
        "workdir": workdir,
        "samples": os.path.join(workdir, workdir_lib.SAMPLES),
        "logs": os.path.join(workdir, workdir_lib.LOGS),
    }
