"""How much faster LiteRT runs one int8 convolution than the same float32 one, on this CPU.

The int8 target (at most half of fp32's time per generator image) assumes int8 convolutions at
least twice as fast as float32 ones. This converts single convolutions of the U-Net's shapes to
TFLite fp32 and full-integer int8 (calibrated on random inputs), runs both with XNNPACK on all
cores, alternating, and prints the ratio of medians.

    python benchmarks/int8_convolutions.py
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

# (input side, input channels, output channels, kernel, stride): encoder 4x4/2 convolutions and the
# decoder's phase-form 2x2/1 convolutions (input padded by 1, 4 x filters outputs) of the 256 U-Net.
SHAPES = ((64, 128, 256, 4, 2), (32, 512, 512, 4, 2), (65, 256, 256, 2, 1), (129, 128, 256, 2, 1))


def convolution(side: int, channels: int, filters: int, kernel: int, stride: int) -> keras.Model:
    inputs = keras.Input((side, side, channels), batch_size=1)
    return keras.Model(inputs, keras.layers.Conv2D(filters, kernel, strides=stride, padding="same")(inputs))


def convert(model: keras.Model, shape: list[int], *, int8: bool) -> bytes:
    function = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec(shape, tf.float32))
    owner = tf.Module()
    owner.weights = [variable.value for variable in model.variables]  # so the converter freezes them
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], owner)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)] for seed in range(3)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def invoker(model: bytes):
    interpreter = Interpreter(model_content=model, num_threads=os.cpu_count())
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    return interpreter.invoke


def main() -> None:
    print("| convolution | fp32 ms | int8 ms | int8 / fp32 |\n|---|---|---|---|")
    for side, channels, filters, kernel, stride in SHAPES:
        model = convolution(side, channels, filters, kernel, stride)
        shape = [1, side, side, channels]
        runs = {"fp32": invoker(convert(model, shape, int8=False)), "int8": invoker(convert(model, shape, int8=True))}
        times = {name: [] for name in runs}
        for _ in range(15):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        fp32, int8 = (float(np.median(times[name])) for name in ("fp32", "int8"))
        print(f"| {side}x{side}x{channels} -> {filters}, {kernel}x{kernel} stride {stride} | {fp32 * 1000:.2f} | "
              f"{int8 * 1000:.2f} | {int8 / fp32:.2f} |", flush=True)


if __name__ == "__main__":
    main()
