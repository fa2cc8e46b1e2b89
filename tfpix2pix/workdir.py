"""A work dir: config.json, checkpoints/, logs/ (TensorBoard) and samples/ of one training run."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from tfpix2pix import config as config_lib
from tfpix2pix.errors import UsageError
from tfpix2pix.generator import build_generator

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
SAMPLES = "samples"


def config_path(workdir: str) -> str:
    return os.path.join(workdir, CONFIG_FILE)


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(workdir, CHECKPOINTS)


def has_config(workdir: str) -> bool:
    return os.path.isfile(config_path(workdir))


def latest_checkpoint(workdir: str) -> str | None:
    """Path prefix of the newest checkpoint, or None."""
    return tf.train.latest_checkpoint(checkpoint_dir(workdir))


def checkpoint_step(path: str) -> int:
    """The global step in a CheckpointManager path such as `.../ckpt-1200`."""
    return int(path.rsplit("-", 1)[-1])


def load_config(workdir: str) -> config_lib.Config:
    if not os.path.isdir(workdir):
        raise UsageError(f"work dir {workdir} does not exist")
    return config_lib.load(config_path(workdir))


def load_generator(workdir: str) -> tuple[keras.Model, config_lib.Config, int]:
    """Rebuilds the generator from `<workdir>/config.json` and restores its latest weights.

    Returns:
        (generator, config, step).
    """
    config = load_config(workdir)
    path = latest_checkpoint(workdir)
    if path is None:
        raise UsageError(f"work dir {workdir} has no checkpoint yet: train first (tfpix2pix train --workdir {workdir})")
    generator = build_generator(config.model, image_size=config.data.image_size)
    status = tf.train.Checkpoint(generator=generator).restore(path)
    status.expect_partial().assert_existing_objects_matched()
    return generator, config, checkpoint_step(path)
