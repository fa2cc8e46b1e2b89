"""Running a generator on images of any size: reflect-pad to the U-Net's multiple, crop back.

The U-Net halves its input 2**num_downsamplings times (§3.2.1), so an input side must be a multiple
of that. Other sizes are padded by mirroring (no hard borders for the convolutions to react to) and
the output is cropped to the input's size. Works eagerly and inside a `tf.function` / SavedModel
signature.
"""

from __future__ import annotations

import tensorflow as tf

from tfpix2pix.models.generator import dropout_seed_states


def minimum_side(multiple: int) -> int:
    """Smallest side that reflect padding can grow to a multiple of `multiple`.

    `pad_to_multiple` splits the padding between both ends and a mirror cannot be wider than the
    side minus one: the larger end, ceil((multiple - side) / 2), must stay below `side`.
    """
    return (multiple + 4) // 3


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


def seed_dropout(generator, seed: int) -> None:
    """Makes the generator's dropout masks a function of `seed` (stochastic inference, §3.3)."""
    for index, state in enumerate(dropout_seed_states(generator)):
        state.assign([seed * 1000 + index, 0])


def mode_note(norm: str, stochastic: bool) -> str:
    """Says in words which inference semantics a run uses."""
    if stochastic:
        statistics = {
            "batch": "batch norm uses the statistics of each test batch (the paper's test-time setting)",
            "instance": "instance norm (per image statistics)",
            "none": "no normalization",
        }[norm]
        return f"stochastic: dropout on as in the paper (§3.3); {statistics}"
    statistics = {
        "batch": "batch norm uses the moving averages from training",
        "instance": "instance norm (per image statistics: each output is independent of its batch mates)",
        "none": "no normalization",
    }[norm]
    return f"deterministic: dropout off; {statistics}"
