import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.models.convolution import (
    BlockGradientConv2D, ForwardGradientConv2D, MatmulGradientConv2D, MatmulGradientConv2DTranspose,
    has_training_kernels, with_keras_layers,
)
from tfpix2pix.models.discriminator import build_patchgan_discriminator
from tfpix2pix.models.generator import build_unet_generator


def gradients(model, inputs, weights):
    """The input and variable gradients of a weighted sum of `model`'s outputs."""
    inputs = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(tf.cast(model(inputs if len(inputs) > 1 else inputs[0]), tf.float32) * weights)
    return tape.gradient(loss, [*inputs, *model.trainable_variables])


def assert_same_outputs_and_gradients(ours, theirs, shape, rng):
    """`ours` and the Keras layer `theirs`, given `theirs`' random weights, agree on outputs and all gradients."""
    ours.build(shape)
    theirs.build(shape)
    theirs.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    x = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), atol=1e-5)
    weights = tf.constant(rng.normal(size=theirs.compute_output_shape(shape)).astype(np.float32))
    for a, b in zip(gradients(ours, [x], weights), gradients(theirs, [x], weights), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("filters,kernel,use_bias", [(1, 4, True), (5, 4, False), (3, 1, True), (2, 3, True)])
def test_gradients_equal_conv2d(filters, kernel, use_bias):
    assert_same_outputs_and_gradients(ForwardGradientConv2D(filters, kernel, use_bias=use_bias),
                                      keras.layers.Conv2D(filters, kernel, use_bias=use_bias),
                                      (2, 9, 11, 6), np.random.default_rng(0))  # batch 2, not square


@pytest.mark.parametrize("shape,filters,use_bias", [((2, 3, 5, 6), 4, True), ((1, 1, 1, 8), 3, False),
                                                    ((1, 4, 4, 16), 1, True)])
def test_transposed_gradients_equal_conv2d_transpose(shape, filters, use_bias):
    options = dict(strides=2, padding="same", use_bias=use_bias)
    assert_same_outputs_and_gradients(MatmulGradientConv2DTranspose(filters, 4, **options),
                                      keras.layers.Conv2DTranspose(filters, 4, **options), shape,
                                      np.random.default_rng(2))


@pytest.mark.parametrize("shape,filters,use_bias", [((2, 6, 10, 3), 5, True), ((1, 2, 2, 8), 3, False),
                                                    ((2, 7, 5, 4), 2, True), ((1, 1, 1, 6), 4, False)])
def test_encoder_gradients_equal_conv2d(shape, filters, use_bias):
    """Even sides as in the U-Net, and odd ones ('same' then pads two pixels after, one before)."""
    options = dict(strides=2, padding="same", use_bias=use_bias)
    assert_same_outputs_and_gradients(MatmulGradientConv2D(filters, 4, **options),
                                      keras.layers.Conv2D(filters, 4, **options), shape, np.random.default_rng(5))


@pytest.mark.parametrize("shape,padding,filters,use_bias", [
    ((1, 16, 12, 5), "same", 7, False), ((1, 9, 7, 3), "same", 4, True),   # batch 1: the four matmuls
    ((1, 18, 18, 6), "valid", 3, False), ((1, 11, 9, 2), "valid", 5, True),  # odd sides: the last row unread
    ((1, 1, 1, 4), "same", 2, False),
    ((2, 10, 10, 3), "same", 4, False), ((3, 9, 12, 2), "valid", 3, True),  # larger batches: TensorFlow's
])
def test_block_gradients_equal_conv2d(shape, padding, filters, use_bias):
    options = dict(strides=2, padding=padding, use_bias=use_bias)
    assert_same_outputs_and_gradients(BlockGradientConv2D(filters, 4, **options),
                                      keras.layers.Conv2D(filters, 4, **options), shape, np.random.default_rng(6))


def test_the_large_stride_2_layers_after_the_first_take_block_gradients_at_256():
    """At 256x256, G's down1 (128x128x64 input) and D's C128 (the same, padded): not the first layers (3 and 6
    channels), and not without a training size."""
    keras.utils.set_random_seed(0)  # the same weights whichever tests ran before
    generator = build_unet_generator(image_size=256, base_filters=2, dropout=0.0)
    discriminator = build_patchgan_discriminator(base_filters=2, image_size=256)
    block = lambda model: [layer.name for layer in model.layers if isinstance(layer, BlockGradientConv2D)]  # noqa: E731
    assert block(generator) == ["down1_conv"] and block(discriminator) == ["c1_conv"]
    assert not block(build_unet_generator(image_size=64, base_filters=2)) and not block(
        build_patchgan_discriminator(base_filters=2))
    assert not any(has_training_kernels(layer) for layer in with_keras_layers(discriminator).layers)
    rng = np.random.default_rng(7)
    pair = [rng.uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32) for _ in range(2)]
    weights = tf.constant(rng.normal(size=(1, 30, 30, 1)).astype(np.float32))
    ours, theirs = gradients(discriminator, pair, weights), gradients(with_keras_layers(discriminator), pair, weights)
    for a, b in zip(ours, theirs, strict=True):
        # As in the U-Net's test below: summation order shows at about 1e-6 of the largest entry.
        scale = float(np.max(np.abs(b.numpy())))
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=max(1e-5, 1e-6 * scale))


