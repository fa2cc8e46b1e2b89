"""`tfpix2pix export`: a work dir's generator as SavedModel, Keras file, TFLite and ONNX, measured.

    export/<name>/saved_model/<step>/      TF Serving layout, signatures serving_default + translate
    export/<name>/saved_model_bf16/<step>/ the same in bfloat16, with --bf16 (model name <name>_bf16)
    export/<name>/generator.keras          for fine-tuning and Keras users
    export/<name>/<name>_<variant>.tflite  fp32, fp16, int8, dynamic (+ a .json sidecar each)
    export/<name>/<name>.onnx              float32, dynamic sizes, for ONNX Runtime (+ <name>.onnx.json)
    export/<name>/models.config            TF Serving --model_config_file example
    export/<name>/README.md                how to serve it, request examples, measured figures
    export/<name>/export.json              the same figures for machines

Every format is checked against the Keras generator on evaluation images (max abs difference,
or PSNR for int8 and bfloat16) and timed per image; a TFLite variant more than 2x slower than fp32 is refused.
Without tf2onnx, onnx and onnxruntime the ONNX file is skipped, and its row says how to install them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfpix2pix import files, machine
from tfpix2pix.data import pipeline, sources
from tfpix2pix.errors import UsageError
from tfpix2pix.export import onnx as onnx_export
from tfpix2pix.export import readme, rollback, savedmodel, tflite
from tfpix2pix.inference import formats, restore, translation
from tfpix2pix.models import precision
from tfpix2pix.models.generator import required_multiple

# Parity targets against the Keras generator (max abs difference on [-1, 1] outputs; PSNR for int8).
PARITY_SEED = 1
TOLERANCES = {"saved_model": 1e-5, "keras_file": 1e-5, "fp32": 1e-4, "fp16": 1e-2, "onnx": 1e-4}
# The bf16 SavedModel: bfloat16 keeps 8 bits of mantissa, about 0.4% per value; measured 51-65 dB.
MIN_BF16_PSNR = 40.0
SAVED_MODEL, SAVED_MODEL_BF16 = "saved_model", "saved_model_bf16"


@dataclass(frozen=True)
class ExportOptions:
    """What `export` writes and how it measures.

    Attributes:
        name: TF Serving model name and TFLite file prefix (default: the output folder's name).
        tflite_variants: any of tflite.VARIANTS; empty for no TFLite files.
        stochastic: SavedModel with the paper's test-time dropout (§3.3); TFLite stays deterministic.
        bfloat16: also write `saved_model_bf16/<step>/`, the generator with bfloat16 weights and math
            (float32 in and out, the same signatures): faster on CPUs with AVX512_BF16 or AMX.
        int8_io: int8 input and output tensors in the int8 file (float32 by default).
        int8_float_norm: keep the instance-norm layers in float inside the int8 file (more precise and,
            with XNNPACK, faster; but no longer integer-only). Done anyway when full int8 misses 30 dB.
        onnx: write `<name>.onnx` (skipped, with a note, when tf2onnx, onnx or onnxruntime is missing).
        max_side: longest image side the serving signature accepts.
        calibration_images: training images for int8 calibration.
        evaluation_images: validation images for the parity figures.
        timing_runs: timed runs per format (median reported).
        num_threads: LiteRT and ONNX Runtime threads (default: all cores).
        checkpoint: which checkpoint of the work dir: latest, best or a step number.
    """

    name: str | None = None
    tflite_variants: tuple[str, ...] = tflite.VARIANTS
    stochastic: bool = False
    bfloat16: bool = False
    int8_io: bool = False
    int8_float_norm: bool = False
    onnx: bool = True
    max_side: int = savedmodel.DEFAULT_MAX_SIDE
    calibration_images: int = 100
    evaluation_images: int = 8
    timing_runs: int = 5
    num_threads: int | None = None
    checkpoint: str = "latest"


def _folder_size(path: str) -> int:
    return sum(files.getsize(file) for file in files.walk_files(path))


def split_images(config, split: str, count: int) -> np.ndarray | None:
    """Up to `count` input images of `split`, resized to the training size, or None if absent."""
    if count < 1 or not sources.has_split(config.data, split):
        return None
    files = sources.split_sources(config.data, split, image_size=config.data.image_size,
                                  log=lambda *_: None, download=False)[:count]
    if not files:
        return None
    batches = pipeline.evaluation_dataset(files, direction=config.data.direction, image_size=config.data.image_size)
    return np.concatenate([input_image.numpy() for input_image, _ in batches])


def _timed(function, image, runs: int) -> float:
    """Median seconds per call after one warm-up call."""
    function(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def check_target(out: str, step: int, folder: str = SAVED_MODEL) -> str:
    """The version folder `<out>/<folder>/<step>`; refuses a non-empty one before anything is written."""
    if files.exists(out) and not files.isdir(out):
        raise UsageError(f"--out {out} exists and is not a folder")
    version_dir = os.path.join(out, folder, str(step))
    if files.isdir(version_dir) and files.listdir(version_dir):
        raise UsageError(f"{version_dir} already holds an export of step {step}; nothing was overwritten: "
                         "choose another --out, or delete that folder to export again")
    if files.exists(version_dir) and not files.isdir(version_dir):
        raise UsageError(f"{version_dir} exists and is not a folder")
    return version_dir


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote, as export.json holds it.

    Attributes:
        name: the TF Serving model name and TFLite file prefix.
        version: the SavedModel version, the training step.
        out: the export folder.
        saved_model: the version folder.
        saved_model_bf16: the bf16 SavedModel's version folder, or None.
        image_size, multiple, max_side, stochastic: the model's sizes and mode.
        evaluation_images: which images the parity figures used.
        formats: one row per format: file, bytes, ms per image, parity (see `readme.format_rows`).
    """

    name: str
    version: int
    out: str
    saved_model: str
    saved_model_bf16: str | None
    image_size: int
    multiple: int
    max_side: int
    stochastic: bool
    evaluation_images: str
    formats: tuple[dict, ...]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "formats": list(self.formats)}


