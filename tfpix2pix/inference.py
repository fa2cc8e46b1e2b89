"""Running a generator on images of any size: reflect-pad to the U-Net's multiple, crop back.

PIX2PIX.md: an input side must be a multiple of 2**num_downsamplings. Other sizes are padded by
mirroring (no hard borders for the convolutions to react to) and the output is cropped to the
input's size. Works eagerly and inside a `tf.function` / SavedModel signature.
"""

from __future__ import annotations

import tensorflow as tf


def pad_to_multiple(images, multiple: int):
    """Reflect-pads [batch, H, W, C] images so H and W are multiples of `multiple`.

    Returns:
        (padded images, (top, left, height, width)): the crop that undoes the padding.

    Sides shorter than `multiple` cannot be mirrored far enough: callers reject them first.
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    pad_height = (multiple - height % multiple) % multiple
    pad_width = (multiple - width % multiple) % multiple
    top, left = pad_height // 2, pad_width // 2
    paddings = [[0, 0], [top, pad_height - top], [left, pad_width - left], [0, 0]]
    return tf.pad(images, paddings, mode="REFLECT"), (top, left, height, width)


def crop(images, box):
    top, left, height, width = box
    return images[:, top : top + height, left : left + width, :]


def translate(generator, images, *, multiple: int, training: bool = False):
    """Runs `generator` on float images in [-1, 1] of any size >= `multiple`; output has the input's size.

    `training=True` is the paper's test-time mode (§3.3): dropout on, batch statistics.
    """
    padded, box = pad_to_multiple(images, multiple)
    return crop(generator(padded, training=training), box)
