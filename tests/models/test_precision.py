"""A generator rebuilt under another precision policy: its weights, dtypes and outputs."""

import keras
import numpy as np
import pytest

from tfpix2pix import config as config_lib
from tfpix2pix.export import tflite
from tfpix2pix.models import precision
from tfpix2pix.models.generator import build_generator


@pytest.fixture(scope="module")
def config():
    return config_lib.preset("tiny")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)


def test_policy_is_set_for_the_block_only():
    with precision.policy("bfloat16"):
        assert keras.mixed_precision.global_policy().name == "bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(RuntimeError), precision.policy("mixed_bfloat16"):
        raise RuntimeError("a failed build")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_bfloat16_rebuild_stores_and_computes_in_bfloat16_with_float32_output(config, images):
    generator = build_generator(**config_lib.generator_arguments(config))
    bfloat16 = precision.rebuilt(generator, config, "bfloat16")
    assert {weight.dtype for weight in bfloat16.weights} == {"bfloat16"}
    assert bfloat16.get_layer("down1_conv").compute_dtype == "bfloat16"
    # The kernels are the float32 ones rounded to bfloat16 (8 bits of mantissa: relative error <= 2**-8).
    kernel, rounded = (keras.ops.convert_to_numpy(model.get_layer("down1_conv").kernel).astype(np.float32)
                       for model in (generator, bfloat16))
    assert np.all(np.abs(rounded - kernel) <= np.abs(kernel) * 2.0**-8)
    assert not np.array_equal(rounded, kernel)
    reference, output = generator(images, training=False).numpy(), bfloat16(images, training=False)
    assert output.dtype == "float32"  # the tanh output layer stays float32
    assert tflite.psnr(output.numpy(), reference) >= 40.0


def test_float32_rebuild_of_a_mixed_bfloat16_generator_has_its_weights(config, images):
    with precision.policy("mixed_bfloat16"):
        mixed = build_generator(**config_lib.generator_arguments(config))
    assert mixed.get_layer("down1_conv").compute_dtype == "bfloat16"
    copy = precision.rebuilt(mixed, config, "float32")
    assert copy.get_layer("down1_conv").compute_dtype == "float32"
    for ours, theirs in zip(copy.get_weights(), mixed.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert copy(images, training=False).dtype == "float32"
