"""How fast a train step could be on this machine: its compute floor and its memory floor.

- Compute floor: the step's convolution FLOPs at the machine's own convolution throughput for
  each of the step's layer shapes, in the step's precision. Each convolution's forward pass is
  timed alone at its shape (a transposed convolution also as the convolution it transposes, the
  same FLOPs, and the faster counts); its input and kernel gradients do the forward's FLOPs each,
  so the layer's floor is three forwards' time, once for G and three times for D (real and
  generated pairs for the D step, generated pairs again for the G step): the count
  `bench.train_step_gflop` uses. Each layer's forward and backward as TensorFlow runs them alone
  is timed too (`convolutions_alone_ms`): the gap between the two is kernels that run a shape's
  gradients below the forward's rate.
- Memory floor: the bytes a step must move for its parameters (weights read forward and backward,
  gradients written and read, Adam's moments and the weights read and written) over the machine's
  measured memory bandwidth. Activations are left out: the floor is a bound, not an estimate.

The share of the larger floor a measured step reaches says how much is left to win.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfpix2pix.evaluate.timing import median_seconds

FLOAT32_BYTES = 4
# Per parameter and step: a forward and a backward read in the compute dtype, a gradient written
# and read in the compute dtype, then Adam reads the float32 weight, m and v and writes all three.
COMPUTE_DTYPE_TOUCHES = 4
ADAM_FLOAT32_TOUCHES = 6
# Forward, input gradient, kernel gradient: the same FLOPs each.
CONVOLUTIONS_PER_PASS = 3


def is_convolution(layer) -> bool:
    return isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))


def layer_input_shapes(model: keras.Model, input_shapes: list) -> list[tuple]:
    """(layer, its input shape) of every convolution of `model` for inputs of `input_shapes`."""
    layers = [layer for layer in model.layers if is_convolution(layer)]
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    inputs = [tf.zeros(shape) for shape in input_shapes]
    outputs = probe(inputs if len(inputs) > 1 else inputs[0])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(layer, tuple(output.shape)) for layer, output in zip(layers, outputs)]


def layer_gflop(layer, input_shape: tuple) -> float:
    """Forward GFLOP (2 x multiply-adds) of one convolution or transposed convolution on `input_shape`."""
    kernel = layer.kernel.shape  # (kh, kw, in, out) for Conv2D, (kh, kw, out, in) for Conv2DTranspose
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # Every input pixel scatters a kh x kw x out patch: MACs = input pixels * kh * kw * in * out.
        positions = input_shape[0] * input_shape[1] * input_shape[2]
    else:
        output = layer.compute_output_shape(input_shape)
        positions = output[0] * output[1] * output[2]
    return 2 * positions * kernel[0] * kernel[1] * kernel[2] * kernel[3] / 1e9


def _uniform(shape) -> tf.Tensor:
    return tf.constant(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))


def layer_seconds(layer, input_shape: tuple, *, repeats: int = 5) -> float:
    """Median seconds of the layer's forward and backward (input and weight gradients) on its own."""
    images = _uniform(input_shape)

    @tf.function
    def forward_backward(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = layer(images, training=True)
        gradients = tape.gradient(outputs, [images, *layer.trainable_weights], output_gradients=tf.ones_like(outputs))
        return tf.add_n([tf.reduce_sum(tf.cast(gradient, tf.float32)) for gradient in gradients])

    return median_seconds(lambda: forward_backward(images).numpy(), repeats=repeats, warmup=2)


def forward_seconds(layer, input_shape: tuple, *, repeats: int = 5) -> float:
    """Median seconds of the layer's forward pass alone, the probe of this shape's convolution throughput.

    A transposed convolution is also timed as the convolution it transposes (from its output's
    shape to its input's, the same FLOPs), and the faster of the two counts.
    """
    images = _uniform(input_shape)
    forward = tf.function(lambda images: tf.reduce_sum(tf.cast(layer(images), tf.float32)))
    seconds = median_seconds(lambda: forward(images).numpy(), repeats=repeats, warmup=2)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        outputs = tf.cast(_uniform(layer.compute_output_shape(input_shape)), layer.compute_dtype)
        kernel = tf.cast(layer.kernel, layer.compute_dtype)
        transposed = tf.function(lambda outputs: tf.reduce_sum(tf.cast(
            tf.nn.conv2d(outputs, kernel, list(layer.strides), layer.padding.upper()), tf.float32)))
        seconds = min(seconds, median_seconds(lambda: transposed(outputs).numpy(), repeats=repeats, warmup=2))
    return seconds


def compute_floor_seconds(generator, discriminator, *, image_size: int, batch_size: int, repeats: int = 5) -> dict:
    """The step's convolutions probed alone (see the module docstring).

    Returns {"seconds", "generator_seconds", "discriminator_seconds", "alone_seconds", "layers"},
    one row per layer with its forward GFLOP, forward probe (`forward_seconds`, `probe_gflops`), its
    floor in the step (`floor_seconds`, passes included) and its forward and backward as TensorFlow
    runs them alone (`seconds`).
    """
    image = (batch_size, image_size, image_size, 3)
    rows = []
    for name, model, shapes, passes in (("generator", generator, [image], 1),
                                        ("discriminator", discriminator, [image, image], 3)):
        for layer, shape in layer_input_shapes(model, list(shapes)):
            forward = forward_seconds(layer, shape, repeats=repeats)
            gflop = layer_gflop(layer, shape)
            rows.append({"model": name, "layer": layer.name, "input_shape": list(shape), "passes": passes,
                         "gflop": gflop, "forward_seconds": forward, "probe_gflops": gflop / forward,
                         "floor_seconds": CONVOLUTIONS_PER_PASS * passes * forward,
                         "seconds": layer_seconds(layer, shape, repeats=repeats)})
    floor = {model: sum(row["floor_seconds"] for row in rows if row["model"] == model)
             for model in ("generator", "discriminator")}
    return {"seconds": floor["generator"] + floor["discriminator"], "generator_seconds": floor["generator"],
            "discriminator_seconds": floor["discriminator"],
            "alone_seconds": sum(row["seconds"] * row["passes"] for row in rows), "layers": rows}


def memory_bandwidth_bytes_per_second(*, megabytes: int = 128, repeats: int = 5) -> float:
    """Measured memory bandwidth: one fused Adam update of buffers far larger than the caches.

    `ResourceApplyAdam` reads the weight, both moments and the gradient and writes the first three
    in place, the memory traffic of the step's optimizer; an op with a fresh output would also
    count the first touch of new pages, which is not memory bandwidth.
    """
    size = megabytes * 2**20 // FLOAT32_BYTES
    weight, m, v = (tf.Variable(tf.fill([size], 0.5), trainable=False) for _ in range(3))
    gradient = tf.fill([size], 1e-3)
    scalar = lambda value: tf.constant(value, tf.float32)  # noqa: E731

    @tf.function
    def update():
        tf.raw_ops.ResourceApplyAdam(
            var=weight.handle, m=m.handle, v=v.handle, beta1_power=scalar(0.5), beta2_power=scalar(0.999),
            lr=scalar(1e-9), beta1=scalar(0.5), beta2=scalar(0.999), epsilon=scalar(1e-7), grad=gradient,
        )
        return tf.constant(0)

    seconds = median_seconds(lambda: update().numpy(), repeats=repeats, warmup=2)
    return 7 * megabytes * 2**20 / seconds  # four buffers read, three written


def step_bytes(parameters: int, precision: str) -> int:
    """The bytes one step moves for `parameters` (see the module docstring)."""
    compute_bytes = 2 if precision in ("mixed_bfloat16", "mixed_float16") else FLOAT32_BYTES
    return parameters * (COMPUTE_DTYPE_TOUCHES * compute_bytes + ADAM_FLOAT32_TOUCHES * FLOAT32_BYTES)


def floors(generator, discriminator, *, image_size: int, batch_size: int, precision: str, step_seconds: float,
           repeats: int = 5) -> dict:
    """Both floors of the step and the share of the larger one that a step of `step_seconds` reaches."""
    compute = compute_floor_seconds(generator, discriminator, image_size=image_size, batch_size=batch_size,
                                    repeats=repeats)
    parameters = generator.count_params() + discriminator.count_params()
    bandwidth = memory_bandwidth_bytes_per_second(repeats=repeats)
    memory_seconds = step_bytes(parameters, precision) / bandwidth
    floor = max(compute["seconds"], memory_seconds)
    return {"compute_floor_ms": compute["seconds"] * 1000, "memory_floor_ms": memory_seconds * 1000,
            "convolutions_alone_ms": compute["alone_seconds"] * 1000,
            "bound": "compute" if compute["seconds"] >= memory_seconds else "memory",
            "share_of_floor": floor / step_seconds, "memory_bandwidth_gb_per_s": bandwidth / 1e9,
            "step_bytes": step_bytes(parameters, precision), "layers": compute["layers"]}
