"""The generator of a work dir: rebuilt from its config.json, weights from its newest loadable checkpoint."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfpix2pix import config as config_lib, workdir as workdir_lib
from tfpix2pix.errors import UsageError
from tfpix2pix.models.generator import build_generator


def load_generator(workdir: str, *, log=print) -> tuple[keras.Model, config_lib.Config, int]:
    """Rebuilds the generator from `<workdir>/config.json` and restores its newest loadable weights.

    Returns:
        (generator, config, step).

    Raises:
        UsageError: no work dir, no config, or no checkpoint that loads.
    """
    config = workdir_lib.load_config(workdir)
    generator = build_generator(**config_lib.generator_arguments(config))
    checkpoint = tf.train.Checkpoint(generator=generator)
    path = workdir_lib.restore_latest(checkpoint, workdir_lib.checkpoint_dir(workdir), partial=True, log=log)
    if path is None:
        raise UsageError(f"work dir {workdir} has no checkpoint yet: train first (tfpix2pix train --workdir {workdir})")
    return generator, config, workdir_lib.checkpoint_step(path)