def test_unet_small_layers_use_them_and_train_like_keras_layers():
    """At 64x64 the encoder's inputs are 64x64 (down0) to 2x2 (down5): down1 to down5 have at most 32x32;
    the decoder's are 1x1 (up5) to 16x16 (up1): up5 to up2 have at most 8x8."""
    keras.utils.set_random_seed(0)  # the same weights whichever tests ran before
    model = build_unet_generator(image_size=64, base_filters=4, dropout=0.0)
    assert [layer.name for layer in model.layers if isinstance(layer, MatmulGradientConv2D)] == [
        "down1_conv", "down2_conv", "down3_conv", "down4_conv", "down5_conv"]
    assert [layer.name for layer in model.layers if isinstance(layer, MatmulGradientConv2DTranspose)] == [
        "up5_deconv", "up4_deconv", "up3_deconv", "up2_deconv"]
    plain = with_keras_layers(model)
    rng = np.random.default_rng(3)
    images = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    weights = tf.constant(rng.normal(size=(2, 64, 64, 3)).astype(np.float32))
    ours, theirs = gradients(model, [images], weights), gradients(plain, [images], weights)
    assert len(ours) == 1 + len(model.trainable_variables)
    for a, b in zip(ours, theirs, strict=True):
        # Through 20 layers float32's summation order shows at about 1e-6 of a gradient's largest
        # entry (up to 120 here): the absolute bound scales with it, never below 1e-5.
        scale = float(np.max(np.abs(b.numpy())))
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=max(1e-5, 1e-6 * scale))


def test_patchgan_stride_1_layers_use_it_and_its_gradients_equal_keras_layers():
    model = build_patchgan_discriminator(base_filters=4, num_layers=3)
    assert [layer.name for layer in model.layers if isinstance(layer, ForwardGradientConv2D)] == ["c3_conv",
                                                                                              "logits_conv"]
    plain = with_keras_layers(model)
    assert not any(isinstance(layer, ForwardGradientConv2D) for layer in plain.layers)
    rng = np.random.default_rng(1)
    pair = [rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32) for _ in range(2)]
    weights = tf.constant(rng.normal(size=(2, 6, 6, 1)).astype(np.float32))
    ours, theirs = gradients(model, pair, weights), gradients(plain, pair, weights)
    assert len(ours) == len(theirs) == 2 + len(model.trainable_variables)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("build", [lambda: build_patchgan_discriminator(base_filters=4),
                                   lambda: build_unet_generator(image_size=32, base_filters=4)])
def test_checkpoints_of_keras_layers_restore_into_them(tmp_path, build):
    """Same variables and names: models saved before these layers existed restore unchanged."""
    model, plain = build(), with_keras_layers(build())
    path = tf.train.Checkpoint(model=plain).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched()
    for a, b in zip(model.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("build", [lambda: ForwardGradientConv2D(1, 4),
                                   lambda: MatmulGradientConv2D(1, 4, strides=2, padding="same"),
                                   lambda: BlockGradientConv2D(1, 4, strides=2, padding="same"),
                                   lambda: MatmulGradientConv2DTranspose(1, 4, strides=2, padding="same")])
def test_runs_under_mixed_bfloat16(build):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = build()
        x = tf.random.uniform((1, 8, 8, 4))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32))
        input_gradient, kernel_gradient, _ = tape.gradient(loss, [x, *layer.trainable_variables])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == tf.bfloat16
    assert kernel_gradient.dtype == tf.float32 and kernel_gradient.shape == layer.kernel.shape
    assert input_gradient.shape == x.shape


@pytest.mark.parametrize("options", [{"strides": 2}, {"padding": "same"}, {"dilation_rate": 2}])
def test_refuses_what_it_does_not_compute(options):
    with pytest.raises(ValueError, match="stride 1, VALID padding"):
        ForwardGradientConv2D(1, 4, **options)


@pytest.mark.parametrize("options", [{"kernel_size": 3}, {"strides": 1}, {"padding": "valid"}])
@pytest.mark.parametrize("kind", [MatmulGradientConv2DTranspose, MatmulGradientConv2D])
def test_matmul_layers_refuse_what_they_do_not_compute(kind, options):
    with pytest.raises(ValueError, match="4x4 kernels, stride 2, 'same'"):
        kind(**{"filters": 1, "kernel_size": 4, "strides": 2, "padding": "same", **options})


@pytest.mark.parametrize("options", [{"kernel_size": 3}, {"strides": 1}, {"data_format": "channels_first"}])
def test_block_layer_refuses_what_it_does_not_compute(options):
    with pytest.raises(ValueError, match="4x4 kernels, stride 2, no dilation"):
        BlockGradientConv2D(**{"filters": 1, "kernel_size": 4, "strides": 2, **options})


def test_with_keras_layers_undoes_them_and_keeps_outputs():
    rng = np.random.default_rng(4)
    images = tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32))
    for model, inputs in ((build_unet_generator(image_size=32, base_filters=4), images),
                          (build_patchgan_discriminator(base_filters=4), [images, images])):
        ours = {type(layer) for layer in model.layers} & {ForwardGradientConv2D, MatmulGradientConv2D,
                                                          MatmulGradientConv2DTranspose}
        assert ours, model.name
        copy = with_keras_layers(model)
        assert not {type(layer) for layer in copy.layers} & ours
        assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
        np.testing.assert_allclose(copy(inputs).numpy(), model(inputs).numpy(), atol=1e-6)
