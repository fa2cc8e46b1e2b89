"""The custom layers: what they compute, and that they survive Keras serialization and a .keras file."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.models import precision
from tfpix2pix.models.layers import InstanceNormalization, ReflectionPadding2D, normalization

IMAGES = np.random.default_rng(0).normal(size=(2, 8, 6, 3)).astype(np.float32)


def test_instance_norm_normalizes_each_image_and_channel_over_its_pixels():
    layer = InstanceNormalization()
    layer.build(IMAGES.shape)
    layer.gamma.assign(np.ones(3, np.float32))
    output = layer(IMAGES).numpy()
    np.testing.assert_allclose(output.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(output.var(axis=(1, 2)), 1.0, atol=1e-3)
    group = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)  # the same computation in Keras
    np.testing.assert_allclose(group(IMAGES).numpy(), output, atol=1e-5)


def _outputs_and_gradients(layer, images, training):
    weights = tf.random.stateless_normal(images.shape, seed=[1, 2])  # A weighted sum: its gradients are not zero.

    # Traced for any shape, as a train step of unknown image size would be: the training form then
    # runs whatever the size (the size rule is tested below).
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, images.shape[-1]])])
    def run(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = layer(images, training=training)
            loss = tf.reduce_sum(tf.cast(outputs, tf.float32) * weights)
        return [outputs, *tape.gradient(loss, [images, layer.gamma, layer.beta])]

    return run(tf.constant(images))


def _op_types(layer, shape, training):
    function = tf.function(lambda images: layer(images, training=training))
    return {op.type for op in function.get_concrete_function(tf.TensorSpec(shape)).graph.get_operations()}


@pytest.mark.parametrize("batch", [1, 3])
def test_instance_norm_trains_as_batch_norm_with_the_same_outputs_and_gradients(batch):
    layer = InstanceNormalization()
    layer.build(IMAGES.shape)
    layer.gamma.assign([0.5, 1.5, 2.0])
    layer.beta.assign([0.1, -0.2, 0.3])
    images = np.random.default_rng(batch).normal(size=(batch, 8, 6, 3)).astype(np.float32) * 3 + 1
    expected = _outputs_and_gradients(layer, images, training=False)
    for got, want in zip(_outputs_and_gradients(layer, images, training=True), expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-5, rtol=1e-5)
    # Training runs one fused op each way (the faster form); inference the moments form TFLite and ONNX take.
    trained = _op_types(layer, [None, None, None, 3], True)
    assert "FusedBatchNormV3" in trained and "Mean" not in trained
    assert "FusedBatchNormV3" not in _op_types(layer, [None, None, None, 3], False)


def test_instance_norm_trains_small_activations_in_the_moments_form():
    layer = InstanceNormalization()
    layer.build((None, None, None, 32))
    # 1x64x64x32 holds BATCH_NORM_FORM_MIN_VALUES values; one row fewer is under it.
    assert "FusedBatchNormV3" in _op_types(layer, [1, 64, 64, 32], True)
    assert "FusedBatchNormV3" in _op_types(layer, [2, 32, 64, 32], True)
    small = _op_types(layer, [1, 63, 64, 32], True)
    assert "FusedBatchNormV3" not in small and "Mean" in small


def test_instance_norm_trains_in_bfloat16_close_to_its_float32_result():
    with precision.policy("mixed_bfloat16"):
        layer = InstanceNormalization()
        layer.build(IMAGES.shape)
        trained = layer(tf.cast(IMAGES, tf.bfloat16), training=True)
    assert trained.dtype == tf.bfloat16
    float32 = InstanceNormalization()
    float32.build(IMAGES.shape)
    float32.set_weights(layer.get_weights())
    # bfloat16 keeps 8 significant bits: a normalized value near 2 is rounded by up to 2**-7.
    np.testing.assert_allclose(tf.cast(trained, tf.float32).numpy(), float32(IMAGES, training=False).numpy(),
                               atol=2e-2)


def test_reflection_padding_mirrors_without_repeating_the_edge():
    output = ReflectionPadding2D(1)(tf.reshape(tf.range(12.0), [1, 3, 4, 1])).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(output[1], [1, 0, 1, 2, 3, 2])  # input row 0 (0 1 2 3), mirrored at both ends
    np.testing.assert_array_equal(output[0], output[2])  # the top pad is input row 1, mirrored over row 0
    np.testing.assert_array_equal(output[4], output[2])  # and the bottom pad input row 1, mirrored over row 2
    assert ReflectionPadding2D(2).compute_output_shape((None, 5, None, 3)) == (None, 9, None, 3)


@pytest.mark.parametrize("layer", [InstanceNormalization(epsilon=1e-3, name="norm"), ReflectionPadding2D(2, name="pad")],
                         ids=["instance_norm", "reflection_padding"])
def test_config_round_trip_rebuilds_an_equal_layer(layer):
    expected = layer(IMAGES).numpy()
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == layer.get_config()
    rebuilt(IMAGES)
    rebuilt.set_weights(layer.get_weights())
    np.testing.assert_array_equal(rebuilt(IMAGES).numpy(), expected)


def test_a_keras_file_with_both_layers_reloads_with_identical_outputs(tmp_path):
    inputs = keras.Input((None, None, 3))
    outputs = InstanceNormalization(name="norm")(ReflectionPadding2D(1, name="pad")(inputs))
    model = keras.Model(inputs, outputs)
    model.get_layer("norm").gamma.assign([0.5, 1.5, 2.0])
    path = str(tmp_path / "layers.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in reloaded.layers[1:]] == ["ReflectionPadding2D", "InstanceNormalization"]
    np.testing.assert_array_equal(reloaded(IMAGES).numpy(), model(IMAGES).numpy())


def test_normalization_names_each_choice_and_refuses_others():
    assert isinstance(normalization("instance"), InstanceNormalization)
    assert isinstance(normalization("batch"), keras.layers.BatchNormalization)
    assert normalization("none") is None
    with pytest.raises(ValueError, match="norm must be instance, batch or none, got 'layer'"):
        normalization("layer")
