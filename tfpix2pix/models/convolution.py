"""Convolutions with the same arithmetic as Keras' but faster gradient kernels, for training on CPU.

TensorFlow's CPU backward kernels (`Conv2DBackpropInput`, `Conv2DBackpropFilter`, oneDNN) are
slow for a convolution with one output channel: the discriminator's 4x4 512 -> 1 logits layer
(§3.2.2) spent about 60 ms per pass in them at 256x256 on an AVX2 CPU, against 3.5 ms for its
forward pass (docs/PERFORMANCE.md). Both gradients of a stride-1 VALID convolution can be written
with fast kernels and the same arithmetic:

- the input gradient is the 'full' convolution of the output gradient with the kernel flipped in
  space and with its channel axes swapped: one forward convolution;
- the kernel gradient is the input, with its channels as the batch, convolved with the output
  gradient as the kernel: one forward convolution.

The kernel gradient of the U-Net's innermost 4x4 stride-2 transposed convolutions (1x1 to 8x8
inputs with up to 1024 channels at 256x256) is slow in `Conv2DBackpropFilter` too, and for them
one matmul is 1.3-2x faster: the 4x4 windows of the padded output gradient, side by side on
channels, transposed, times the input.

The layers keep Keras' variables, names and config, so checkpoints and exports do not change;
only the gradients' kernels do.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _forward_gradient_convolution(inputs, kernel):
    """`tf.nn.conv2d(inputs, kernel, 1, "VALID")`, differentiated with forward kernels."""

    @tf.custom_gradient
    def convolve(inputs, kernel):
        outputs = tf.nn.conv2d(inputs, kernel, strides=1, padding="VALID")

        def gradient(output_gradient):
            rows, columns = kernel.shape[0], kernel.shape[1]
            padded = tf.pad(output_gradient, [[0, 0], [rows - 1, rows - 1], [columns - 1, columns - 1], [0, 0]])
            flipped = tf.transpose(tf.reverse(kernel, axis=[0, 1]), [0, 1, 3, 2])
            input_gradient = tf.nn.conv2d(padded, flipped, strides=1, padding="VALID")
            # Channels as the batch: (in, H, W, batch) convolved with the output gradient as a
            # (out_h, out_w, batch, out) kernel gives (in, rows, columns, out).
            kernel_gradient = tf.nn.conv2d(
                tf.transpose(inputs, [3, 1, 2, 0]), tf.transpose(output_gradient, [1, 2, 0, 3]), strides=1,
                padding="VALID",
            )
            return input_gradient, tf.transpose(kernel_gradient, [1, 2, 0, 3])

        return outputs, gradient

    return convolve(inputs, kernel)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class ForwardGradientConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` (stride 1, VALID, channels last) with gradients on forward kernels."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if (tuple(self.strides) != (1, 1) or self.padding != "valid" or tuple(self.dilation_rate) != (1, 1)
                or self.groups != 1 or self.data_format != "channels_last"):
            raise ValueError(
                "ForwardGradientConv2D takes stride 1, VALID padding, no dilation or groups, channels last"
            )

    def convolution_op(self, inputs, kernel):
        return _forward_gradient_convolution(inputs, tf.cast(kernel, inputs.dtype))


def _matmul_gradient_transposed_convolution(inputs, kernel):
    """A 4x4 stride-2 'same' `tf.nn.conv2d_transpose` whose kernel gradient is one matmul."""

    @tf.custom_gradient
    def transpose(inputs, kernel):
        shape = tf.shape(inputs)
        height, width = shape[1], shape[2]
        output_shape = tf.stack([shape[0], 2 * height, 2 * width, kernel.shape[2]])
        outputs = tf.nn.conv2d_transpose(inputs, kernel, output_shape, strides=2, padding="SAME")

        def gradient(output_gradient):
            input_gradient = tf.nn.conv2d(output_gradient, kernel, strides=2, padding="SAME")
            # The convolution this transposes pads its (2H, 2W) input by one on each side ('same').
            padded = tf.pad(output_gradient, [[0, 0], [1, 1], [1, 1], [0, 0]])
            windows = tf.image.extract_patches(
                padded, sizes=[1, 4, 4, 1], strides=[1, 2, 2, 1], rates=[1, 1, 1, 1], padding="VALID"
            )  # (batch, H, W, 16 * out), in the kernel's (row, column, out) order
            kernel_gradient = tf.matmul(
                tf.reshape(windows, [-1, 16 * kernel.shape[2]]), tf.reshape(inputs, [-1, kernel.shape[3]]),
                transpose_a=True,
            )
            return input_gradient, tf.reshape(kernel_gradient, kernel.shape)

        return outputs, gradient

    return transpose(inputs, kernel)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class MatmulGradientConv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` (4x4, stride 2, 'same', channels last) with a matmul kernel gradient."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if (tuple(self.kernel_size) != (4, 4) or tuple(self.strides) != (2, 2) or self.padding != "same"
                or tuple(self.dilation_rate) != (1, 1) or self.output_padding is not None
                or self.data_format != "channels_last"):
            raise ValueError(
                "MatmulGradientConv2DTranspose takes 4x4 kernels, stride 2, 'same' padding, channels last"
            )

    def call(self, inputs):
        outputs = _matmul_gradient_transposed_convolution(inputs, tf.cast(self.kernel, inputs.dtype))
        if self.use_bias:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        return self.activation(outputs) if self.activation is not None else outputs


_KERAS_LAYERS = {ForwardGradientConv2D: keras.layers.Conv2D,
                 MatmulGradientConv2DTranspose: keras.layers.Conv2DTranspose}


def keras_layer(layer) -> keras.layers.Layer:
    """An unbuilt copy of `layer` from its config: as the Keras layer it stands for when it is one of this module's."""
    return _KERAS_LAYERS.get(type(layer), type(layer)).from_config(layer.get_config())


def with_keras_layers(model: keras.Model) -> keras.Model:
    """A copy of `model` with the same weights, this module's layers replaced by the Keras layers they stand for."""
    copy = keras.models.clone_model(model, clone_function=keras_layer)
    copy.set_weights(model.get_weights())
    return copy
