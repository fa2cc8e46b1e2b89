"""The step's floors: every convolution of G and D probed at its own shape, the bytes a step moves (no timing asserted)."""

import keras

from tfpix2pix.evaluate import floors
from tfpix2pix.models.discriminator import build_patchgan_discriminator
from tfpix2pix.models.generator import build_unet_generator


def test_every_convolution_is_probed_at_its_input_shape_in_the_step_and_d_counts_three_times():
    keras.utils.set_random_seed(0)
    generator = build_unet_generator(image_size=32, base_filters=4)
    discriminator = build_patchgan_discriminator(base_filters=4)
    floor = floors.compute_floor_seconds(generator, discriminator, image_size=32, batch_size=2, repeats=1)
    convolutions = [layer.name for model in (generator, discriminator) for layer in model.layers
                    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert [row["layer"] for row in floor["layers"]] == convolutions
    first = floor["layers"][0]
    assert first["input_shape"] == [2, 32, 32, 3] and first["passes"] == 1
    # D's first convolution sees the pair concatenated (6 channels) and padded by 1 pixel a side.
    assert next(row for row in floor["layers"] if row["model"] == "discriminator")["input_shape"] == [2, 34, 34, 6]
    d_rows = [row["seconds"] for row in floor["layers"] if row["model"] == "discriminator"]
    assert floor["discriminator_seconds"] == 3 * sum(d_rows)
    assert floor["seconds"] == floor["generator_seconds"] + floor["discriminator_seconds"]


def test_a_step_moves_40_bytes_per_parameter_in_float32_and_32_in_mixed_precision():
    assert floors.step_bytes(1000, "float32") == 40_000
    assert floors.step_bytes(1000, "mixed_bfloat16") == 32_000
