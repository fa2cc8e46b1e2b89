"""A lever measured and not kept: convolution gradients computed with forward convolutions and a matmul.

On a CPU, TensorFlow's backward convolution kernels (`Conv2DBackpropInput`, `Conv2DBackpropFilter`)
can run a layer's shape slower than the forward kernel, and `Conv2DTranspose`'s forward pass is
such a backward kernel. Both gradients can be written with the fast kernels, with the same
arithmetic:

- the input gradient of a convolution is a convolution of the output gradient with the kernel
  flipped and transposed; at stride 2 (4x4 kernels) it is one 2x2 convolution per output phase,
  computed as one convolution and a pixel shuffle (as `models/deconvolution.py` does for inference);
- the kernel gradient is the input's 4x4 patches, transposed, times the output gradient: one
  matmul of (16 * in, positions) by (positions, out).

A 4x4 stride-2 'same' transposed convolution is the input gradient of the convolution it
transposes, so its forward pass takes the phase form and its backward pass a forward convolution
and the same matmul.

    python benchmarks/gradient_kernels.py --layers      # each layer of the 256x256 step alone
    python benchmarks/gradient_kernels.py --step        # the whole step, four ways, alternating
    python benchmarks/gradient_kernels.py --kept        # the models' layers against Keras', alone and in the step

`--step` times the default train step against the same models with these gradients in G only,
in D only and in both (docs/PERFORMANCE.md has the figures: per layer up to 2.9x faster, in the
step no gain). The models took a narrower form of the idea instead (`models/convolution.py`):
forward-kernel gradients for D's two stride-1 layers only, and a matmul kernel gradient with
TensorFlow's input gradient for G's four innermost transposed convolutions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import keras
import numpy as np
import tensorflow as tf

from tfpix2pix.evaluate.timing import alternating_seconds, median_seconds
from tfpix2pix.models.convolution import (BlockGradientConv2D, ForwardGradientConv2D, keras_layer,
                                          MatmulGradientConv2D, MatmulGradientConv2DTranspose, with_keras_layers)

# Kernel rows (or columns) for the two taps of each output phase of a 4x4 stride-2 input gradient:
# phase p sums the padded output gradient's rows m and m + 1 with kernel rows (p + 2, p).
PHASE_TAPS = ([2, 0], [3, 1])


def kernel_gradient(padded_inputs, output_gradient, kernel_size: int, stride: int):
    """d loss / d kernel of a VALID convolution: patches of the (padded) input times the output gradient."""
    channels_in, channels_out = padded_inputs.shape[-1], output_gradient.shape[-1]
    patches = tf.image.extract_patches(
        padded_inputs, sizes=[1, kernel_size, kernel_size, 1], strides=[1, stride, stride, 1], rates=[1, 1, 1, 1],
        padding="VALID",
    )  # (batch, out_h, out_w, kernel * kernel * in), in the kernel's (row, column, in) order
    gradient = tf.matmul(
        tf.reshape(patches, [-1, kernel_size * kernel_size * channels_in]),
        tf.reshape(output_gradient, [-1, channels_out]), transpose_a=True,
    )
    return tf.reshape(gradient, [kernel_size, kernel_size, channels_in, channels_out])


def input_gradient(output_gradient, kernel, stride: int, input_shape):
    """d loss / d input of a VALID convolution with `kernel` (HWIO) at stride 1, or 2 for 4x4 kernels."""
    size = kernel.shape[0]
    transposed = tf.transpose(kernel, [0, 1, 3, 2])
    if stride == 1:
        edge = size - 1
        padded = tf.pad(output_gradient, [[0, 0], [edge, edge], [edge, edge], [0, 0]])
        return tf.nn.conv2d(padded, transposed[::-1, ::-1], 1, "VALID")
    phase_kernel = tf.concat(
        [tf.gather(tf.gather(transposed, PHASE_TAPS[py], axis=0), PHASE_TAPS[px], axis=1)
         for py in (0, 1) for px in (0, 1)], axis=-1,
    )  # (2, 2, out, 4 * in), phase-major as depth_to_space reads it
    padded = tf.pad(output_gradient, [[0, 0], [1, 1], [1, 1], [0, 0]])
    gradient = tf.nn.depth_to_space(tf.nn.conv2d(padded, phase_kernel, 1, "VALID"), 2)  # (batch, 2 out_h + 2, ...)
    # An odd input side has one last row (column) that no output position reads.
    height, width = input_shape[1], input_shape[2]
    return tf.pad(gradient, [[0, 0], [0, height - gradient.shape[1]], [0, width - gradient.shape[2]], [0, 0]])


def convolution(padded_inputs, kernel, stride: int):
    """tf.nn.conv2d(..., VALID) whose gradients are `input_gradient` and `kernel_gradient`."""

    @tf.custom_gradient
    def convolve(padded_inputs, kernel):
        def gradient(output_gradient):
            return (input_gradient(output_gradient, kernel, stride, padded_inputs.shape),
                    kernel_gradient(padded_inputs, output_gradient, kernel.shape[0], stride))

        return tf.nn.conv2d(padded_inputs, kernel, stride, "VALID"), gradient

    return convolve(padded_inputs, kernel)


def transposed_convolution(inputs, kernel):
    """A 4x4 stride-2 'same' conv2d_transpose (kernel: (4, 4, out, in)) in phase form, gradients alike."""

    @tf.custom_gradient
    def transpose(inputs, kernel):
        def gradient(output_gradient):
            padded = tf.pad(output_gradient, [[0, 0], [1, 1], [1, 1], [0, 0]])
            return tf.nn.conv2d(padded, kernel, 2, "VALID"), kernel_gradient(padded, inputs, 4, 2)

        height, width = inputs.shape[1], inputs.shape[2]
        padded_shape = (None, 2 * height + 2, 2 * width + 2)
        return input_gradient(inputs, kernel, 2, padded_shape)[:, 1:-1, 1:-1, :], gradient

    return transpose(inputs, kernel)



class PhaseGradientConv2D(keras.layers.Conv2D):
    """Conv2D whose training gradients use `convolution`: 4x4 kernels at stride 1 or 2, VALID or even 'same'."""

    def call(self, inputs, training=None):
        size, stride = tuple(self.kernel_size), self.strides[0]
        if not training or size != (4, 4) or tuple(self.strides) not in ((1, 1), (2, 2)) or self.groups != 1:
            return super().call(inputs)
        if self.padding == "same":
            edges = [[0, 0], [1, 2], [1, 2], [0, 0]] if stride == 1 else [[0, 0], [1, 1], [1, 1], [0, 0]]
            inputs = tf.pad(inputs, edges)  # TensorFlow's 'same' for 4x4 (stride 2: even sides)
        return _bias_and_activation(self, convolution(inputs, tf.convert_to_tensor(self.kernel), stride))


class PhaseGradientConv2DTranspose(keras.layers.Conv2DTranspose):
    """Conv2DTranspose (4x4, stride 2, 'same') computed by `transposed_convolution` in training."""

    def call(self, inputs, training=None):
        if not training or tuple(self.kernel_size) != (4, 4) or tuple(self.strides) != (2, 2):
            return super().call(inputs)
        return _bias_and_activation(self, transposed_convolution(inputs, tf.convert_to_tensor(self.kernel)))


def _bias_and_activation(layer, outputs):
    if layer.use_bias:
        outputs = keras.ops.add(outputs, layer.bias)
    return layer.activation(outputs) if layer.activation is not None else outputs


def with_forward_gradients(model: keras.Model) -> keras.Model:
    """A copy of `model` (same weights) whose 4x4 convolutions and transposed convolutions are the classes above."""
    def clone(layer):
        kind = {keras.layers.Conv2D: PhaseGradientConv2D, ForwardGradientConv2D: PhaseGradientConv2D,
                MatmulGradientConv2D: PhaseGradientConv2D,
                keras.layers.Conv2DTranspose: PhaseGradientConv2DTranspose,
                MatmulGradientConv2DTranspose: PhaseGradientConv2DTranspose}.get(type(layer), type(layer))
        return kind.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _forward_backward(operation, inputs, kernel):
    @tf.function
    def run():
        with tf.GradientTape() as tape:
            tape.watch([inputs, kernel])
            outputs = operation(inputs, kernel)
        weights = tf.random.stateless_normal(tf.shape(outputs), seed=[0, 0])
        gradients = tape.gradient(outputs, [inputs, kernel], output_gradients=weights)
        return tf.add_n([tf.reduce_sum(gradient) for gradient in gradients])

    return lambda: run().numpy()


# (name, padded input side, in, out, stride) of the 256x256 step's convolutions, and (name, input
# side, in, out) of its transposed convolutions; D's layers run three times per step.
CONVOLUTIONS = [("G down1", 258, 3, 64, 2), ("G down2", 130, 64, 128, 2), ("G down3", 66, 128, 256, 2),
                ("G down4", 34, 256, 512, 2), ("G down5", 18, 512, 512, 2), ("G down6", 10, 512, 512, 2),
                ("D c0", 258, 6, 64, 2), ("D c1", 130, 64, 128, 2), ("D c2", 66, 128, 256, 2),
                ("D c3", 34, 256, 512, 1), ("D logits", 33, 512, 1, 1)]
TRANSPOSED = [("G up3", 4, 1024, 512), ("G up4", 8, 1024, 512), ("G up5", 16, 1024, 256), ("G up6", 32, 512, 128),
              ("G up7", 64, 256, 64), ("G out", 128, 128, 3)]


def layers(rounds: int) -> None:
    """Each layer alone, forward and backward: TensorFlow's kernels against these, alternating."""
    rng = np.random.default_rng(0)
    print("| layer | TensorFlow ms | forward-kernel gradients ms | speed-up |\n|---|---|---|---|")
    cases = [(name, (1, side, side, channels_in), (4, 4, channels_in, channels_out),
              lambda x, k, s=stride: tf.nn.conv2d(x, k, s, "VALID"), lambda x, k, s=stride: convolution(x, k, s))
             for name, side, channels_in, channels_out, stride in CONVOLUTIONS]
    cases += [(name, (1, side, side, channels_in), (4, 4, channels_out, channels_in),
               lambda x, k: tf.nn.conv2d_transpose(x, k, [1, 2 * x.shape[1], 2 * x.shape[2], k.shape[2]], 2, "SAME"),
               transposed_convolution)
              for name, side, channels_in, channels_out in TRANSPOSED]
    for name, input_shape, kernel_shape, theirs, ours in cases:
        inputs = tf.constant(rng.normal(size=input_shape).astype(np.float32))
        kernel = tf.constant(rng.normal(size=kernel_shape).astype(np.float32) * 0.05)
        runs = [_forward_backward(theirs, inputs, kernel), _forward_backward(ours, inputs, kernel)]
        times = [[], []]
        for _ in range(rounds):
            for index, run in enumerate(runs):
                times[index].append(median_seconds(run, repeats=5, warmup=2))
        a, b = (statistics.median(t) * 1000 for t in times)
        print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f}x |", flush=True)


