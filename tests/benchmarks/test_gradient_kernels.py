"""The gradient-kernel lever computes TensorFlow's gradients exactly, so its timings compare like with like."""

import numpy as np
import pytest
import tensorflow as tf

from tests.benchmarks import script
from tfpix2pix.models.discriminator import build_patchgan_discriminator
from tfpix2pix.models.generator import build_unet_generator

gradient_kernels = script("gradient_kernels")


def _value_and_gradients(operation, inputs, kernel):
    with tf.GradientTape() as tape:
        tape.watch([inputs, kernel])
        outputs = operation(inputs, kernel)
        loss = tf.reduce_sum(outputs * tf.sin(outputs))  # a gradient that differs per position
    return [outputs, *tape.gradient(loss, [inputs, kernel])]


def _assert_close(ours, theirs):
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4 * float(tf.reduce_max(tf.abs(b))))


@pytest.mark.parametrize("side, stride", [(10, 2), (11, 2), (9, 1)])
def test_a_convolution_has_tensorflows_output_and_gradients(side, stride):
    rng = np.random.default_rng(side)
    inputs = tf.constant(rng.normal(size=(2, side, side, 3)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(4, 4, 3, 5)).astype(np.float32))
    _assert_close(_value_and_gradients(lambda x, k: gradient_kernels.convolution(x, k, stride), inputs, kernel),
                  _value_and_gradients(lambda x, k: tf.nn.conv2d(x, k, stride, "VALID"), inputs, kernel))


def test_a_transposed_convolution_has_tensorflows_output_and_gradients():
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.normal(size=(2, 5, 6, 4)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(4, 4, 3, 4)).astype(np.float32))
    _assert_close(
        _value_and_gradients(gradient_kernels.transposed_convolution, inputs, kernel),
        _value_and_gradients(lambda x, k: tf.nn.conv2d_transpose(x, k, [2, 10, 12, 3], 2, "SAME"), inputs, kernel),
    )


def test_the_models_with_forward_gradients_train_like_the_models():
    generator = build_unet_generator(image_size=32, base_filters=4, dropout=0.0)
    discriminator = build_patchgan_discriminator(base_filters=4)
    copies = [gradient_kernels.with_forward_gradients(model) for model in (generator, discriminator)]
    assert any(isinstance(layer, gradient_kernels.PhaseGradientConv2DTranspose) for layer in copies[0].layers)
    assert any(isinstance(layer, gradient_kernels.PhaseGradientConv2D) for layer in copies[1].layers)
    rng = np.random.default_rng(1)
    images, targets = (tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)) for _ in range(2))

    def gradients(generator, discriminator):
        with tf.GradientTape() as tape:
            generated = generator(images, training=True)
            logits = discriminator([images, generated], training=True)
            loss = tf.reduce_mean(logits**2) + tf.reduce_mean(tf.abs(generated - targets))
        return tape.gradient(loss, generator.trainable_variables + discriminator.trainable_variables)

    _assert_close(gradients(*copies), gradients(generator, discriminator))

