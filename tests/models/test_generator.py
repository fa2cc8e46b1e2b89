import keras
import numpy as np
import pytest

from tfpix2pix.models.generator import build_resnet_generator, build_unet_generator


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_unet_256_matches_paper_parameter_count():
    # U-Net 256, 64 base filters, instance norm, no conv bias before a norm (authors' layout).
    assert trainable_count(build_unet_generator(image_size=256)) == 54_413_955


@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("image_size,depth", [(256, 8), (128, 7)])
def test_unet_depth_follows_image_size(image_size, depth, norm):
    model = build_unet_generator(image_size=image_size, base_filters=4, norm=norm)
    downs = [layer for layer in model.layers if layer.name.startswith("down") and layer.name.endswith("_conv")]
    assert len(downs) == depth
    assert model.get_layer(f"down{depth - 1}_conv").output.shape[1:] == (None, None, 32)  # 4 * 8 at the bottleneck
    output = model(np.zeros((2, image_size, image_size, 3), np.float32))
    assert output.shape == (2, image_size, image_size, 3)


def test_unet_structure_follows_the_paper():
    model = build_unet_generator(image_size=256, base_filters=64)
    names = {layer.name for layer in model.layers}
    # No normalization on the first encoder layer nor at the 1x1 bottleneck (errata).
    assert "down0_norm" not in names and "down7_norm" not in names
    assert {f"down{i}_norm" for i in range(1, 7)} <= names
    # Dropout in the three innermost decoder blocks only.
    assert sorted(layer.name for layer in model.layers if "dropout" in layer.name) == [
        "up5_dropout", "up6_dropout", "up7_dropout"]
    slopes = {layer.negative_slope for layer in model.layers if "lrelu" in layer.name}
    assert len(slopes) == 1 and slopes.pop() == pytest.approx(0.2)
    assert model.layers[-1].activation.__name__ == "tanh"
    # Encoder widths C64-C128-C256-C512-C512-C512-C512-C512.
    widths = [model.get_layer(f"down{i}_conv").filters for i in range(8)]
    assert widths == [64, 128, 256, 512, 512, 512, 512, 512]


def test_unet_runs_on_other_sizes_that_are_multiples():
    model = build_unet_generator(image_size=32, base_filters=4)
    assert model(np.zeros((1, 64, 96, 3), np.float32)).shape == (1, 64, 96, 3)


def test_weights_are_normal_with_stddev_002():
    model = build_unet_generator(image_size=256, base_filters=64)
    kernel = model.get_layer("down3_conv").kernel.numpy()
    assert abs(kernel.mean()) < 1e-3 and kernel.std() == pytest.approx(0.02, rel=0.02)


def test_instance_norm_keeps_images_independent_of_batch_mates():
    model = build_unet_generator(image_size=32, base_filters=8, dropout=0.5)
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    others = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    alone = model(image, training=False).numpy()
    together = model(np.concatenate([image, others]), training=False).numpy()[:1]
    np.testing.assert_allclose(alone, together, atol=1e-5)
    # Batch-statistics mode too (the paper's test-time semantics), dropout off to compare.
    model = build_unet_generator(image_size=32, base_filters=8, dropout=0.0)
    alone = model(image, training=True).numpy()
    together = model(np.concatenate([image, others]), training=True).numpy()[:1]
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_batch_norm_is_not_independent_in_training_mode():
    model = build_unet_generator(image_size=32, base_filters=8, norm="batch", dropout=0.0)
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    others = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    alone = model(image, training=True).numpy()
    together = model(np.concatenate([image, others]), training=True).numpy()[:1]
    assert np.abs(alone - together).max() > 1e-3


def test_resnet_generator_shapes():
    model = build_resnet_generator(base_filters=8, num_blocks=9)
    assert model(np.zeros((2, 64, 64, 3), np.float32)).shape == (2, 64, 64, 3)
    assert len([layer for layer in model.layers if layer.name.endswith("_add")]) == 9


def test_build_generator_passes_dropout_to_both_architectures():
    from tfpix2pix.models.generator import build_generator

    resnet = build_generator(kind="resnet9", image_size=32, base_filters=8, resnet_blocks=2)
    assert [layer.rate for layer in resnet.layers if isinstance(layer, keras.layers.Dropout)] == [0.5, 0.5]
    unet = build_generator(kind="unet", image_size=32, base_filters=8)
    assert [layer.rate for layer in unet.layers if isinstance(layer, keras.layers.Dropout)] == [0.5, 0.5, 0.5]
