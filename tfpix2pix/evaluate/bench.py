"""`tfpix2pix bench`: training speed, FLOP use, inference latency and input pipeline speed.

Every figure is a median over repeats after warm-up, measured on this machine in this run.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tfpix2pix import config as config_lib, machine
from tfpix2pix.data import datasets, pipeline
from tfpix2pix.evaluate import floors
from tfpix2pix.evaluate.timing import in_fresh_process, median_seconds
from tfpix2pix.export import onnx as onnx_export
from tfpix2pix.export import savedmodel, tflite
from tfpix2pix.inference import formats, memory, runners
from tfpix2pix.models import deconvolution
from tfpix2pix.models import precision as precision_lib
from tfpix2pix.models.generator import required_multiple
from tfpix2pix.train import build
from tfpix2pix.train.trainer import Trainer


def matmul_peak_gflops(*, size: int = 4096, repeats: int = 5, dtype=tf.float32) -> float:
    """Practical float32 ceiling of this machine: a size x size matmul, GFLOP/s."""
    a = tf.random.normal([size, size], dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    seconds = median_seconds(lambda: matmul(a).numpy(), repeats=repeats)
    return 2 * size**3 / seconds / 1e9


def conv_gflop(model: keras.Model, input_shapes: list) -> float:
    """Forward GFLOP (2 x multiply-adds) of the model's convolutions for the given input shapes."""
    return sum(floors.layer_gflop(layer, shape) for layer, shape in floors.layer_input_shapes(model, input_shapes))


def train_step_gflop(generator, discriminator, *, image_size: int, batch_size: int) -> float:
    """FLOP of one train step, counted as the PyTorch reference counts it.

    G forward once and backward (2x forward: input and weight gradients); D forward three times
    (real, generated for the D step, generated again for the G step) and backward three times.
    """
    image = [batch_size, image_size, image_size, 3]
    generator_forward = conv_gflop(generator, [image])
    discriminator_forward = conv_gflop(discriminator, [image, image])
    return 3 * generator_forward + 9 * discriminator_forward


def bench_config(
    *, image_size: int, norm: str, precision: str = "float32", jit: bool = False, base_filters: int = 64,
    batch_size: int = 1,
) -> config_lib.Config:
    """The facades preset (the paper's U-Net, 70x70 PatchGAN and Adam) at this size, norm and precision, seed 0."""
    base = config_lib.preset("facades")
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, image_size=image_size, load_size=round(image_size * 286 / 256)),
        model=dataclasses.replace(base.model, norm=norm, base_filters=base_filters, discriminator_filters=base_filters),
        train=dataclasses.replace(base.train, precision=precision, jit=jit, batch_size=batch_size, seed=0),
    )


def build_trainer(config: config_lib.Config, *, merge_discriminator_passes: bool = False) -> Trainer:
    """The trainer `train` builds for `config`, on one device. Call under `models.precision.policy`."""
    return build.build_training(config, strategy=tf.distribute.get_strategy(), steps_per_epoch=1,
                                merge_discriminator_passes=merge_discriminator_passes).trainer


def steps_function(trainer: Trainer, *, image_size: int, batch_size: int = 1, steps: int):
    """A function that runs `steps` train steps on one fixed random batch and waits for them."""
    rng = np.random.default_rng(0)
    batch = tuple(
        tf.constant(rng.uniform(-1, 1, (batch_size, image_size, image_size, 3)).astype(np.float32))
        for _ in range(2)
    )
    step = tf.constant(0, tf.int64)

    def run_steps():
        for _ in range(steps):
            losses = trainer.train_step(step, batch)
        float(losses["g_l1"])

    return run_steps


def measure_training(
    *, image_size: int, batch_size: int, norm: str, precision: str = "float32", jit: bool = False,
    steps: int = 10, repeats: int = 3, base_filters: int = 64,
) -> dict:
    """Training images/s of the paper's models (U-Net + 70x70 PatchGAN) on random data."""
    config = bench_config(image_size=image_size, norm=norm, precision=precision, jit=jit, base_filters=base_filters,
                          batch_size=batch_size)
    with precision_lib.policy(precision):
        trainer = build_trainer(config)
        run_steps = steps_function(trainer, image_size=image_size, batch_size=batch_size, steps=steps)
        seconds = median_seconds(run_steps, repeats=repeats) / steps
        gflop = train_step_gflop(trainer.generator, trainer.discriminator, image_size=image_size,
                                 batch_size=batch_size)
    return {"img_per_s": batch_size / seconds, "step_ms": seconds * 1000, "step_gflop": gflop,
            "achieved_gflops": gflop / seconds, "generator": trainer.generator,
            "discriminator": trainer.discriminator}


