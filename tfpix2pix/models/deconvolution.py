"""The U-Net decoder's transposed convolutions in phase form, for inference.

A 4x4 stride-2 'same' transposed convolution is four 2x2 convolutions, one per output phase (even
or odd row x even or odd column). `PhaseDeconvolution` computes them as one 2x2 convolution and a
pixel shuffle: the same output and FLOPs, but plain convolution kernels, which both TensorFlow's
(the SavedModel, Keras; oneDNN or Eigen) and XNNPACK (TFLite) run several times faster than
their transposed-convolution kernels for these shapes (docs/PERFORMANCE.md). Training keeps
`Conv2DTranspose` (or its subclass with a faster kernel gradient, models/convolution.py): there
the phase form only moves the slow kernel into the backward pass.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfpix2pix.models import convolution


class PhaseDeconvolution(keras.layers.Layer):
    """A 4x4 stride-2 'same' Conv2DTranspose computed as one 2x2 convolution and a pixel shuffle.

    Output row 2i + p (p = 0, 1) sums input rows i - 1 + p and i + p with kernel rows (3, 1) for
    p = 0 and (2, 0) for p = 1; columns alike. One 2x2 VALID convolution of the input padded by 1
    to 4 x filters channels therefore holds all four phases (py, px): phase (py, px) is its
    channel group 2 * py + px cropped at offset (py, px), and depth_to_space interleaves them.
    The kernel is rearranged once, into weights of this layer, so a TFLite file holds a plain
    CONV_2D. (The SavedModel export freezes them to constants in one function, export/savedmodel.py.)
    """

    def __init__(self, deconvolution: keras.layers.Conv2DTranspose, **kwargs):
        super().__init__(name=deconvolution.name, dtype=deconvolution.dtype_policy, **kwargs)
        kernel = np.transpose(keras.ops.convert_to_numpy(deconvolution.kernel), (0, 1, 3, 2))  # (4, 4, in, out)
        taps = ([3, 1], [2, 0])  # Kernel rows (or columns) for input offsets (-1, 0) at p = 0, (0, +1) at p = 1.
        phase_kernel = np.concatenate(
            [kernel[np.ix_(taps[py], taps[px])] for py in (0, 1) for px in (0, 1)], axis=-1
        )  # (2, 2, in, 4 * out), phase-major
        self.filters = deconvolution.filters
        self.activation = deconvolution.activation
        self.phase_kernel = self.add_weight(
            name="phase_kernel", shape=phase_kernel.shape, initializer=keras.initializers.Constant(phase_kernel),
            trainable=False,
        )
        self.bias = None
        if deconvolution.bias is not None:
            bias = keras.ops.convert_to_numpy(deconvolution.bias)
            self.bias = self.add_weight(
                name="bias", shape=bias.shape, initializer=keras.initializers.Constant(bias), trainable=False,
            )
        self.built = True

    def call(self, inputs):
        padded = tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]])
        kernel = tf.cast(self.phase_kernel, inputs.dtype)
        phases = tf.nn.conv2d(padded, kernel, 1, "VALID")  # (batch, H+1, W+1, 4 * out)
        # Rows 0..H-1 for p = 0 and 1..H for p = 1: slices without sizes, so any input size runs.
        stop = (-1, None)
        crops = [phases[:, py:stop[py], px:stop[px], (2 * py + px) * self.filters:(2 * py + px + 1) * self.filters]
                 for py in (0, 1) for px in (0, 1)]
        outputs = tf.nn.depth_to_space(tf.concat(crops, axis=-1), 2)  # (batch, 2H, 2W, out)
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, inputs.dtype)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        double = lambda side: None if side is None else 2 * side  # noqa: E731
        return (input_shape[0], double(input_shape[1]), double(input_shape[2]), self.filters)


def is_phase_decomposable(layer) -> bool:
    """A Conv2DTranspose that `PhaseDeconvolution` computes exactly: 4x4, stride 2, 'same', channels last."""
    return (isinstance(layer, keras.layers.Conv2DTranspose) and tuple(layer.kernel_size) == (4, 4)
            and tuple(layer.strides) == (2, 2) and layer.padding == "same" and tuple(layer.dilation_rate) == (1, 1)
            and layer.data_format == "channels_last" and layer.output_padding is None)


def with_phase_deconvolutions(generator: keras.Model) -> keras.Model:
    """An inference copy of the generator with its 4x4 stride-2 transposed convolutions in phase form.

    The convolutions with training kernels (models/convolution.py) become Keras' own layers: the
    same forward op, without a custom gradient in the graph, which a SavedModel would store. Every other
    layer (norms, dropout and its seed state) is shared with `generator`; the phase kernels and
    the encoder's kernels are copies taken now, so later training of `generator` does not reach them.
    """
    if not any(is_phase_decomposable(layer) or convolution.has_training_kernels(layer)
               for layer in generator.layers):
        return generator

    def call(layer, *args, **kwargs):
        if is_phase_decomposable(layer):
            return PhaseDeconvolution(layer)(*args)
        if convolution.has_training_kernels(layer):
            twin = convolution.keras_layer(layer)
            outputs = twin(*args)
            twin.set_weights(layer.get_weights())
            return outputs
        return layer(*args, **kwargs)

    return keras.models.clone_model(generator, clone_function=lambda layer: layer, call_function=call)
