import math

import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.models import losses


def test_vanilla_discriminator_loss_hand_computed():
    real = np.zeros((1, 2, 2, 1), np.float32)  # sigmoid(0) = 0.5 -> BCE log 2 for either label
    generated = np.full((1, 2, 2, 1), 2.0, np.float32)
    total, real_part, generated_part = losses.discriminator_loss(real, generated, gan_mode="vanilla")
    assert float(real_part[0]) == pytest.approx(math.log(2))
    assert float(generated_part[0]) == pytest.approx(math.log(1 + math.exp(2)))  # -log(1 - sigmoid(2))
    assert float(total[0]) == pytest.approx(0.5 * (math.log(2) + math.log(1 + math.exp(2))))  # D loss halved


def test_vanilla_generator_loss_is_non_saturating_plus_weighted_l1():
    logits = np.full((1, 2, 2, 1), -1.0, np.float32)
    generated = np.zeros((1, 4, 4, 3), np.float32)
    target = np.full((1, 4, 4, 3), 0.5, np.float32)
    total, gan, l1 = losses.generator_loss(logits, generated, target, gan_mode="vanilla", l1_weight=100.0)
    assert float(gan[0]) == pytest.approx(math.log(1 + math.exp(1)))  # -log sigmoid(-1)
    assert float(l1[0]) == pytest.approx(0.5)
    assert float(total[0]) == pytest.approx(math.log(1 + math.exp(1)) + 50.0)


def test_lsgan_losses():
    real = np.full((1, 1, 1, 1), 0.5, np.float32)
    generated = np.full((1, 1, 1, 1), 0.25, np.float32)
    total, real_part, generated_part = losses.discriminator_loss(real, generated, gan_mode="lsgan")
    assert float(real_part[0]) == pytest.approx(0.25)
    assert float(generated_part[0]) == pytest.approx(0.0625)
    assert float(total[0]) == pytest.approx(0.5 * 0.3125)
    total, gan, l1 = losses.generator_loss(generated, np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 2, 3)), gan_mode="lsgan")
    assert float(gan[0]) == pytest.approx(0.5625) and float(l1[0]) == 0.0


def test_losses_are_per_example():
    logits = np.stack([np.zeros((3, 3, 1)), np.full((3, 3, 1), 100.0)]).astype(np.float32)
    total, real_part, _ = losses.discriminator_loss(logits, logits)
    assert real_part.shape == (2,)
    assert float(real_part[0]) == pytest.approx(math.log(2)) and float(real_part[1]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("gan_mode", ["vanilla", "lsgan"])
def test_discriminator_health_reads_probabilities_and_patch_accuracy(gan_mode):
    sure = 20.0 if gan_mode == "vanilla" else 1.0
    real = tf.constant([[sure, sure, sure, -sure]], tf.float32)  # 3 of 4 real patches right
    generated = tf.constant([[-sure, -sure, -sure, -sure]], tf.float32) * (1 if gan_mode == "vanilla" else 0)
    p_real, p_generated, accuracy = losses.discriminator_health(real, generated, gan_mode=gan_mode)
    assert float(p_real[0]) == pytest.approx(0.75, abs=1e-6)
    assert float(p_generated[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(accuracy[0]) == pytest.approx(0.5 * (0.75 + 1.0))
