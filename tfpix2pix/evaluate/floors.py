"""How fast a train step could be on this machine: its compute floor and its memory floor.

- Compute floor: every convolution of the step run alone, forward and backward, at the shape and
  precision it has in the step, timed; G's layers once, D's three times (real and generated pairs
  for the D step, generated pairs again for the G step), the count `bench.train_step_gflop` uses.
  It is the step's convolution FLOPs divided by the machine's convolution throughput at the step's
  own layer shapes.
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


def _convolutions(model: keras.Model) -> list:
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]


def layer_input_shapes(model: keras.Model, input_shapes: list) -> list[tuple]:
    """(layer, its input shape) of every convolution of `model` for inputs of `input_shapes`."""
    layers = _convolutions(model)
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    inputs = [tf.zeros(shape) for shape in input_shapes]
    outputs = probe(inputs if len(inputs) > 1 else inputs[0])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(layer, tuple(output.shape)) for layer, output in zip(layers, outputs)]


def layer_seconds(layer, input_shape: tuple, *, repeats: int = 5) -> float:
    """Median seconds of the layer's forward and backward (input and weight gradients) on its own."""
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, input_shape).astype(np.float32))

    @tf.function
    def forward_backward(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = layer(images)
        gradients = tape.gradient(outputs, [images, *layer.trainable_weights], output_gradients=tf.ones_like(outputs))
        return tf.add_n([tf.reduce_sum(tf.cast(gradient, tf.float32)) for gradient in gradients])

    return median_seconds(lambda: forward_backward(images).numpy(), repeats=repeats, warmup=2)


def compute_floor_seconds(generator, discriminator, *, image_size: int, batch_size: int, repeats: int = 5) -> dict:
    """The step's convolutions timed alone: {"seconds", "generator_seconds", "discriminator_seconds", "layers"}."""
    image = (batch_size, image_size, image_size, 3)
    rows = []
    for name, model, shapes, passes in (("generator", generator, [image], 1),
                                        ("discriminator", discriminator, [image, image], 3)):
        for layer, shape in layer_input_shapes(model, list(shapes)):
            rows.append({"model": name, "layer": layer.name, "input_shape": list(shape), "passes": passes,
                         "seconds": layer_seconds(layer, shape, repeats=repeats)})
    generator_seconds = sum(row["seconds"] for row in rows if row["model"] == "generator")
    discriminator_seconds = 3 * sum(row["seconds"] for row in rows if row["model"] == "discriminator")
    return {"seconds": generator_seconds + discriminator_seconds, "generator_seconds": generator_seconds,
            "discriminator_seconds": discriminator_seconds, "layers": rows}


def memory_bandwidth_bytes_per_second(*, megabytes: int = 512, repeats: int = 5) -> float:
    """Measured memory bandwidth: an element-wise op over a buffer far larger than the caches (read + write)."""
    values = tf.zeros([megabytes * 2**20 // FLOAT32_BYTES], tf.float32)
    add = tf.function(lambda x: x + 1.0)
    seconds = median_seconds(lambda: add(values).numpy()[:1], repeats=repeats, warmup=2)
    return 2 * megabytes * 2**20 / seconds


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
            "bound": "compute" if compute["seconds"] >= memory_seconds else "memory",
            "share_of_floor": floor / step_seconds, "memory_bandwidth_gb_per_s": bandwidth / 1e9,
            "step_bytes": step_bytes(parameters, precision), "layers": compute["layers"]}
