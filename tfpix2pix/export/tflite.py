"""The generator as TFLite files (fp32, fp16, int8, dynamic range), converted and measured.

Each file is converted from a fixed [1, S, S, 3] function (S = training size): a fixed shape lets
the converter fold every shape computation and lets LiteRT's XNNPACK delegate plan the whole
graph once. The converted model has one signature, `serving_default`, with input `images` and
output `images` (float32 in [-1, 1], or int8 for `int8_io`). A sidecar `<file>.json` records the
image size, value range and quantization of the input and output.

Measured on a 256x256 U-Net briefly trained on facades (docs/EXPORT.md): the instance-norm ops
(RSQRT, the variance MEAN, the scale MUL) carry the largest int8 errors per quantization step, yet
the full-integer model reaches about 36-37 dB PSNR against the float output. Keeping those layers
in float (`float_norm=True`) gains about 1 dB and runs faster with XNNPACK, which cannot take the
int8 RSQRT and SQUARED_DIFFERENCE ops and so splits a full-integer graph into 35 partitions; it is
the export's fallback when full int8 misses 30 dB, and a flag.

Every 4x4 stride-2 transposed convolution (the U-Net's decoder) is converted as one 2x2
convolution and a pixel shuffle (`deconvolution.PhaseDeconvolution`): same output, same FLOPs,
and XNNPACK runs it 4-16x faster than its TRANSPOSE_CONV kernel (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import os
import re
import time
import warnings

import numpy as np
import tensorflow as tf

from tfpix2pix.inference import formats
from tfpix2pix.inference.runners import dequantize, quantize
from tfpix2pix.models import deconvolution
from tfpix2pix.models.layers import InstanceNormalization

VARIANTS = ("fp32", "fp16", "int8", "dynamic")
SIGNATURE = formats.SERVE
IMAGES_KEY = formats.IMAGES_KEY
MAX_SLOWDOWN = 2.0  # A variant more than this much slower than fp32 per image is refused ...
MIN_SLOWDOWN_SECONDS = 0.01  # ... unless it costs less than this much more: below, scheduling noise decides the ratio.
MIN_INT8_PSNR = 30.0


def _fixed_size_function(generator, image_size: int):
    """(concrete function, trackable owner) of generator(images) on [1, S, S, 3], dropout off."""
    generator = deconvolution.with_phase_deconvolutions(generator)
    owner = tf.Module()
    owner.generator = generator
    # Keras 3 variables are not found through the model by tf.Module: list them so the converter
    # freezes them into the file instead of leaving uninitialized resource variables.
    owner.weights = [variable.value for variable in generator.variables]
    function = tf.function(
        lambda images: {IMAGES_KEY: tf.cast(generator(images, training=False), tf.float32)},
        input_signature=[tf.TensorSpec([1, image_size, image_size, 3], tf.float32, name=IMAGES_KEY)],
    )
    return function.get_concrete_function(), owner


def convert(
    generator,
    variant: str,
    *,
    image_size: int,
    representative_images: list[np.ndarray] | None = None,
    int8_io: bool = False,
    float_norm: bool = False,
) -> bytes:
    """Converts the generator to a TFLite flatbuffer.

    Args:
        generator: the Keras generator.
        variant: "fp32"; "fp16" (float16 weights, float compute); "int8" (full integer, calibrated
            on `representative_images`); "dynamic" (int8 weights, activations quantized on the fly).
        image_size: the fixed input side S.
        representative_images: float32 [1, S, S, 3] images from the training split (int8 only).
        int8_io: int8 input and output tensors instead of float32 (int8 only).
        float_norm: keep the instance-normalization layers in float (int8 only).
    """
    if variant not in VARIANTS:
        raise ValueError(f"TFLite variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    function, owner = _fixed_size_function(generator, image_size)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], owner)
    if variant == "fp32":
        return converter.convert()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        return converter.convert()
    if variant == "dynamic":
        return converter.convert()
    if not representative_images:
        raise ValueError("int8 conversion needs representative images from the training split")
    converter.representative_dataset = lambda: ([image] for image in representative_images)
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not float_norm:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()
    # Selective quantization: the debugger's denylist keeps the norm layers' ops in float, with
    # quantize/dequantize around them.
    with warnings.catch_warnings():
        # The debugger runs TensorFlow's own deprecated tf.lite.Interpreter internally.
        warnings.simplefilter("ignore", UserWarning)
        return _quantize_without(converter, norm_tensor_names(generator, image_size), representative_images)


def _quantize_without(converter, names: list[str], representative_images) -> bytes:
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([image] for image in representative_images[:1]),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=names),
    )
    return debugger.get_nondebug_quantized_model()


def norm_tensor_names(generator, image_size: int) -> list[str]:
    """Names of the tensors computed inside the instance-normalization layers, as the converter names them."""
    layers = [layer.name for layer in generator.layers if isinstance(layer, InstanceNormalization)]
    # The converter names tensors after the TF name scopes: "<model>_1/<layer>_1/moments/variance".
    pattern = re.compile(r"/(%s)(_\d+)?/" % "|".join(re.escape(name) for name in layers))
    float_model = convert(generator, "fp32", image_size=image_size)
    details = _interpreter(float_model, num_threads=1).get_tensor_details()
    return [detail["name"] for detail in details if layers and pattern.search(detail["name"])]


def _interpreter(model, *, num_threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    # LiteRT's Python Interpreter runs on 1 thread when num_threads is None; TensorFlow and
    # runners.TFLiteRunner use every core, so latencies are compared on the same footing.
    num_threads = num_threads or os.cpu_count()
    if isinstance(model, (bytes, bytearray)):
        return Interpreter(model_content=bytes(model), num_threads=num_threads)
    return Interpreter(model_path=model, num_threads=num_threads)


def run(model, images: np.ndarray, *, num_threads: int | None = None) -> np.ndarray:
    """Runs a converted model (bytes or path) on float images [N, S, S, 3], one at a time (default: all cores)."""
    interpreter = _interpreter(model, num_threads=num_threads)
    runner = interpreter.get_signature_runner(SIGNATURE)
    input_detail = runner.get_input_details()[IMAGES_KEY]
    output_detail = runner.get_output_details()[IMAGES_KEY]
    outputs = [
        dequantize(runner(**{IMAGES_KEY: quantize(image[np.newaxis], input_detail)})[IMAGES_KEY], output_detail)
        for image in np.asarray(images, np.float32)
    ]
    return np.concatenate(outputs)


def latency(model, image: np.ndarray, *, runs: int = 5, num_threads: int | None = None) -> float:
    """Median seconds per [1, S, S, 3] image, after one warm-up run (default: all cores)."""
    interpreter = _interpreter(model, num_threads=num_threads)
    runner = interpreter.get_signature_runner(SIGNATURE)
    feed = {IMAGES_KEY: quantize(np.asarray(image, np.float32), runner.get_input_details()[IMAGES_KEY])}
    runner(**feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(**feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def psnr(output: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of images in [-1, 1] (peak 2), per image, then the minimum over the batch."""
    errors = np.mean(((np.asarray(output) - np.asarray(reference)) / 2.0) ** 2, axis=(1, 2, 3))
    return float(np.min(10.0 * np.log10(1.0 / np.maximum(errors, 1e-20))))


