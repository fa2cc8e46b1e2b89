"""The conditional PatchGAN discriminator (§3.2.2, appendix 6.1.2)."""

import keras

from tfpix2pix.models.convolution import BlockGradientConv2D, ForwardGradientConv2D
from tfpix2pix.models.layers import conv_initializer, normalization

# Stride-2 layers after the first whose input at the training size is at least this side (before
# padding) take the four-matmul kernel gradient at batch 1 (C128 at 256x256: 1.69x alone).
BLOCK_GRADIENT_MIN_SIDE = 128


def build_patchgan_discriminator(
    *,
    input_channels: int = 3,
    output_channels: int = 3,
    base_filters: int = 64,
    num_layers: int = 3,
    norm: str = "instance",
    synchronized: bool = False,
    image_size: int | None = None,
) -> keras.Model:
    """Builds a PatchGAN whose every output logit judges one patch of the (input, image) pair.

    Receptive field by `num_layers`: 0 -> 1x1 (PixelGAN), 1 -> 16x16, 3 -> 70x70 (the paper's
    default, best on Cityscapes in Table 3), 5 -> 286x286. For 256x256 inputs and 3 layers the
    output is (batch, 30, 30, 1).

    The discriminator is conditional (§3.1): it sees the input image and the real or generated
    image concatenated on channels. Outputs are logits in float32. `image_size`, the training
    size when given, picks which layers take faster gradient kernels (models/convolution.py); the
    model runs at any size either way.
    """
    input_image = keras.Input(shape=(None, None, input_channels), name="input_image")
    judged = keras.Input(shape=(None, None, output_channels), name="judged_image")
    x = keras.layers.Concatenate(name="pair")([input_image, judged])  # (batch, 256, 256, 6)

    def conv(x, filters, kernel, strides, use_bias, name, side=None):
        if kernel > 1:
            x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        # The same convolution with faster gradients on CPU (models/convolution.py): the 4x4
        # stride-1 layers (C512 and the logits) on forward kernels, where TensorFlow's backward
        # kernels are slow; a stride-2 layer after the first with a large input (C128 at 256x256)
        # with the four-matmul kernel gradient.
        kind = keras.layers.Conv2D
        if kernel > 1 and strides == 1:
            kind = ForwardGradientConv2D
        elif kernel > 1 and side is not None and side >= BLOCK_GRADIENT_MIN_SIDE:
            kind = BlockGradientConv2D
        return kind(
            filters, kernel, strides=strides, padding="valid", use_bias=use_bias,
            kernel_initializer=conv_initializer(), name=f"{name}_conv",
        )(x)

    def norm_lrelu(x, name):
        layer = normalization(norm, synchronized=synchronized, name=f"{name}_norm")
        x = layer(x) if layer is not None else x
        return keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu")(x)

    if num_layers == 0:
        # PixelGAN: 1x1 convolutions only, judging each pixel on its own.
        x = keras.layers.LeakyReLU(negative_slope=0.2, name="c0_lrelu")(conv(x, base_filters, 1, 1, True, "c0"))
        x = norm_lrelu(conv(x, base_filters * 2, 1, 1, norm == "none", "c1"), "c1")
        logits = conv(x, 1, 1, 1, True, "logits")
    else:
        # C64 without normalization; 256x256 -> (batch, 128, 128, 64).
        x = keras.layers.LeakyReLU(negative_slope=0.2, name="c0_lrelu")(conv(x, base_filters, 4, 2, True, "c0"))
        for index in range(1, num_layers):
            # 70x70: C128 -> (batch, 64, 64, 128), C256 -> (batch, 32, 32, 256).
            filters = base_filters * min(2**index, 8)
            side = None if image_size is None else image_size >> index
            x = norm_lrelu(conv(x, filters, 4, 2, norm == "none", f"c{index}", side), f"c{index}")
        # Stride 1 from here: C512 -> (batch, 31, 31, 512), logits -> (batch, 30, 30, 1).
        filters = base_filters * min(2**num_layers, 8)
        x = norm_lrelu(conv(x, filters, 4, 1, norm == "none", f"c{num_layers}"), f"c{num_layers}")
        logits = conv(x, 1, 4, 1, True, "logits")
    logits = keras.layers.Activation("linear", dtype="float32", name="logits_float32")(logits)
    return keras.Model([input_image, judged], logits, name=f"patchgan_{num_layers}layers")

