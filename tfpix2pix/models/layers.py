"""Instance normalization: the paper's batch norm at batch size 1, at every batch size."""

import math

import keras
import tensorflow as tf


# Values in an activation from which its norm trains faster as batch norm: on 2 cores the fused
# ops cost about 0.3 ms a call with their gradient, so 1x64x64x16 (65,536 values) is level with the
# moments form and 1x64x64x64 takes 0.74x its time (docs/PERFORMANCE.md).
BATCH_NORM_FORM_MIN_VALUES = 2**17


def _batch_norm_form_pays(inputs) -> bool:
    """Whether `inputs` is large enough for the batch-norm form; true when its size is not known."""
    batch, *image = tuple(inputs.shape)
    if None in image:
        return True
    return (batch or 1) * math.prod(image) >= BATCH_NORM_FORM_MIN_VALUES


@keras.saving.register_keras_serializable(package="tfpix2pix")
class InstanceNormalization(keras.layers.Layer):
    """Normalizes each image and channel over height and width, then scales and shifts.

    Equivalent to `keras.layers.GroupNormalization(groups=-1)`, computed two ways:

    - inference (`training` false: exports, validation, sampling): one `tf.nn.moments` and a single
      fused multiply-add, scale = gamma / sqrt(var + eps), offset = beta - mean * scale. Up to twice
      as fast as GroupNormalization's reshape-based path on CPU (2x on an AVX2 EPYC, level on an
      AMX Xeon); it exports to TFLite and ONNX as plain mean/mul/add ops, and TensorFlow's oneDNN
      remapper fuses it into one op in the frozen bfloat16 SavedModel.
    - training: batch norm in training mode, one `FusedBatchNormV3` op forward and one gradient op
      backward, over the batch moved into channels ([N, H, W, C] -> [1, H, W, N x C]: at N = 1 that
      move is free). The same function; at batch 1 its forward and backward take 0.65-0.7x the
      time of the moments form's in float32 and about half in bfloat16 (docs/PERFORMANCE.md). Small
      activations (under BATCH_NORM_FORM_MIN_VALUES) train in the moments form: the fused ops' fixed
      cost is larger than their gain there.

    §3.3: the paper trains with batch norm at batch size 1, which is exactly this ("instance
    normalization"); unlike batch norm at larger batches it keeps each image independent of its
    batch mates.
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        # Appendix 6.1 / authors' code: scale initialised around 1, offset at 0.
        self.gamma = self.add_weight(
            name="gamma", shape=(channels,), initializer=keras.initializers.RandomNormal(1.0, 0.02)
        )
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, inputs, training=None):
        if training and _batch_norm_form_pays(inputs):
            return self._batch_norm_form(inputs)
        # Statistics in float32 even under a mixed precision policy: variance underflows in 16 bits.
        x = tf.cast(inputs, tf.float32)
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        scale = tf.cast(self.gamma, tf.float32) * tf.math.rsqrt(variance + self.epsilon)
        offset = tf.cast(self.beta, tf.float32) - mean * scale
        return tf.cast(x * scale + offset, inputs.dtype)

    def _batch_norm_form(self, inputs):
        """The same normalization as batch norm in training mode over one image holding the batch's channels.

        Each (image, channel) pair becomes a channel of a single image, so its batch statistics are
        that image's statistics over height and width. The op keeps them in float32 for 16-bit inputs.
        """
        shape = tf.shape(inputs)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        moved = tf.reshape(tf.transpose(inputs, [1, 2, 0, 3]), [1, height, width, -1])
        no_statistics = tf.constant([], tf.float32)  # Training mode computes them; the op wants empty inputs.
        normalized = tf.raw_ops.FusedBatchNormV3(
            x=moved, scale=tf.tile(tf.cast(self.gamma, tf.float32), [batch]),
            offset=tf.tile(tf.cast(self.beta, tf.float32), [batch]), mean=no_statistics, variance=no_statistics,
            epsilon=self.epsilon, is_training=True,
        )[0]
        return tf.transpose(tf.reshape(normalized, [height, width, batch, channels]), [2, 0, 1, 3])

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def normalization(norm: str, *, synchronized: bool = False, name: str | None = None):
    """Returns the normalization layer for `norm` ("instance" | "batch"); None for "none".

    `synchronized` batch norm shares statistics across replicas under a distribution strategy.
    """
    if norm == "instance":
        return InstanceNormalization(name=name)
    if norm == "batch":
        return keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name,
            gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
        )
    if norm == "none":
        return None
    raise ValueError(f"norm must be instance, batch or none, got {norm!r}")


def conv_initializer():
    """Weights drawn from N(0, 0.02) (§6.2)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by mirroring, as the ResNet generator's 7x7 and 3x3 convs expect."""

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, inputs):
        p = self.padding
        return tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape):
        grow = lambda side: None if side is None else side + 2 * self.padding  # noqa: E731
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