def io_facts(model) -> dict:
    """Name, shape, dtype, value range and quantization of the input and output, for the sidecar."""
    runner = _interpreter(model, num_threads=1).get_signature_runner(SIGNATURE)
    facts = {}
    for role, detail in (("input", runner.get_input_details()[IMAGES_KEY]),
                         ("output", runner.get_output_details()[IMAGES_KEY])):
        entry = {"name": IMAGES_KEY, "shape": [int(side) for side in detail["shape"]],
                 "dtype": np.dtype(detail["dtype"]).name, "range": [-1.0, 1.0]}
        if detail["dtype"] != np.float32:
            scale, zero_point = detail["quantization"]
            entry.update(quantization={"scale": float(scale), "zero_point": int(zero_point)},
                         note="real value = (stored - zero_point) * scale, in [-1, 1]")
        facts[role] = entry
    return facts


def slowdown_verdict(variant: str, seconds: float, fp32_seconds: float) -> str | None:
    """Why `variant` is refused (over MAX_SLOWDOWN x fp32 and MIN_SLOWDOWN_SECONDS slower), or None to keep it."""
    ratio = seconds / fp32_seconds
    if ratio <= MAX_SLOWDOWN or seconds - fp32_seconds < MIN_SLOWDOWN_SECONDS:
        return None
    return (f"{variant} takes {seconds * 1000:.1f} ms per image, {ratio:.1f}x fp32's {fp32_seconds * 1000:.1f} ms "
            f"(limit {MAX_SLOWDOWN:.0f}x) on this runtime: its quantized kernels are not accelerated here")