def export(workdir: str, out: str, options: ExportOptions = ExportOptions(), *, log=print) -> ExportResult:
    """Exports the generator of `workdir` (`options.checkpoint`, latest by default) to `out` and measures every format.

    Raises:
        UsageError: no checkpoint in `workdir`, a non-empty version folder, an unknown TFLite
            variant, or int8 requested without the training images to calibrate on. Nothing is
            written in those cases.

    Returns:
        The version, paths, and per format its file, size, latency and parity figures.
    """
    unknown = [variant for variant in options.tflite_variants if variant not in tflite.VARIANTS]
    if unknown:
        raise UsageError(f"unknown TFLite variant(s) {', '.join(unknown)}; valid: {', '.join(tflite.VARIANTS)}")
    files.check(workdir, "--workdir")
    files.check(out, "--out")
    name = options.name or os.path.basename(os.path.normpath(out))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UsageError(f"model name {name!r} must be letters, digits, '_', '.' or '-' (set it with --name)")
    generator, config, step = restore.load_generator(workdir, checkpoint=options.checkpoint)
    image_size = config.data.image_size
    multiple = required_multiple(config.model.generator, image_size)
    version_dir = check_target(out, step)
    bf16_dir = check_target(out, step, SAVED_MODEL_BF16) if options.bfloat16 else None
    calibration = None
    if "int8" in options.tflite_variants:
        calibration = split_images(config, "train", options.calibration_images)
        if calibration is None:
            raise UsageError(f"int8 calibration needs the training images of {workdir} "
                             f"({config.data.dataset or config.data.data_dir or config.data.a_dir}), which are not "
                             "on this machine: restore them, or leave int8 out (--tflite fp32,fp16,dynamic)")
    evaluation, evaluation_source = split_images(config, "val", options.evaluation_images), "val"
    if evaluation is None:
        evaluation, evaluation_source = split_images(config, "train", options.evaluation_images), "train"
    if evaluation is None:
        evaluation, evaluation_source = savedmodel.warmup_images(image_size)[1], "synthetic"
    reference = generator(evaluation, training=False).numpy()
    facts = {"step": step, "image_size": image_size, "multiple": multiple, "direction": config.data.direction,
             "dataset": formats.dataset_name(config.data),
             "generator": config.model.generator, "norm": config.model.norm, "workdir": files.abspath(workdir)}
    rows: list[dict] = []

    # Everything written from here is recorded first: a failure or SIGINT/SIGTERM undoes it all.
    planned = [os.path.join(out, name_) for name_ in ("generator.keras", "models.config", "export.json", "README.md")]
    for variant in options.tflite_variants:
        planned += [tflite_path(out, name, variant), formats.sidecar_path(tflite_path(out, name, variant))]
    if options.onnx:
        planned += [onnx_path(out, name), formats.sidecar_path(onnx_path(out, name))]
    with rollback.Rollback(out) as changes, rollback.signals_raise():
        for saved_model in filter(None, (version_dir, bf16_dir)):
            changes.record_folders(os.path.dirname(saved_model))
            changes.record(saved_model)
        for path in planned:
            changes.record(path)
        log(f"exporting step {step} of {workdir} to {out} (model name {name}); parity on {len(evaluation)} "
            f"{evaluation_source} images")
        savedmodel.save(
            generator, version_dir, multiple=multiple, max_side=options.max_side, stochastic=options.stochastic,
            norm=config.model.norm, metadata=facts, model_name=name, warmup_image_size=image_size,
        )
        rows.append(_keras_row(generator, evaluation, options.timing_runs))
        rows.extend(_saved_model_rows(version_dir, generator, evaluation, reference, options))
        log(f"  SavedModel: {version_dir}")
        if bf16_dir:
            bfloat16 = precision.rebuilt(generator, config, "bfloat16")
            savedmodel.save(
                bfloat16, bf16_dir, multiple=multiple, max_side=options.max_side, stochastic=options.stochastic,
                norm=config.model.norm, metadata={**facts, "precision": "bfloat16"}, model_name=f"{name}_bf16",
                warmup_image_size=image_size,
            )
            rows.extend(_saved_model_rows(bf16_dir, bfloat16, evaluation, reference, options))
            log(f"  SavedModel, bfloat16: {bf16_dir}")
        rows.append(_keras_file_row(generator, out, evaluation, reference))
        rows.extend(_tflite_rows(generator, out, name, image_size, calibration, evaluation, reference, facts, options, log))
        if options.onnx:
            rows.append(_onnx_row(generator, out, name, evaluation, reference, facts, options, log))
        for row in rows:
            if row.get("meets_target") is False:
                log(f"  warning: {row['format']} misses its parity target: {row['parity']}")

        files.write_bytes(os.path.join(out, "models.config"), models_config(name, bfloat16=bool(bf16_dir)))
        result = ExportResult(
            name=name, version=step, out=out, saved_model=version_dir, saved_model_bf16=bf16_dir, image_size=image_size,
            multiple=multiple, max_side=options.max_side, stochastic=options.stochastic,
            evaluation_images=f"{len(evaluation)} {evaluation_source} images", formats=tuple(rows),
        )
        files.write_bytes(os.path.join(out, "export.json"), json.dumps(result.to_dict(), indent=2) + "\n")
        readme.write(os.path.join(out, "README.md"), result.to_dict())
    return result


