"""Generators: the U-Net of §3.2.1 / appendix 6.1.1 and the 9-block ResNet alternative."""

import keras

from tfpix2pix.models.convolution import BlockGradientConv2D, MatmulGradientConv2D, MatmulGradientConv2DTranspose
from tfpix2pix.models.layers import conv_initializer, normalization, ReflectionPadding2D

INNERMOST_DROPOUT_BLOCKS = 3  # CD512 - CD1024 - CD1024: dropout in the three innermost decoder blocks.
# Decoder layers whose input at the training size is at most this side take the matmul kernel
# gradient (up7 to up4 at 256x256: 1x1 to 8x8 inputs, where it measured 1.3-2x faster).
MATMUL_GRADIENT_MAX_SIDE = 8
# Encoder layers whose input at the training size is at most this side take matmul gradients
# (down3 to down7 at 256x256: 32x32 to 2x2 inputs, where they measured 1.3-2.9x faster; 64x64: 0.81x).
ENCODER_MATMUL_GRADIENT_MAX_SIDE = 32
# Encoder layers after the first whose input at the training size is at least this side take the
# four-matmul kernel gradient at batch 1 (down1 at 256x256: 128x128x64, 1.43x alone; the first
# layer, with 3 input channels, measured 0.82x).
BLOCK_GRADIENT_MIN_SIDE = 128


def num_downsamplings(image_size: int) -> int:
    """U-Net depth: 256 -> 8, 128 -> 7 (§3.2.1: the encoder goes down to 1x1)."""
    return image_size.bit_length() - 1


def required_multiple(kind: str, image_size: int) -> int:
    """Input sides must be multiples of this: 2**num_downsamplings for the U-Net, 4 for the ResNet."""
    return 4 if kind == "resnet9" else 2 ** num_downsamplings(image_size)


def dropout_seed_states(model: keras.Model) -> list:
    """The seed-state variables of the model's Dropout layers, in layer order.

    The trainer sets them per step, and inference per seed, so dropout masks are reproducible.
    """
    return [layer.seed_generator.state for layer in model.layers if isinstance(layer, keras.layers.Dropout)]


def encoder_convolution(level: int, image_size: int) -> type:
    """The layer class of U-Net encoder level `level` at this training size (see the constants above)."""
    side = image_size >> level
    if side <= ENCODER_MATMUL_GRADIENT_MAX_SIDE:
        return MatmulGradientConv2D
    if level > 0 and side >= BLOCK_GRADIENT_MIN_SIDE:
        return BlockGradientConv2D
    return keras.layers.Conv2D


def downsample(
    x, filters: int, *, norm: str, use_bias: bool, activate: bool = True, synchronized: bool = False,
    convolution: type = keras.layers.Conv2D, name: str,
):
    """Encoder block: LeakyReLU(0.2) -> 4x4 stride-2 conv -> norm (authors' pre-activation layout).

    The skip connection carries the block's output before the next LeakyReLU, as in the authors'
    code. `norm="none"` also marks the first layer and the bottleneck, which have no normalization
    (appendix 6.1.1 and the errata: normalizing a 1x1 bottleneck at batch 1 zeroes it).
    As in the authors' code, encoder convs carry no bias unless the whole model is unnormalized,
    which gives the paper's 54,413,955 parameters for the 256x256 U-Net.
    `convolution` is the layer class: Keras' `Conv2D` or one of models/convolution.py's, the same
    convolution with faster gradients on CPU for some shapes.
    """
    if activate:
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu")(x)
    x = convolution(
        filters, 4, strides=2, padding="same", use_bias=use_bias,
        kernel_initializer=conv_initializer(), name=f"{name}_conv",
    )(x)
    layer = normalization(norm, synchronized=synchronized, name=f"{name}_norm")
    return layer(x) if layer is not None else x


