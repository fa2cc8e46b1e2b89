"""Convolutions with the same arithmetic as Keras' but faster gradient kernels, for training on CPU.

TensorFlow's CPU backward kernels (`Conv2DBackpropInput`, `Conv2DBackpropFilter`; Eigen's on an
AVX2 CPU, where TensorFlow leaves oneDNN off) are slow for a convolution with one output channel:
the discriminator's 4x4 512 -> 1 logits layer (§3.2.2) spent about 60 ms per pass in them at
256x256 on an AVX2 CPU, against 3.5 ms for its forward pass (docs/PERFORMANCE.md). Both
gradients of a stride-1 VALID convolution can be written with fast kernels and the same
arithmetic:

- the input gradient is the 'full' convolution of the output gradient with the kernel flipped in
  space and with its channel axes swapped: one forward convolution;
- the kernel gradient is the input, with its channels as the batch, convolved with the output
  gradient as the kernel: one forward convolution.

The kernel gradient of the U-Net's innermost 4x4 stride-2 transposed convolutions (1x1 to 8x8
inputs with up to 1024 channels at 256x256) is slow in `Conv2DBackpropFilter` too, and for them
one matmul is 1.3-2x faster: the 4x4 windows of the padded output gradient, side by side on
channels, transposed, times the input.

The U-Net encoder's 4x4 stride-2 convolutions on 32x32 and smaller inputs (down3 to down7 at
256x256) are 1.3-2.9x faster with both gradients as matmuls: the kernel gradient is the input's 4x4
windows, transposed, times the output gradient; the input gradient is the output gradient times
the kernel, one row of 16 taps per output position, folded back onto the input. The fold uses
space-to-depth: tap (ky, kx) = (2by + dy, 2bx + dx) of output (oy, ox) lands on padded input pixel
(2(oy + by) + dy, 2(ox + bx) + dx), that is block (oy + by, ox + bx), channel group (dy, dx). So
four shifted pads, their sum and one `depth_to_space` put every tap in place.

The kernel gradient of the large 4x4 stride-2 convolutions after the first (G's down1 and D's
C128 at 256x256: 128x128x64 inputs) is slow at batch 1 in `Conv2DBackpropFilter` (33 ms against
10 ms for the forward pass). With the same space-to-depth identity it is four matmuls, one per
block offset, 1.8x faster at batch 1; at batch 4 TensorFlow's is as fast, and is kept there.

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


def _windows(padded):
    """The 4x4 windows of `padded` at stride 2, side by side on channels in a kernel's (row, column, channel) order."""
    return tf.image.extract_patches(padded, sizes=[1, 4, 4, 1], strides=[1, 2, 2, 1], rates=[1, 1, 1, 1],
                                    padding="VALID")


def _same_padded(inputs, output_gradient):
    """`inputs` padded as a 4x4 stride-2 'same' convolution pads them: one pixel before, and after
    whatever makes each side 2 x output + 2 (one pixel at even sides, two at odd ones)."""
    after = 2 * tf.shape(output_gradient)[1:3] + 1 - tf.shape(inputs)[1:3]
    return tf.pad(inputs, [[0, 0], [1, after[0]], [1, after[1]], [0, 0]])


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
            windows = _windows(padded)  # (batch, H, W, 16 * out)
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


