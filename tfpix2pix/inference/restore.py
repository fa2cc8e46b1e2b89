"""The generator of a work dir: rebuilt from its config.json, weights from its newest loadable checkpoint."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfpix2pix import config as config_lib, workdir as workdir_lib
from tfpix2pix.models.generator import build_generator


def load_generator(workdir: str, *, checkpoint: str = "latest", log=print) -> tuple[keras.Model, config_lib.Config, int]:
    """Rebuilds the generator from `<workdir>/config.json` and restores the weights of `checkpoint`.

    Args:
        checkpoint: `latest` (the newest loadable one), `best` (the best validation metric) or a step.

    Returns:
        (generator, config, step).

    Raises:
        UsageError: no work dir, no config, or no such checkpoint that loads.
    """
    config = workdir_lib.load_config(workdir)
    generator = build_generator(**config_lib.generator_arguments(config))
    path = workdir_lib.restore_choice(tf.train.Checkpoint(generator=generator), workdir, checkpoint, log=log)
    return generator, config, workdir_lib.checkpoint_step(path)
