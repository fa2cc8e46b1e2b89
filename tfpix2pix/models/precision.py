"""Keras precision policies: building models under one, and a generator rebuilt under another.

A run trains under its `train.precision` (float32, mixed_float16 or mixed_bfloat16, whose weights
are float32). `export` and `bench` rebuild its generator in float32, the SavedModel and TFLite
precision, and in bfloat16 for the bf16 SavedModel: weights stored in bfloat16 (half the bytes to
read per image) and every layer computing in it, except the statistics of instance norm and the
tanh output, which stay float32 (models/layers.py, models/generator.py).
"""

from __future__ import annotations

import contextlib

import keras

from tfpix2pix import config as config_lib
from tfpix2pix.models.generator import build_generator


@contextlib.contextmanager
def policy(name: str):
    """Sets Keras' global dtype policy (float32, bfloat16, mixed_float16, mixed_bfloat16) for the block."""
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def rebuilt(generator: keras.Model, config: config_lib.Config, name: str) -> keras.Model:
    """`generator`, trained under any policy, built again from `config` under policy `name` with its weights.

    The weights are cast to the new variables' dtype (rounded to nearest for bfloat16).
    """
    with policy(name):
        copy = build_generator(**config_lib.generator_arguments(config))
    copy.set_weights(generator.get_weights())
    return copy