def measure_generator_latency(generator, *, image_size: int, repeats: int = 10) -> float:
    """Milliseconds per 1-image forward pass of a Keras generator (dropout off), in the decoder's
    phase form as `tfpix2pix test` and `predict` run it."""
    image = tf.zeros([1, image_size, image_size, 3])
    model = deconvolution.with_phase_deconvolutions(generator)
    forward = tf.function(lambda x: model(x, training=False))
    return median_seconds(lambda: forward(image).numpy(), repeats=repeats, warmup=2) * 1000


def measure_predict_memory(generator, *, image_size: int, side: int) -> dict:
    """Peak memory of translating one side x side image as `predict` runs a work dir: measured (the
    peak resident memory increase) and `memory.estimate_peak_bytes`, both in MB (2**20) per megapixel."""
    runner = runners.KerasRunner(generator, multiple=required_multiple("unet", image_size), image_size=image_size)
    estimate = memory.estimate_peak_bytes(runner.memory_bytes_per_pixel, side, side, 1, multiple=runner.multiple)
    image = np.random.default_rng(0).uniform(-1, 1, [1, side, side, 3]).astype(np.float32)
    measured = memory.peak_increase(lambda: runner.run(image))
    megapixels = side * side / 1e6
    return {"side": side, "estimate_mb_per_mp": estimate / 2**20 / megapixels,
            "measured_mb_per_mp": None if measured is None else measured / 2**20 / megapixels}


