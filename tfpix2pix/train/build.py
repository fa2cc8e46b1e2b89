"""One way to build a training run's state from a config: models, optimizers, trainer, checkpoint.

`train`, `bench` and the benchmark scripts all build through `build_training`, so what is timed is
what trains. Build under `models.precision.policy(config.train.precision)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from tfpix2pix import config as config_lib
from tfpix2pix.models.discriminator import build_patchgan_discriminator
from tfpix2pix.models.generator import build_generator
from tfpix2pix.train import optimizers
from tfpix2pix.train.schedule import ConstantThenLinearDecay
from tfpix2pix.train.trainer import Trainer


@dataclass(frozen=True)
class TrainingState:
    """What a run trains and saves.

    Attributes:
        trainer: the models, their optimizers and the train step.
        checkpoint: everything a resume restores (models, optimizer slots, `step`, the data seed).
        step: the global step, a variable saved in the checkpoint.
        schedule: the learning rate as a function of the step.
    """

    trainer: Trainer
    checkpoint: tf.train.Checkpoint
    step: tf.Variable
    schedule: ConstantThenLinearDecay


def learning_rate_schedule(train_config: config_lib.TrainConfig, steps_per_epoch: int) -> ConstantThenLinearDecay:
    """The paper's schedule (§3.3): constant for epochs - decay_epochs, then linear to 0."""
    return ConstantThenLinearDecay(
        train_config.learning_rate,
        (train_config.epochs - train_config.decay_epochs) * steps_per_epoch,
        train_config.decay_epochs * steps_per_epoch,
    )


def build_training(
    config: config_lib.Config,
    *,
    strategy: tf.distribute.Strategy,
    steps_per_epoch: int,
    merge_discriminator_passes: bool = False,
) -> TrainingState:
    """Builds the run's models (seeded by `train.seed`), optimizers, trainer and checkpoint in `strategy.scope()`.

    Args:
        config: the run's config.
        strategy: the distribution strategy the trainer runs under.
        steps_per_epoch: global steps per epoch, which the lr schedule counts in.
        merge_discriminator_passes: see `Trainer`; a benchmark lever, off in `train`.
    """
    train_config = config.train
    schedule = learning_rate_schedule(train_config, steps_per_epoch)
    # Batch norm statistics are shared by the replicas when there are several.
    synchronized = strategy.num_replicas_in_sync > 1 and config.model.norm == "batch"
    with strategy.scope():
        keras.utils.set_random_seed(train_config.seed)  # the initial weights follow the seed
        generator = build_generator(**config_lib.generator_arguments(config), synchronized=synchronized)
        discriminator = build_patchgan_discriminator(
            **config_lib.discriminator_arguments(config), synchronized=synchronized)
        trainer = Trainer(
            generator=generator, discriminator=discriminator,
            generator_optimizer=_adam(train_config, schedule), discriminator_optimizer=_adam(train_config, schedule),
            strategy=strategy, global_batch_size=train_config.batch_size,
            gan_mode=config.loss.gan_mode, l1_weight=config.loss.l1_weight,
            dropout_seed=train_config.seed, jit_compile=train_config.jit,
            merge_discriminator_passes=merge_discriminator_passes,
        )
        trainer.build_optimizers()
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        checkpoint = tf.train.Checkpoint(
            generator=generator, discriminator=discriminator,
            generator_optimizer=trainer.generator_optimizer,
            discriminator_optimizer=trainer.discriminator_optimizer,
            step=step, data_seed=tf.Variable(train_config.seed, dtype=tf.int64, trainable=False),
        )
    return TrainingState(trainer=trainer, checkpoint=checkpoint, step=step, schedule=schedule)


def _adam(train_config: config_lib.TrainConfig, schedule) -> keras.optimizers.Optimizer:
    return optimizers.adam(schedule, beta_1=train_config.beta_1, beta_2=train_config.beta_2,
                           precision=train_config.precision)
