"""The paper's 256x256 U-Net (64 filters, random weights) under ONNX Runtime, the SavedModel and TFLite fp32.

One process, one measurement at a time: the three formats are converted first (the ONNX
conversion's time and peak memory recorded on their own), then timed in turn for `--rounds`
rounds (each a median of `--runs` calls after a warm-up call), and compared with the Keras
generator on the bundled sample's 8 validation inputs resized to 256x256. It waits up to 4 minutes
for the 1-minute load average to fall below 0.5 first and reports the load before and after.

    python benchmarks/onnx_latency.py                 # prints a markdown table and the JSON figures
    python benchmarks/onnx_latency.py --rounds 1 --runs 3 --size 64 --filters 8   # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tfpix2pix import config as config_lib
from tfpix2pix.data import datasets, pipeline, sources
from tfpix2pix.evaluate import bench
from tfpix2pix.export import onnx as onnx_export
from tfpix2pix.export import savedmodel, tflite
from tfpix2pix.inference import formats
from tfpix2pix.models.generator import build_unet_generator


def memory_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def reset_peak_memory() -> None:
    with open("/proc/self/clear_refs", "w") as file:  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
        file.write("5")


def wait_for_quiet(limit: float = 0.5, timeout: float = 240) -> tuple:
    """Waits until the 1-minute load average is below `limit` or `timeout` passes; returns the load."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()


def val_images(size: int) -> np.ndarray:
    data = config_lib.DataConfig(dataset=datasets.SAMPLE_NAME, image_size=size)
    files = sources.split_sources(data, "val", image_size=size, log=lambda *_: None, download=False)[:8]
    batches = pipeline.evaluation_dataset(files, direction="BtoA", image_size=size)
    return np.concatenate([image.numpy() for image, _ in batches])


def cpu() -> str:
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    vector = [flag for flag in ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "amx_tile") if flag in flags]
    return f"{fields.get('Model name', platform.processor()).strip()}, {os.cpu_count()} cores, {' '.join(vector)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    generator = build_unet_generator(image_size=args.size, base_filters=args.filters)
    images = val_images(args.size)
    reference = generator(images, training=False).numpy()
    image = images[:1]
    load_before = wait_for_quiet()

    resident = memory_kb("VmRSS")
    reset_peak_memory()
    started = time.perf_counter()
    onnx_model = onnx_export.convert(generator)
    onnx_convert = {"seconds": time.perf_counter() - started, "peak_extra_mb": (memory_kb("VmHWM") - resident) / 1024,
                    "bytes": len(onnx_model)}
    lite_model = tflite.convert(generator, "fp32", image_size=args.size)
    folder = tempfile.mkdtemp()
    savedmodel.save(generator, os.path.join(folder, "1"), multiple=args.size, warmup_image_size=args.size)
    translate = tf.saved_model.load(os.path.join(folder, "1")).signatures[formats.TRANSLATE]

    differences = {
        "onnx": float(np.max(np.abs(onnx_export.run(onnx_model, images) - reference))),
        "saved_model": float(np.max(np.abs(translate(images=tf.constant(images))[formats.IMAGES_KEY] - reference))),
        "tflite_fp32": float(np.max(np.abs(tflite.run(lite_model, images) - reference))),
    }
    constant = tf.constant(image)
    timers = {
        "onnx": lambda: onnx_export.latency(onnx_model, image, runs=args.runs),
        "saved_model": lambda: bench.median_seconds(lambda: translate(images=constant), repeats=args.runs),
        "tflite_fp32": lambda: tflite.latency(lite_model, image, runs=args.runs),
    }
    rounds = {name: [] for name in timers}
    for _ in range(args.rounds):
        for name, timer in timers.items():
            rounds[name].append(timer() * 1000)
    results = {
        "cpu": cpu(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "onnxruntime": __import__("onnxruntime").__version__, "onnx": __import__("onnx").__version__,
                     "tf2onnx": onnx_export.converter_version()},
        "size": args.size, "filters": args.filters, "parameters": generator.count_params(),
        "onnx_convert": onnx_convert, "max_abs_diff": differences,
        "ms_per_image_rounds": rounds, "ms_per_image": {name: statistics.median(values) for name, values in rounds.items()},
    }
    print(f"{args.size}x{args.size} U-Net, {args.filters} filters ({results['parameters']:,} parameters); {results['cpu']}")
    print("| format | ms / image (median of rounds) | rounds | max abs diff vs Keras |")
    print("|---|---|---|---|")
    for name in timers:
        print(f"| {name} | {results['ms_per_image'][name]:.1f} | {', '.join(f'{v:.1f}' for v in rounds[name])} "
              f"| {differences[name]:.2g} |")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
