"""Runs built to go wrong: the real controller, with one part changed after `build_training` (a test helper)."""

import functools
import os

import tensorflow as tf

from tfpix2pix import config as config_lib, workdir as workdir_lib
from tfpix2pix.data import pipeline, sources
from tfpix2pix.train import build, checkpoints, samples, strategy as strategy_lib
from tfpix2pix.train.controller import Controller


def tiny(*assignments: str) -> config_lib.Config:
    """The tiny preset at 4 filters, logging every 5 steps and validating every 10."""
    return config_lib.validate(config_lib.override(config_lib.preset("tiny"), [
        "model.base_filters=4", "model.discriminator_filters=4", "train.log_every=5", "train.sample_every=10",
        "train.save_every=1000", "train.eval_every=10", *assignments]))


def run(config, workdir: str, *, evaluator=None, edit=None, wrap_dataset=None, log=print):
    """Trains `config` to `train.steps` through `Controller`, after `edit(state)`; returns its `Progressed`.

    `wrap_dataset(dataset)` may change the input pipeline of every epoch.
    """
    strategy = tf.distribute.get_strategy()
    data = config.data
    train_sources = sources.split_sources(data, "train", image_size=data.image_size, log=log)
    per_epoch = pipeline.steps_per_epoch(len(train_sources), config.train.batch_size)
    places = checkpoints.destinations(
        strategy, workdir, checkpoints=workdir_lib.checkpoint_dir(workdir), logs=workdir_lib.train_logs_dir(workdir),
        samples=workdir_lib.samples_dir(workdir))
    os.makedirs(workdir, exist_ok=True)
    state = build.build_training(config, strategy=strategy, steps_per_epoch=per_epoch)
    if edit is not None:
        edit(state)
    make = functools.partial(
        pipeline.training_dataset, train_sources, direction=data.direction, image_size=data.image_size,
        load_size=data.load_size, flip=data.flip, seed=config.train.seed, global_batch_size=config.train.batch_size)
    controller = Controller(
        state=state, train_config=config.train, places=places,
        dataset=(lambda **kwargs: wrap_dataset(make(**kwargs))) if wrap_dataset else make,
        steps_per_epoch=per_epoch, total_steps=config.train.steps,
        sample_batch=samples.sample_batch(data, train_sources, log), workers=strategy_lib.WorkerSync(strategy),
        workdir=workdir, evaluator=evaluator, eval_every=config_lib.eval_interval(config.train, per_epoch),
        health=config.health, log=log)
    return controller.train(config.train.steps, interactive=False)


def output_layer(generator):
    """The generator's last layer with weights: the one whose activation is the output tanh."""
    return [layer for layer in generator.layers if layer.weights][-1]
