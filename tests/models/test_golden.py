"""Golden values: a seeded tiny generator and discriminator give these exact outputs.

A change to an initializer, a layer order, padding or the seeding shows up here as a changed
number, before it shows up as a changed training run. The values were computed once with
keras.utils.set_random_seed(0) and are pinned to 1e-6 (float32 sums may differ in the last bits
between thread counts).
"""

import keras
import numpy as np
import pytest

from tfpix2pix.models.discriminator import build_patchgan_discriminator
from tfpix2pix.models.generator import build_unet_generator

RAMP = np.linspace(-1, 1, 32 * 32 * 3, dtype=np.float32).reshape(1, 32, 32, 3)


def test_seeded_tiny_unet_outputs_its_golden_values():
    keras.utils.set_random_seed(0)
    generator = build_unet_generator(image_size=32, base_filters=4)
    assert generator.count_params() == 65_835
    output = generator(RAMP, training=False).numpy()
    assert float(output.mean()) == pytest.approx(0.0019929532, abs=1e-6)
    assert float(output.std()) == pytest.approx(0.0570674241, abs=1e-6)
    np.testing.assert_allclose(output[0, 0, 0], [0.0123683056, 0.0093704211, -0.0074191676], atol=1e-6)
    np.testing.assert_allclose(output[0, 16, 16], [-0.1174033061, -0.0530662723, -0.0318185166], atol=1e-6)
    np.testing.assert_allclose(output[0, 31, 31], [-0.0168108437, -0.0066840486, -0.0156875588], atol=1e-6)


def test_seeded_tiny_patchgan_outputs_its_golden_values():
    keras.utils.set_random_seed(0)
    discriminator = build_patchgan_discriminator(base_filters=4)
    logits = discriminator([RAMP, RAMP], training=False).numpy()
    assert logits.shape == (1, 2, 2, 1)  # 32 px: 16, 8, 4 (three stride-2 convs), 3, then 2 (stride 1)
    assert float(logits.mean()) == pytest.approx(0.0309368800, abs=1e-6)
    assert float(logits[0, 0, 0, 0]) == pytest.approx(-0.0383530706, abs=1e-6)