def _keras_row(generator, evaluation, runs: int) -> dict:
    seconds = _timed(lambda image: generator(image, training=False), evaluation[:1], runs)
    return {"format": "keras (in memory)", "file": None, "bytes": None, "ms": seconds * 1000, "parity": "reference"}


def _saved_model_rows(version_dir, generator, evaluation, reference, options) -> list[dict]:
    """The `translate` and `serving_default` rows of the SavedModel in `version_dir`, exported from `generator`.

    A bfloat16 SavedModel is held to a PSNR against the float32 Keras outputs (`reference`);
    with dropout on, against its own bfloat16 generator's, as its masks are drawn in bfloat16.
    """
    loaded = tf.saved_model.load(version_dir)
    translate = loaded.signatures[savedmodel.TRANSLATE]
    serve = loaded.signatures[savedmodel.SERVE]
    bfloat16 = generator.dtype_policy.compute_dtype == "bfloat16"
    label = SAVED_MODEL_BF16 if bfloat16 else SAVED_MODEL
    rows = []
    size = _folder_size(version_dir)
    if options.stochastic:
        # Random outputs: compare with Keras' dropout-on outputs drawn from the same seed.
        loaded.seed_dropout(tf.constant(PARITY_SEED, tf.int64))
        translation.seed_dropout(generator, PARITY_SEED)
        reference = generator(evaluation, training=True).numpy()
    outputs = translate(images=tf.constant(evaluation))[savedmodel.IMAGES_KEY].numpy()
    difference = float(np.max(np.abs(outputs - reference)))
    if bfloat16:
        decibels = tflite.psnr(outputs, reference)
        parity = f"PSNR {decibels:.1f} dB (target >= {MIN_BF16_PSNR:g}), max abs diff {difference:.2g}"
        figures = {"max_abs_diff": difference, "psnr_db": decibels, "meets_target": decibels >= MIN_BF16_PSNR}
    else:
        parity = f"max abs diff {difference:.2g} (target {TOLERANCES['saved_model']:g})"
        figures = {"max_abs_diff": difference, "meets_target": difference <= TOLERANCES["saved_model"]}
    if options.stochastic:
        parity += f", dropout on, both seeded with {PARITY_SEED}"
        if bfloat16:
            parity += ", against the bfloat16 Keras generator"
    seconds = _timed(lambda image: translate(images=image), tf.constant(evaluation[:1]), options.timing_runs)
    row = {"format": f"{label} translate", "file": version_dir, "bytes": size, "ms": seconds * 1000,
           "parity": parity, **figures}
    if bfloat16:
        cpu = machine.cpu_facts()
        row["note"] = (f"bfloat16 is native on this CPU ({', '.join(machine.bfloat16_flags(cpu))})"
                       if machine.has_native_bfloat16(cpu) else
                       "bfloat16 is emulated on this CPU (no AVX512_BF16 or AMX): the figure for a CPU with them differs")
    rows.append(row)
    png = tf.io.encode_png(pipeline.to_uint8(evaluation[0]))
    seconds = _timed(lambda batch: serve(image_bytes=batch), tf.reshape(png, [1]), options.timing_runs)
    rows.append({"format": f"{label} serving_default (PNG in, PNG out)", "file": version_dir, "bytes": size,
                 "ms": seconds * 1000, "parity": "decode + pad + generator + crop + PNG encode"})
    return rows


