"""FusedAdam: Keras' Adam with one fused kernel per variable gives Keras' Adam's numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.train.optimizers import FusedAdam


def _train(optimizer, steps=5):
    rng = np.random.default_rng(0)
    weights = [keras.Variable(rng.standard_normal(shape).astype(np.float32)) for shape in ([3, 4], [7])]
    optimizer.build(weights)
    for step in range(steps):
        gradients = [tf.constant(np.random.default_rng(step).standard_normal(w.shape).astype(np.float32))
                     for w in weights]
        optimizer.apply_gradients(zip(gradients, weights))
    return [w.numpy() for w in weights], [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize("learning_rate", [2e-4, keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)],
                         ids=["constant", "schedule"])
def test_fused_adam_matches_keras_adam(learning_rate):
    expected_weights, expected_slots = _train(keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999))
    weights, slots = _train(FusedAdam(learning_rate, beta_1=0.5, beta_2=0.999))
    # Both compute 1 - beta_2**t in float32 (0.001 at t = 1): one ulp of difference in their pow
    # is a relative 6e-5 there, hence rtol 1e-4 rather than float32's epsilon.
    for got, want in zip(weights + slots, expected_weights + expected_slots):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)


def test_a_keras_adam_checkpoint_restores_into_fused_adam(tmp_path):
    """Work dirs trained before FusedAdam resume with it: the slots are Keras Adam's own."""
    weights = [keras.Variable(np.zeros([3, 4], np.float32)), keras.Variable(np.zeros([7], np.float32))]
    adam = keras.optimizers.Adam(2e-4)
    adam.build(weights)
    for step in range(3):
        adam.apply_gradients([(tf.fill(w.shape, float(step + 1)), w) for w in weights])
    path = tf.train.Checkpoint(optimizer=adam).save(str(tmp_path / "ckpt"))
    fused = FusedAdam(2e-4)
    fused.build([keras.Variable(np.zeros(w.shape, np.float32)) for w in weights])
    tf.train.Checkpoint(optimizer=fused).restore(path).assert_consumed()
    for got, want in zip(fused.variables, adam.variables):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_fused_adam_under_loss_scaling_skips_an_overflow_and_applies_the_rest():
    weight = keras.Variable(np.ones([3], np.float32))
    optimizer = keras.optimizers.LossScaleOptimizer(FusedAdam(0.1))
    optimizer.build([weight])
    optimizer.apply_gradients([(tf.constant([np.inf, 1.0, 1.0]), weight)])
    np.testing.assert_array_equal(weight.numpy(), [1.0, 1.0, 1.0])
    scale = float(optimizer.dynamic_scale.numpy())
    optimizer.apply_gradients([(tf.constant([scale, scale, -scale]), weight)])
    np.testing.assert_allclose(weight.numpy(), [0.9, 0.9, 1.1], rtol=1e-5)
