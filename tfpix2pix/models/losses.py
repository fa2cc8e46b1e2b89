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


def discriminator_health(real_logits, generated_logits, *, gan_mode: str = "vanilla"):
    """How sure D is, per example: its mean probability of "real" on real and on generated pairs, and its accuracy.

    The probability is the sigmoid of a vanilla logit; an lsgan score is regressed to 1 or 0 and is
    clipped to [0, 1]. The accuracy is the share of patches on the right side of 0.5, real and
    generated weighted alike.

    Returns:
        (p_real, p_generated, accuracy), each of shape [batch].
    """
    def probability(logits):
        logits = tf.cast(logits, tf.float32)
        return tf.sigmoid(logits) if gan_mode == "vanilla" else tf.clip_by_value(logits, 0.0, 1.0)

    p_real, p_generated = probability(real_logits), probability(generated_logits)
    accuracy = 0.5 * (_per_example_mean(tf.cast(p_real > 0.5, tf.float32))
                      + _per_example_mean(tf.cast(p_generated < 0.5, tf.float32)))
    return _per_example_mean(p_real), _per_example_mean(p_generated), accuracy