def _keras_file_row(generator, out: str, evaluation, reference) -> dict:
    path = os.path.join(out, "generator.keras")
    with tempfile.TemporaryDirectory(prefix="tfpix2pix-keras-") as scratch:
        local = os.path.join(scratch, "generator.keras")  # Keras wants the .keras suffix.
        generator.save(local)
        files.write_bytes(path, files.read_bytes(local))
        reloaded = keras.saving.load_model(local, compile=False)
    difference = float(np.max(np.abs(reloaded(evaluation, training=False).numpy() - reference)))
    return {"format": "keras file", "file": path, "bytes": files.getsize(path), "ms": None,
            "parity": f"max abs diff {difference:.2g} (target {TOLERANCES['keras_file']:g})",
            "max_abs_diff": difference,
            "meets_target": difference <= TOLERANCES["keras_file"]}


def _tflite_rows(generator, out, name, image_size, calibration, evaluation, reference, facts, options, log):
    """Converts, checks and times each variant; writes those within 2x of fp32's latency.

    fp32 goes first, as the others are timed against it; it is converted for that even when it
    was not asked for (and then not written).
    """
    if not options.tflite_variants:
        return []
    rows, fp32_seconds = [], None
    threads = options.num_threads or os.cpu_count()
    representative = None if calibration is None else list(calibration[:, np.newaxis])
    for variant in ["fp32"] + [variant for variant in options.tflite_variants if variant != "fp32"]:
        log(f"  TFLite {variant}: converting"
            + (f", calibrated on {len(representative)} training images" if variant == "int8" else ""))
        started = time.perf_counter()
        int8_io = options.int8_io and variant == "int8"
        float_norm = options.int8_float_norm and variant == "int8"
        model = tflite.convert(generator, variant, image_size=image_size, representative_images=representative,
                               int8_io=int8_io, float_norm=float_norm)
        outputs = tflite.run(model, evaluation, num_threads=threads)
        note = "instance norm kept in float (--int8-float-norm)" if float_norm else None
        if variant == "int8" and not float_norm and tflite.psnr(outputs, reference) < tflite.MIN_INT8_PSNR:
            note = (f"full int8 reached {tflite.psnr(outputs, reference):.1f} dB < {tflite.MIN_INT8_PSNR:g}: "
                    "instance norm kept in float")
            log(f"  TFLite int8: {note}")
            model = tflite.convert(generator, variant, image_size=image_size, representative_images=representative,
                                   int8_io=int8_io, float_norm=True)
            outputs = tflite.run(model, evaluation, num_threads=threads)
        seconds = tflite.latency(model, evaluation[:1], runs=options.timing_runs, num_threads=threads)
        fp32_seconds = fp32_seconds or seconds
        if variant not in options.tflite_variants:
            continue
        path = tflite_path(out, name, variant)
        row = {"format": f"tflite {variant}", "file": path, "bytes": len(model), "ms": seconds * 1000,
               "convert_s": time.perf_counter() - started, **_tflite_parity(variant, outputs, reference)}
        if note:
            row["note"] = note
        refusal = tflite.slowdown_verdict(variant, seconds, fp32_seconds)
        if refusal:
            row.update(file=None, refused=refusal)
            log(f"  tflite {variant}: refused, not written: {refusal}")
        else:
            files.write_bytes(path, model)
            sidecar = {**facts, "variant": variant, "signature": tflite.SIGNATURE, "deterministic": True,
                       **tflite.io_facts(model)}
            files.write_bytes(formats.sidecar_path(path), json.dumps(sidecar, indent=2) + "\n")
        rows.append(row)
    return rows


