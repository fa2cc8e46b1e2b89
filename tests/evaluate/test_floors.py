"""The step's floors: every convolution of G and D probed at its own shape, the bytes a step moves (no timing asserted)."""

import keras
import pytest

from tfpix2pix.evaluate import bench, floors
from tfpix2pix.models.discriminator import build_patchgan_discriminator
from tfpix2pix.models.generator import build_unet_generator


def _models():
    keras.utils.set_random_seed(0)
    return build_unet_generator(image_size=32, base_filters=4), build_patchgan_discriminator(base_filters=4)


def test_every_convolution_is_probed_at_its_input_shape_in_the_step_and_d_counts_three_times():
    generator, discriminator = _models()
    floor = floors.compute_floor_seconds(generator, discriminator, image_size=32, batch_size=2, repeats=1)
    convolutions = [layer.name for model in (generator, discriminator) for layer in model.layers
                    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert [row["layer"] for row in floor["layers"]] == convolutions
    first = floor["layers"][0]
    assert first["input_shape"] == [2, 32, 32, 3] and first["passes"] == 1
    # D's first convolution sees the pair concatenated (6 channels) and padded by 1 pixel a side.
    assert next(row for row in floor["layers"] if row["model"] == "discriminator")["input_shape"] == [2, 34, 34, 6]
    for row in floor["layers"]:
        # A layer's floor: its forward, input gradient and kernel gradient at the forward's rate, per pass.
        assert row["floor_seconds"] == pytest.approx(3 * row["passes"] * row["forward_seconds"])
        assert row["probe_gflops"] == pytest.approx(row["gflop"] / row["forward_seconds"])
    d_rows = [row for row in floor["layers"] if row["model"] == "discriminator"]
    assert floor["discriminator_seconds"] == pytest.approx(sum(row["floor_seconds"] for row in d_rows))
    assert floor["seconds"] == pytest.approx(floor["generator_seconds"] + floor["discriminator_seconds"])
    assert floor["alone_seconds"] == pytest.approx(sum(row["seconds"] * row["passes"] for row in floor["layers"]))


def test_a_layers_flops_are_counted_by_hand():
    generator, discriminator = _models()
    shapes = dict((layer.name, shape) for layer, shape in floors.layer_input_shapes(generator, [(2, 32, 32, 3)]))
    first = generator.get_layer("down0_conv")
    # (2, 32, 32, 3) -> (2, 16, 16, 4) through a 4x4 kernel: 2 FLOP x 512 positions x 4 * 4 * 3 * 4.
    assert floors.layer_gflop(first, shapes["down0_conv"]) == pytest.approx(2 * 512 * 4 * 4 * 3 * 4 / 1e9)
    last = generator.get_layer("out_deconv")
    batch, height, width, channels = shapes["out_deconv"]
    # A transposed convolution scatters every input pixel through the whole 4x4 x in x out kernel.
    assert floors.layer_gflop(last, shapes["out_deconv"]) == pytest.approx(
        2 * batch * height * width * 16 * channels * 3 / 1e9)
    image = [1, 32, 32, 3]
    assert bench.conv_gflop(discriminator, [image, image]) == pytest.approx(sum(
        floors.layer_gflop(layer, shape) for layer, shape in floors.layer_input_shapes(discriminator, [image, image])))


def test_the_memory_bandwidth_probe_updates_in_place_and_reports_bytes_per_second():
    assert floors.memory_bandwidth_bytes_per_second(megabytes=16, repeats=1) > 0


def test_a_step_moves_40_bytes_per_parameter_in_float32_and_32_in_mixed_precision():
    assert floors.step_bytes(1000, "float32") == 40_000
    assert floors.step_bytes(1000, "mixed_bfloat16") == 32_000