def measure_pipeline(*, image_size: int, load_size: int, repeats: int = 3) -> float:
    """Input pipeline images/s (read, decode, resize, crop, flip) over the bundled sample."""
    folder = os.path.join(datasets.bundled_sample_dir(), "train")
    files = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    files = files * max(1, 96 // len(files))

    def one_epoch():
        dataset = pipeline.training_dataset(
            files, direction="BtoA", image_size=image_size, load_size=load_size, flip=True, seed=0,
            epoch=0, start_step=0, global_batch_size=1,
        )
        for _ in dataset:
            pass

    return len(files) / median_seconds(one_epoch, repeats=repeats)


def exported_latencies(generator, bfloat16_generator, *, image_size: int, repeats: int,
                       fresh_process: bool = True) -> dict:
    """ms per image of the SavedModel `translate` signature (float32 and bfloat16, as `export --bf16` writes
    it), the TFLite fp32, fp16 and int8 files and, when tf2onnx, onnx and onnxruntime are installed, the
    ONNX file under ONNX Runtime. `fresh_process=False` times the SavedModels in this process (a smoke
    test's shortcut: a fresh process costs a TensorFlow start-up, seconds, and only matters to figures)."""
    image = np.random.default_rng(0).uniform(-1, 1, [1, image_size, image_size, 3]).astype(np.float32)
    latencies = {}
    with tempfile.TemporaryDirectory() as folder:
        for key, model in (("saved_model", generator), ("saved_model_bf16", bfloat16_generator)):
            version_dir = os.path.join(folder, key, "1")
            savedmodel.save(model, version_dir, multiple=image_size, warmup_image_size=image_size)
            # In a process of its own, as TF Serving runs it: this one trained the same layers. A smoke
            # test skips that start-up.
            latencies[key] = (in_fresh_process(saved_model_ms, version_dir, image, repeats) if fresh_process
                              else saved_model_ms(version_dir, image, repeats))
    representative = [image] + [np.random.default_rng(seed).uniform(-1, 1, image.shape).astype(np.float32)
                                for seed in range(1, 4)]
    for variant in ("fp32", "fp16", "int8"):
        model = tflite.convert(generator, variant, image_size=image_size, representative_images=representative)
        latencies[f"tflite_{variant}"] = tflite.latency(model, image, runs=repeats) * 1000
    if onnx_export.missing() is None:
        latencies["onnx"] = onnx_export.latency(onnx_export.convert(generator), image, runs=repeats) * 1000
    return latencies


def saved_model_ms(version_dir: str, image: np.ndarray, repeats: int) -> float:
    """Milliseconds per call of a SavedModel's `translate` signature on `image`."""
    translate = tf.saved_model.load(version_dir).signatures[formats.TRANSLATE]
    constant = tf.constant(image)
    return median_seconds(lambda: translate(images=constant)[formats.IMAGES_KEY].numpy(), repeats=repeats,
                          warmup=2) * 1000


def run(
    *, image_size: int = 256, batch_size: int = 1, precision: str = "float32", jit: bool = False,
    quick: bool = False, log=print,
) -> dict:
    """Runs every measurement; `quick` uses a tiny model and few repeats (smoke test)."""
    steps, repeats = (2, 1) if quick else (10, 3)
    base_filters = 8 if quick else 64
    load_size = round(image_size * 286 / 256)
    log("measuring float32 matmul peak ...")
    peak = matmul_peak_gflops(size=512 if quick else 4096, repeats=repeats + 2)
    results: dict = {"image_size": image_size, "batch_size": batch_size, "precision": precision, "jit": jit,
                     "quick": quick, "matmul_peak_gflops": peak, "train": {}}
    for norm in ("instance", "batch"):
        log(f"measuring training, {norm} norm ...")
        measured = measure_training(
            image_size=image_size, batch_size=batch_size, norm=norm, precision=precision, jit=jit,
            steps=steps, repeats=repeats, base_filters=base_filters,
        )
        generator, discriminator = measured.pop("generator"), measured.pop("discriminator")
        measured["share_of_peak"] = measured["achieved_gflops"] / peak
        results["train"][norm] = measured
        if norm == "instance":
            default_generator = generator
            log("measuring the step's floors (each convolution alone; memory bandwidth) ...")
            results["floors"] = floors.floors(generator, discriminator, image_size=image_size, batch_size=batch_size,
                                              precision=precision, step_seconds=measured["step_ms"] / 1000,
                                              repeats=repeats)
    results["train_img_per_s"] = results["train"]["instance"]["img_per_s"]
    log("measuring generator latency ...")
    results["infer_ms"] = {"keras": measure_generator_latency(default_generator, image_size=image_size,
                                                               repeats=3 if quick else 10)}
    # The exports of a run in any precision are float32, as `export` builds them from a work dir, and
    # bfloat16 for the bf16 SavedModel.
    config = bench_config(image_size=image_size, norm="instance", base_filters=base_filters)
    exported = default_generator if precision == "float32" else precision_lib.rebuilt(default_generator, config,
                                                                                      "float32")
    results["infer_ms"].update(exported_latencies(
        exported, precision_lib.rebuilt(default_generator, config, "bfloat16"), image_size=image_size,
        repeats=3 if quick else 10, fresh_process=not quick))
    log("measuring the input pipeline ...")
    results["pipeline_img_per_s"] = measure_pipeline(image_size=image_size, load_size=load_size, repeats=repeats)
    peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log("measuring predict memory ...")  # Resets the peak RSS: read the run's peak first.
    results["predict_memory"] = measure_predict_memory(default_generator, image_size=image_size,
                                                       side=512 if quick else 1024)
    results["peak_memory_mb"] = max(peak_memory_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["machine"] = {**machine.this_machine(), "tensorflow": tf.__version__, "keras": keras.__version__}
    return results


def table(results: dict) -> str:
    """The human-readable table of `run`'s results."""
    lines = [
        f"tfpix2pix bench: {results['image_size']}x{results['image_size']}, batch {results['batch_size']}, "
        f"{results['precision']}{', XLA' if results['jit'] else ''}{' (quick)' if results['quick'] else ''}",
        f"machine: {machine.describe(results['machine'])}",
        f"{'float32 matmul peak':<34}{results['matmul_peak_gflops']:>10.1f} GFLOP/s",
    ]
    for norm, measured in results["train"].items():
        lines.append(f"{'train, ' + norm + ' norm':<34}{measured['img_per_s']:>10.3f} img/s   "
                     f"{measured['step_gflop']:.1f} GFLOP/step, {measured['achieved_gflops']:.1f} GFLOP/s "
                     f"= {100 * measured['share_of_peak']:.0f}% of peak")
    if "floors" in results:
        floor = results["floors"]
        lines.append(f"{'step floors, instance norm':<34}{floor['compute_floor_ms']:>10.0f} ms compute, "
                     f"{floor['memory_floor_ms']:.0f} ms memory ({floor['memory_bandwidth_gb_per_s']:.1f} GB/s): "
                     f"the step reaches {100 * floor['share_of_floor']:.0f}% of its {floor['bound']} floor; "
                     f"its convolutions alone, as TensorFlow runs them: {floor['convolutions_alone_ms']:.0f} ms")
    for name, ms in results["infer_ms"].items():
        lines.append(f"{'generator latency, ' + name:<34}{ms:>10.1f} ms/image")
    lines.append(f"{'input pipeline':<34}{results['pipeline_img_per_s']:>10.1f} img/s")
    predict_memory = results["predict_memory"]
    measured = predict_memory["measured_mb_per_mp"]
    lines.append(f"{'predict memory, ' + str(predict_memory['side']) + ' px':<34}"
                 f"{'n/a' if measured is None else format(measured, '.0f'):>10} MB/MP   "
                 f"(estimate {predict_memory['estimate_mb_per_mp']:.0f} MB/MP)")
    lines.append(f"{'peak memory':<34}{results['peak_memory_mb']:>10.0f} MB")
    return "\n".join(lines)


def validate_options(image_size: int, batch_size: int) -> None:
    if image_size & (image_size - 1) or image_size < 16:
        raise config_lib.UsageError(f"--image-size must be a power of two of at least 16, got {image_size}")
    if batch_size < 1:
        raise config_lib.UsageError(f"--batch-size must be at least 1, got {batch_size}")