def _matmul_gradient_convolution(inputs, kernel):
    """A 4x4 stride-2 'same' `tf.nn.conv2d` whose gradients are matmuls (any batch and sides)."""

    @tf.custom_gradient
    def convolve(inputs, kernel):
        outputs = tf.nn.conv2d(inputs, kernel, strides=2, padding="SAME")

        def gradient(output_gradient):
            channels, filters = kernel.shape[2], kernel.shape[3]
            shape, rows = tf.shape(output_gradient), tf.shape(inputs)[1:3]
            batch, height, width = shape[0], shape[1], shape[2]
            flat_gradient = tf.reshape(output_gradient, [-1, filters])
            flat_kernel = tf.reshape(kernel, [16 * channels, filters])  # rows in (ky, kx, in) order
            # kernel @ gradient^T, then transposed: 4-6x faster here than gradient @ kernel^T.
            taps = tf.transpose(tf.matmul(flat_kernel, flat_gradient, transpose_b=True))
            taps = tf.reshape(taps, tf.stack([batch, height, width, 2, 2, 2, 2, channels]))  # (by, dy, bx, dx)
            taps = tf.reshape(tf.transpose(taps, [0, 1, 2, 3, 5, 4, 6, 7]),
                              tf.stack([batch, height, width, 2, 2, 4 * channels]))  # (by, bx), then (dy, dx, in)
            blocks = tf.add_n([tf.pad(taps[:, :, :, by, bx], [[0, 0], [by, 1 - by], [bx, 1 - bx], [0, 0]])
                               for by in (0, 1) for bx in (0, 1)])
            # 'same' pads one pixel before (and one or two after): the input starts at padded pixel 1.
            padded_gradient = tf.nn.depth_to_space(blocks, 2)
            input_gradient = padded_gradient[:, 1:1 + rows[0], 1:1 + rows[1], :]
            windows = _windows(_same_padded(inputs, output_gradient))  # (batch, H/2, W/2, 16 * in)
            # One matmul per image, then their sum: the order a mirrored strategy's all-reduce adds
            # its replicas' gradients in, so that one device and two replicas agree to the last bit.
            kernel_gradient = tf.reduce_sum(tf.matmul(
                tf.reshape(windows, tf.stack([batch, -1, 16 * channels])),
                tf.reshape(output_gradient, tf.stack([batch, -1, filters])), transpose_a=True), axis=0)
            return input_gradient, tf.reshape(kernel_gradient, kernel.shape)

        return outputs, gradient

    return convolve(inputs, kernel)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class MatmulGradientConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` (4x4, stride 2, 'same', channels last) with matmul gradients."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if (tuple(self.kernel_size) != (4, 4) or tuple(self.strides) != (2, 2) or self.padding != "same"
                or tuple(self.dilation_rate) != (1, 1) or self.groups != 1 or self.data_format != "channels_last"):
            raise ValueError("MatmulGradientConv2D takes 4x4 kernels, stride 2, 'same' padding, no dilation or "
                             "groups, channels last")

    def convolution_op(self, inputs, kernel):
        return _matmul_gradient_convolution(inputs, tf.cast(kernel, inputs.dtype))


def _block_kernel_gradient(padded, output_gradient, kernel_shape):
    """The kernel gradient of a 4x4 stride-2 VALID convolution of `padded`, as four matmuls.

    Tap (ky, kx) = (2a + dy, 2b + dx) of output (oy, ox) reads padded pixel (2(oy + a) + dy,
    2(ox + b) + dx): block (oy + a, ox + b) of the space-to-depth input, channel group (dy, dx). So
    the 16 taps are four matmuls, one per block offset (a, b), of the shifted space-to-depth input
    with the output gradient; each matmul is per image, then summed, like the encoder's above.
    """
    channels, filters = kernel_shape[2], kernel_shape[3]
    shape = tf.shape(output_gradient)
    batch, height, width = shape[0], shape[1], shape[2]
    blocks = tf.nn.space_to_depth(padded[:, :2 * height + 2, :2 * width + 2], 2)  # (batch, H + 1, W + 1, 4 * in)
    gradient = tf.reshape(output_gradient, tf.stack([batch, -1, filters]))
    rows = tf.stack([batch, -1, 4 * channels])
    taps = [tf.reduce_sum(tf.matmul(tf.reshape(blocks[:, a:a + height, b:b + width], rows), gradient, transpose_a=True),
                          axis=0)
            for a in (0, 1) for b in (0, 1)]  # each (dy, dx, in) x out
    taps = tf.reshape(tf.stack(taps), [2, 2, 2, 2, channels, filters])  # (a, b, dy, dx, in, out)
    return tf.reshape(tf.transpose(taps, [0, 2, 1, 3, 4, 5]), kernel_shape)  # ky = 2a + dy, kx = 2b + dx


def _block_gradient_convolution(inputs, kernel, padding):
    """A 4x4 stride-2 `tf.nn.conv2d` whose kernel gradient is `_block_kernel_gradient` at batch 1.

    At a larger or unknown batch TensorFlow's kernel gradient is as fast (batch 4: 0.91-1.05x for
    the blocks), so it is kept there.
    """

    @tf.custom_gradient
    def convolve(inputs, kernel):
        outputs = tf.nn.conv2d(inputs, kernel, strides=2, padding=padding)

        def gradient(output_gradient):
            strides = [1, 2, 2, 1]
            input_gradient = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(inputs), filter=kernel, out_backprop=output_gradient, strides=strides,
                padding=padding,
            )
            if output_gradient.shape[0] != 1:
                return input_gradient, tf.raw_ops.Conv2DBackpropFilter(
                    input=inputs, filter_sizes=tf.shape(kernel), out_backprop=output_gradient, strides=strides,
                    padding=padding,
                )
            padded = _same_padded(inputs, output_gradient) if padding == "SAME" else inputs
            return input_gradient, _block_kernel_gradient(padded, output_gradient, kernel.shape)

        return outputs, gradient

    return convolve(inputs, kernel)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class BlockGradientConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` (4x4, stride 2, 'same' or 'valid', channels last) with a four-matmul kernel gradient."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if (tuple(self.kernel_size) != (4, 4) or tuple(self.strides) != (2, 2)
                or tuple(self.dilation_rate) != (1, 1) or self.groups != 1 or self.data_format != "channels_last"):
            raise ValueError("BlockGradientConv2D takes 4x4 kernels, stride 2, no dilation or groups, channels last")

    def convolution_op(self, inputs, kernel):
        return _block_gradient_convolution(inputs, tf.cast(kernel, inputs.dtype), self.padding.upper())


_KERAS_LAYERS = {ForwardGradientConv2D: keras.layers.Conv2D, MatmulGradientConv2D: keras.layers.Conv2D,
                 BlockGradientConv2D: keras.layers.Conv2D, MatmulGradientConv2DTranspose: keras.layers.Conv2DTranspose}


def has_training_kernels(layer) -> bool:
    """Whether `layer` is one of this module's: Keras' layer with custom gradients, which inference does not need."""
    return type(layer) in _KERAS_LAYERS


def keras_layer(layer) -> keras.layers.Layer:
    """An unbuilt copy of `layer` from its config: as the Keras layer it stands for when it is one of this module's."""
    return _KERAS_LAYERS.get(type(layer), type(layer)).from_config(layer.get_config())


def with_keras_layers(model: keras.Model) -> keras.Model:
    """A copy of `model` with the same weights, this module's layers replaced by the Keras layers they stand for."""
    copy = keras.models.clone_model(model, clone_function=keras_layer)
    copy.set_weights(model.get_weights())
    return copy
