"""TFLite variants: signatures, sidecars, parity, int8 options, the slowdown rule, LiteRT runners."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import image_files
from tests.export import support
from tfpix2pix.errors import UsageError
from tfpix2pix.export import export, tflite
from tfpix2pix.inference import formats, runners
from tfpix2pix.models import deconvolution

Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter


@pytest.fixture(scope="module")
def calibration():
    """Training-split inputs, as the export calibrates int8."""
    from tfpix2pix import config as config_lib

    config = config_lib.preset("tiny")
    return list(export.split_images(config, "train", 24)[:, None])


def tflite_path(out, variant):
    return os.path.join(out, f"facades_{variant}.tflite")


@pytest.mark.parametrize("variant", tflite.VARIANTS)
def test_each_file_has_a_named_serving_signature_and_a_sidecar(exported, variant):
    out = exported.out
    interpreter = Interpreter(model_path=tflite_path(out, variant))
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["images"], "outputs": ["images"]}}
    runner = interpreter.get_signature_runner("serving_default")
    assert list(runner.get_input_details()["images"]["shape"]) == [1, 32, 32, 3]
    sidecar = json.loads(open(formats.sidecar_path(tflite_path(out, variant))).read())
    assert (sidecar["image_size"], sidecar["multiple"], sidecar["step"], sidecar["variant"]) == (32, 32, 40, variant)
    assert sidecar["input"] == {"name": "images", "shape": [1, 32, 32, 3], "dtype": "float32", "range": [-1.0, 1.0]}
    assert sidecar["output"]["range"] == [-1.0, 1.0] and sidecar["deterministic"] is True


def test_parity_with_keras_on_facades_val_images(exported, generator, val_images):
    images = val_images
    reference = generator(images, training=False).numpy()
    out = exported.out
    outputs = {variant: tflite.run(tflite_path(out, variant), images) for variant in tflite.VARIANTS}
    assert np.max(np.abs(outputs["fp32"] - reference)) <= 1e-4
    assert np.max(np.abs(outputs["fp16"] - reference)) <= 1e-2
    assert support.psnr(outputs["int8"], reference) >= 30.0
    assert support.psnr(outputs["dynamic"], reference) >= 30.0
    # Quantization really happened: int8 differs from float by more than rounding noise.
    assert np.max(np.abs(outputs["int8"] - reference)) > 1e-3


def test_file_sizes_follow_the_weight_precision(exported):
    sizes = {variant: os.path.getsize(tflite_path(exported.out, variant)) for variant in tflite.VARIANTS}
    assert 0.45 < sizes["fp16"] / sizes["fp32"] < 0.55
    assert 0.2 < sizes["int8"] / sizes["fp32"] < 0.3
    assert 0.2 < sizes["dynamic"] / sizes["fp32"] < 0.3


def test_int8_io_quantizes_input_and_output(generator, calibration, val_images):
    model = tflite.convert(generator, "int8", image_size=32, representative_images=calibration, int8_io=True)
    facts = tflite.io_facts(model)
    assert facts["input"]["dtype"] == "int8" and facts["output"]["dtype"] == "int8"
    assert facts["input"]["quantization"]["scale"] == pytest.approx(2 / 255, rel=1e-3)
    images = val_images
    assert support.psnr(tflite.run(model, images), generator(images, training=False).numpy()) >= 30.0


def test_int8_float_norm_keeps_instance_norm_in_float(generator, calibration, val_images):
    def float_rsqrt(model):
        details = Interpreter(model_content=model).get_tensor_details()
        return [detail["name"] for detail in details if "Rsqrt" in detail["name"] and detail["dtype"] == np.float32]

    full = tflite.convert(generator, "int8", image_size=32, representative_images=calibration)
    mixed = tflite.convert(generator, "int8", image_size=32, representative_images=calibration, float_norm=True)
    assert float_rsqrt(full) == []
    # 32x32 U-Net: encoder levels 1-3 and decoder levels 1-4 are normalized (not the first and innermost).
    assert len(float_rsqrt(mixed)) == 7
    images = val_images
    reference = generator(images, training=False).numpy()
    assert support.psnr(tflite.run(mixed, images), reference) >= 30.0


def test_phase_deconvolution_equals_the_transposed_convolution():
    layer = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same", activation="tanh",
                                         bias_initializer="random_normal")
    images = np.random.default_rng(0).standard_normal([2, 6, 10, 3]).astype(np.float32)
    expected = layer(images).numpy()
    assert deconvolution.is_phase_decomposable(layer)
    np.testing.assert_allclose(deconvolution.PhaseDeconvolution(layer)(images).numpy(), expected, atol=1e-5)
    assert not deconvolution.is_phase_decomposable(keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same"))


def test_fp32_file_has_no_transposed_convolution_and_runs_resized(generator):
    model = tflite.convert(generator, "fp32", image_size=32)
    interpreter = Interpreter(model_content=model)
    operations = {detail["op_name"] for detail in interpreter._get_ops_details()}
    assert "TRANSPOSE_CONV" not in operations and "DEPTH_TO_SPACE" in operations
    # Slices without sizes: a 64x96 input still runs and matches Keras.
    images = np.random.default_rng(1).uniform(-1, 1, [1, 64, 96, 3]).astype(np.float32)
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_index, images)
    interpreter.invoke()
    assert np.max(np.abs(interpreter.get_tensor(output_index) - generator(images, training=False).numpy())) <= 1e-4


def test_int8_needs_representative_images(generator):
    with pytest.raises(ValueError, match="representative images"):
        tflite.convert(generator, "int8", image_size=32)
    with pytest.raises(ValueError, match="fp32, fp16, int8, dynamic"):
        tflite.convert(generator, "int4", image_size=32)


def test_slowdown_rule_refuses_variants_over_twice_fp32():
    assert tflite.slowdown_verdict("fp16", 0.39, 0.2) is None
    assert tflite.slowdown_verdict("dynamic", 0.40, 0.2) is None
    assert tflite.slowdown_verdict("int8", 0.003, 0.001) is None  # 3x, but 2 ms: noise decides at tiny sizes.
    refusal = tflite.slowdown_verdict("dynamic", 8.5, 0.2)
    assert refusal.startswith("dynamic takes 8500.0 ms per image, 42.5x fp32's 200.0 ms (limit 2x)")


def test_a_slow_variant_is_refused_not_written_and_explained(exported, monkeypatch, tmp_path):
    calls = []

    def fp32_then_fifty_times_slower(model, image, **kwargs):  # fp32 is converted and timed first
        calls.append(len(model))
        return 0.001 if len(calls) == 1 else 0.05

    monkeypatch.setattr(tflite, "latency", fp32_then_fifty_times_slower)
    logged = []
    summary = export.export(exported.workdir, str(tmp_path / "facades"),
                            export.ExportOptions(tflite_variants=("dynamic",), timing_runs=1), log=logged.append)
    rows = {row["format"]: row for row in summary.formats}
    assert "limit 2x" in rows["tflite dynamic"]["refused"] and rows["tflite dynamic"]["file"] is None
    assert len(calls) == 2  # fp32 was converted and timed as the reference, though not asked for
    assert "tflite fp32" not in rows
    assert not any(name.endswith(".tflite") for name in os.listdir(tmp_path / "facades"))
    assert any(line.startswith("  tflite dynamic: refused, not written: dynamic takes") for line in logged)
    assert "`tflite dynamic` was not written: dynamic takes" in (tmp_path / "facades" / "README.md").read_text()


def test_runner_rejects_wrong_shapes_and_stochastic_mode(exported):
    runner = runners.load_runner(tflite_path(exported.out, "fp32"))
    with pytest.raises(UsageError, match=r"expected float images \[batch, height, width, 3\], got shape \[32, 32, 3\]"):
        runner.run(np.zeros([32, 32, 3], np.float32))
    with pytest.raises(UsageError, match=r"got shape \[1, 32, 32, 4\]"):
        runner.run(np.zeros([1, 32, 32, 4], np.float32))
    with pytest.raises(UsageError, match=r"sides must be at least 12 px to pad to a multiple of 32, got 8x40"):
        runner.run(np.zeros([1, 8, 40, 3], np.float32))
    with pytest.raises(UsageError, match="deterministic"):
        runner.run(np.zeros([1, 32, 32, 3], np.float32), stochastic=True)


def test_runner_with_int8_io_file_matches_float_int8(exported, generator, calibration, tmp_path, val_images):
    model = tflite.convert(generator, "int8", image_size=32, representative_images=calibration, int8_io=True)
    path = tmp_path / "io.tflite"
    path.write_bytes(model)
    images = val_images
    generated = runners.load_runner(str(path)).run(images)
    assert generated.dtype == np.float32 and generated.shape == images.shape
    assert support.psnr(generated, generator(images, training=False).numpy()) >= 30.0


def test_readme_litert_example_runs(exported, generator, tmp_path):
    script = support.run_script(support.readme_script(exported.out, "# litert_run.py"))
    pixels = image_files.pixels(32, 32, seed=6)
    generated = script["translate"](tflite_path(exported.out, "fp32"), pixels)
    image = tf.constant(pixels[np.newaxis].astype(np.float32) / 127.5 - 1.0)
    expected = np.clip(np.round((generator(image, training=False).numpy()[0] + 1) * 127.5), 0, 255)
    assert generated.dtype == np.uint8 and np.max(np.abs(generated.astype(int) - expected)) <= 1
    Image.fromarray(generated).save(tmp_path / "generated.png")
