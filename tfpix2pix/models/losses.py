"""The pix2pix objective (§3.1) as pure functions returning their parts, per example.

Every function returns tensors of shape [batch]: one value per example, averaged over that
example's patch logits or pixels. The trainer reduces them with the global batch size, which
keeps the loss right under a distribution strategy (see `trainer.py`).
"""

import tensorflow as tf


def _per_example_mean(values):
    return tf.reduce_mean(tf.reshape(values, [tf.shape(values)[0], -1]), axis=1)


def _gan_term(logits, is_real: bool, gan_mode: str):
    """Per-example GAN loss of `logits` against the label real (1) or generated (0)."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.ones_like(logits) if is_real else tf.zeros_like(logits)
    if gan_mode == "vanilla":
        values = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    elif gan_mode == "lsgan":
        values = tf.square(logits - labels)
    else:
        raise ValueError(f"gan_mode must be vanilla or lsgan, got {gan_mode!r}")
    return _per_example_mean(values)


def discriminator_loss(real_logits, generated_logits, *, gan_mode: str = "vanilla"):
    """D's loss: (real term + generated term) / 2; halving slows D relative to G (§3.1).

    Returns:
        (total, real, generated), each of shape [batch].
    """
    real = _gan_term(real_logits, True, gan_mode)
    generated = _gan_term(generated_logits, False, gan_mode)
    return 0.5 * (real + generated), real, generated


def generator_loss(generated_logits, generated, target, *, gan_mode: str = "vanilla", l1_weight: float = 100.0):
    """G's loss: the non-saturating GAN term (maximize log D(x, G(x)), §3.1) plus λ·L1.

    Returns:
        (total, gan, l1), each of shape [batch]; `l1` is unweighted, on the [-1, 1] scale.
    """
    gan = _gan_term(generated_logits, True, gan_mode)
    l1 = _per_example_mean(tf.abs(tf.cast(target, tf.float32) - tf.cast(generated, tf.float32)))
    return gan + l1_weight * l1, gan, l1