def step(rounds: int, steps: int) -> None:
    """The 256x256 train step with the models' layers (the default) and with these gradients in G, D or both."""
    from tfpix2pix.evaluate import bench

    default = bench.build_trainer(bench.bench_config(image_size=256, norm="instance"))
    forward_g, forward_d = with_forward_gradients(default.generator), with_forward_gradients(default.discriminator)

    trainers = {"the models' layers (default)": default,
                "G (convolutions and transposed convolutions)": _trainer(default, forward_g, default.discriminator),
                "D (convolutions)": _trainer(default, default.generator, forward_d),
                "both": _trainer(default, forward_g, forward_d)}
    runs = {name: bench.steps_function(built, image_size=256, steps=steps) for name, built in trainers.items()}
    _print_steps(alternating_seconds(runs, rounds=rounds), steps, "forward-kernel gradients in", "default")


def kept(rounds: int, steps: int) -> None:
    """The layers the models use (`models/convolution.py`), alone at the 256x256 step's shapes and in the step."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # levers.py, beside this file
    from levers import forward_backward

    from tfpix2pix.evaluate import bench

    ours = bench.build_trainer(bench.bench_config(image_size=256, norm="instance"))
    print("| layer | input | Keras layer ms | this layer ms | speed-up |\n|---|---|---|---|---|")
    for model in (ours.generator, ours.discriminator):
        layers_ = [layer for layer in model.layers
                   if isinstance(layer, (ForwardGradientConv2D, MatmulGradientConv2D, BlockGradientConv2D,
                                         MatmulGradientConv2DTranspose))]
        zeros = [tf.zeros((1, 256, 256, 3))] * len(model.inputs)
        shapes = [x.shape for x in keras.Model(model.inputs, [layer.input for layer in layers_])(zeros)]
        for layer, shape in zip(layers_, shapes):
            inputs = tf.random.stateless_normal(shape, seed=[0, 1])
            twin = keras_layer(layer)
            twin.build(shape)
            twin.set_weights(layer.get_weights())
            times = alternating_seconds(
                {"keras": forward_backward(twin, inputs), "ours": forward_backward(layer, inputs)}, rounds=3 * rounds)
            a, b = (statistics.median(times[name]) * 1000 for name in ("keras", "ours"))
            print(f"| {model.name.split('_')[0]} {layer.name} | {'x'.join(map(str, shape[1:]))} | {a:.1f} | {b:.1f} "
                  f"| {a / b:.2f}x |", flush=True)
    generator, discriminator = ours.generator, ours.discriminator
    fifth_discriminator = _without(discriminator, BlockGradientConv2D)
    trainers = {"Keras layers": _trainer(ours, with_keras_layers(generator), with_keras_layers(discriminator)),
                "D's stride-1 layers only": _trainer(ours, with_keras_layers(generator), fifth_discriminator),
                "all but the encoder's (the fourth session's models)": _trainer(
                    ours, _without(generator, (MatmulGradientConv2D, BlockGradientConv2D)), fifth_discriminator),
                "all but the block kernel gradients (the fifth session's models)": _trainer(
                    ours, _without(generator, BlockGradientConv2D), fifth_discriminator),
                "all but D's stride-1 layers": _trainer(ours, generator, _without(discriminator, ForwardGradientConv2D)),
                "the models' layers (default)": ours}
    runs = {name: bench.steps_function(built, image_size=256, steps=steps) for name, built in trainers.items()}
    print()
    _print_steps(alternating_seconds(runs, rounds=rounds), steps, "layers", "Keras layers")


def _without(model, kinds):
    """A copy of `model` with the same weights, its layers of `kinds` replaced by the Keras layers they stand for."""
    copy = keras.models.clone_model(model, clone_function=lambda layer: keras_layer(layer) if isinstance(layer, kinds)
                                    else layer.__class__.from_config(layer.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def _print_steps(times: dict, steps: int, what: str, baseline_name: str) -> None:
    """A markdown table of per-step medians and rounds; speeds against the first entry."""
    baseline = statistics.median(next(iter(times.values())))
    print(f"| {what} | median ms/step | rounds | speed vs {baseline_name} |\n|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        rounds_ms = ", ".join(f"{value / steps * 1000:.0f}" for value in values)
        print(f"| {name} | {median / steps * 1000:.0f} | {rounds_ms} | {baseline / median:.3f}x |", flush=True)


def _trainer(like, generator, discriminator):
    """A trainer like `like` (its strategy, Adam 2e-4, beta_1 0.5, batch 1) for these models."""
    from tfpix2pix.train import optimizers
    from tfpix2pix.train.trainer import Trainer

    built = Trainer(generator=generator, discriminator=discriminator, strategy=like.strategy,
                    generator_optimizer=optimizers.adam(2e-4, beta_1=0.5),
                    discriminator_optimizer=optimizers.adam(2e-4, beta_1=0.5), global_batch_size=1)
    built.build_optimizers()
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", action="store_true", help="time each layer of the step alone")
    parser.add_argument("--step", action="store_true", help="time the whole step four ways")
    parser.add_argument("--kept", action="store_true", help="time the models' gradient layers against Keras' layers")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are quoted (default 3)")
    parser.add_argument("--steps", type=int, default=3, help="train steps per timing with --step (default 3)")
    args = parser.parse_args()
    if not (args.layers or args.step or args.kept):
        parser.error("say what to time: --layers, --step, --kept or several")
    if args.layers:
        layers(args.rounds)
    if args.step:
        step(args.rounds, args.steps)
    if args.kept:
        kept(args.rounds, args.steps)


if __name__ == "__main__":
    main()