def _onnx_row(generator, out, name, evaluation, reference, facts, options, log) -> dict:
    """Converts, checks, times and writes `<name>.onnx` and its facts file; a row saying why not otherwise.

    Deterministic only (dropout off), as the TFLite files, also for a --stochastic export.
    """
    path = onnx_path(out, name)
    row = {"format": "onnx", "file": None, "bytes": None, "ms": None, "parity": ""}
    absent = onnx_export.missing()
    if absent:
        log(f"  ONNX: skipped, {absent}")
        return {**row, "skipped": absent}
    converter = onnx_export.converter_version()
    log(f"  ONNX: converting ({converter}, opset {onnx_export.OPSET})")
    started = time.perf_counter()
    onnx_facts = {**facts, "format": "onnx", "deterministic": True, "opset": onnx_export.OPSET,
                  "converter": converter, **onnx_export.io_facts()}
    try:
        model = onnx_export.convert(generator, metadata=onnx_facts)
    except onnx_export.ConversionError as error:
        rollback.raise_if_stopped()
        log(f"  ONNX: not written: {error}")
        return {**row, "skipped": str(error)}
    rollback.raise_if_stopped()
    threads = options.num_threads or os.cpu_count()
    difference = float(np.max(np.abs(onnx_export.run(model, evaluation, num_threads=threads) - reference)))
    seconds = onnx_export.latency(model, evaluation[:1], runs=options.timing_runs, num_threads=threads)
    files.write_bytes(path, model)
    files.write_bytes(formats.sidecar_path(path), json.dumps(onnx_facts, indent=2) + "\n")
    parity = f"max abs diff {difference:.2g} (target {TOLERANCES['onnx']:g})"
    if options.stochastic:
        parity += ", dropout off (the SavedModel keeps it on)"
    return {**row, "file": path, "bytes": len(model), "ms": seconds * 1000, "convert_s": time.perf_counter() - started,
            "parity": parity, "max_abs_diff": difference, "meets_target": difference <= TOLERANCES["onnx"],
            "opset": onnx_export.OPSET, "converter": converter}


def _tflite_parity(variant: str, outputs, reference) -> dict:
    difference = float(np.max(np.abs(outputs - reference)))
    if variant in ("int8", "dynamic"):
        decibels = tflite.psnr(outputs, reference)
        return {"max_abs_diff": difference, "psnr_db": decibels, "meets_target": decibels >= tflite.MIN_INT8_PSNR,
                "parity": f"PSNR {decibels:.1f} dB (target >= {tflite.MIN_INT8_PSNR:g}), max abs diff {difference:.2g}"}
    return {"max_abs_diff": difference, "meets_target": difference <= TOLERANCES[variant],
            "parity": f"max abs diff {difference:.2g} (target {TOLERANCES[variant]:g})"}


def tflite_path(out: str, name: str, variant: str) -> str:
    return os.path.join(out, f"{name}_{variant}.tflite")


def onnx_path(out: str, name: str) -> str:
    return os.path.join(out, f"{name}.onnx")


def models_config(name: str, *, bfloat16: bool = False) -> str:
    """A TF Serving `--model_config_file` for `saved_model/` mounted at /models/<name> (versions inside),
    and with `bfloat16`, `saved_model_bf16/` at /models/<name>_bf16."""
    models = [(name, "saved_model")] + ([(f"{name}_bf16", "saved_model_bf16")] if bfloat16 else [])
    lines = ["# tensorflow_model_server --model_config_file=/models/models.config"]
    lines += [f"# with the export's {folder}/ folder mounted at /models/{model}" for model, folder in models]
    lines.append("model_config_list {")
    for model, _ in models:
        lines += ["  config {", f'    name: "{model}"', f'    base_path: "/models/{model}"',
                  '    model_platform: "tensorflow"', "  }"]
    return "\n".join(lines + ["}", ""])


def options_from(**values) -> ExportOptions:
    """ExportOptions from keyword values, ignoring None (unset CLI flags)."""
    return dataclasses.replace(ExportOptions(), **{key: value for key, value in values.items() if value is not None})