def upsample(
    x, filters: int, *, norm: str, dropout: float, synchronized: bool = False, matmul_gradient: bool = False,
    name: str,
):
    """Decoder block: ReLU -> 4x4 stride-2 transposed conv -> norm -> optional Dropout.

    `matmul_gradient` computes the transposed convolution's kernel gradient as one matmul, faster
    on CPU for small inputs with many channels (models/convolution.py); the layer is the same.
    """
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    kind = MatmulGradientConv2DTranspose if matmul_gradient else keras.layers.Conv2DTranspose
    x = kind(
        filters, 4, strides=2, padding="same", use_bias=norm == "none",
        kernel_initializer=conv_initializer(), name=f"{name}_deconv",
    )(x)
    layer = normalization(norm, synchronized=synchronized, name=f"{name}_norm")
    x = layer(x) if layer is not None else x
    if dropout > 0:
        # §3.2.1: dropout is the generator's only source of noise; it stays on at test time in paper mode.
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def build_unet_generator(
    *,
    image_size: int,
    input_channels: int = 3,
    output_channels: int = 3,
    base_filters: int = 64,
    norm: str = "instance",
    dropout: float = 0.5,
    synchronized: bool = False,
) -> keras.Model:
    """Builds the pix2pix U-Net.

    The depth follows `image_size` (256 -> 8 downsamplings to a 1x1 bottleneck, 128 -> 7). The
    model takes any height and width that are multiples of 2**depth, so inference runs on images
    of other sizes than training.

    Args:
        image_size: the training side length, a power of two.
        input_channels: channels of the input image.
        output_channels: channels of the generated image.
        base_filters: filters of the first encoder layer (64 in the paper), capped at 8x deeper down.
        norm: "instance", "batch" or "none".
        dropout: rate in the three innermost decoder blocks (0.5 in the paper, 0 disables).
        synchronized: synchronized batch norm across replicas (only with norm="batch").

    Returns:
        A functional `keras.Model` mapping [batch, H, W, input_channels] in [-1, 1] to
        [batch, H, W, output_channels] in [-1, 1] (float32 tanh output under any precision policy).
    """
    depth = num_downsamplings(image_size)
    inputs = keras.Input(shape=(None, None, input_channels), name="input_image")
    skips = []
    x = inputs
    for level in range(depth):
        filters = base_filters * min(2**level, 8)
        outermost, innermost = level == 0, level == depth - 1
        # 256x256 input: level 0 -> (batch, 128, 128, 64), 1 -> (64, 64, 128), 2 -> (32, 32, 256),
        # 3 -> (16, 16, 512), 4..6 -> (8|4|2, 512), bottleneck 7 -> (batch, 1, 1, 512).
        x = downsample(
            x, filters, norm="none" if outermost or innermost else norm,
            use_bias=norm == "none", activate=not outermost, synchronized=synchronized,
            convolution=encoder_convolution(level, image_size), name=f"down{level}",
        )
        skips.append(x)
    for level in reversed(range(1, depth)):
        filters = base_filters * min(2 ** (level - 1), 8)
        # Mirrors the encoder; the concatenated skip doubles the width: (batch, 2, 2, 1024) after
        # the first block at 256x256, ..., (batch, 128, 128, 128) after the last.
        x = upsample(
            x, filters, norm=norm, dropout=dropout if level >= depth - INNERMOST_DROPOUT_BLOCKS else 0.0,
            synchronized=synchronized, matmul_gradient=image_size >> (level + 1) <= MATMUL_GRADIENT_MAX_SIDE,
            name=f"up{level}",
        )
        x = keras.layers.Concatenate(name=f"skip{level - 1}")([skips[level - 1], x])
    x = keras.layers.ReLU(name="out_relu")(x)
    x = keras.layers.Conv2DTranspose(
        output_channels, 4, strides=2, padding="same", kernel_initializer=conv_initializer(), name="out_deconv"
    )(x)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="generated")(x)  # (batch, 256, 256, 3)
    return keras.Model(inputs, outputs, name=f"unet_{image_size}")


def resnet_block(x, filters: int, *, norm: str, dropout: float, synchronized: bool, name: str):
    """Two reflect-padded 3x3 convs with a residual connection."""
    shortcut = x
    for index in range(2):
        x = ReflectionPadding2D(1, name=f"{name}_pad{index}")(x)
        x = keras.layers.Conv2D(
            filters, 3, use_bias=norm == "none", kernel_initializer=conv_initializer(), name=f"{name}_conv{index}"
        )(x)
        layer = normalization(norm, synchronized=synchronized, name=f"{name}_norm{index}")
        x = layer(x) if layer is not None else x
        if index == 0:
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])


def build_resnet_generator(
    *,
    input_channels: int = 3,
    output_channels: int = 3,
    base_filters: int = 64,
    norm: str = "instance",
    num_blocks: int = 9,
    dropout: float = 0.0,
    synchronized: bool = False,
) -> keras.Model:
    """Builds the ResNet generator (c7s1-64, d128, d256, R256 x num_blocks, u128, u64, c7s1-3).

    Takes any height and width that are multiples of 4.
    """
    def conv_norm_relu(x, filters, kernel, strides, name, transpose=False):
        layer_class = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
        x = layer_class(
            filters, kernel, strides=strides, padding="valid" if kernel == 7 else "same",
            use_bias=norm == "none", kernel_initializer=conv_initializer(), name=f"{name}_conv",
        )(x)
        layer = normalization(norm, synchronized=synchronized, name=f"{name}_norm")
        x = layer(x) if layer is not None else x
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(shape=(None, None, input_channels), name="input_image")
    x = ReflectionPadding2D(3, name="in_pad")(inputs)
    x = conv_norm_relu(x, base_filters, 7, 1, "in")  # (batch, 256, 256, 64)
    x = conv_norm_relu(x, base_filters * 2, 3, 2, "down0")  # (batch, 128, 128, 128)
    x = conv_norm_relu(x, base_filters * 4, 3, 2, "down1")  # (batch, 64, 64, 256)
    for index in range(num_blocks):
        x = resnet_block(x, base_filters * 4, norm=norm, dropout=dropout, synchronized=synchronized, name=f"res{index}")
    x = conv_norm_relu(x, base_filters * 2, 3, 2, "up0", transpose=True)  # (batch, 128, 128, 128)
    x = conv_norm_relu(x, base_filters, 3, 2, "up1", transpose=True)  # (batch, 256, 256, 64)
    x = ReflectionPadding2D(3, name="out_pad")(x)
    x = keras.layers.Conv2D(output_channels, 7, kernel_initializer=conv_initializer(), name="out_conv")(x)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="generated")(x)
    return keras.Model(inputs, outputs, name=f"resnet_{num_blocks}blocks")


def build_generator(
    *,
    kind: str = "unet",
    image_size: int,
    base_filters: int = 64,
    norm: str = "instance",
    dropout: float = 0.5,
    resnet_blocks: int = 9,
    synchronized: bool = False,
) -> keras.Model:
    """Builds the U-Net (`kind="unet"`) or the ResNet generator (`"resnet9"`); see those builders."""
    if kind == "resnet9":
        return build_resnet_generator(
            base_filters=base_filters, norm=norm, num_blocks=resnet_blocks, dropout=dropout, synchronized=synchronized,
        )  # Dropout in each residual block, as the authors' ResNet generator has it for pix2pix.
    if kind != "unet":
        raise ValueError(f"generator kind must be unet or resnet9, got {kind!r}")
    return build_unet_generator(
        image_size=image_size, base_filters=base_filters, norm=norm, dropout=dropout, synchronized=synchronized,
    )
