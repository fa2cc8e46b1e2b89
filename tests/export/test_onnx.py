"""ONNX: the file and its facts, parity with Keras under ONNX Runtime, any size, predict, README, bad files."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import image_files
from tests.export import support
from tfpix2pix import cli
from tfpix2pix.errors import UsageError
from tfpix2pix.export import export
from tfpix2pix.export import onnx as onnx_export
from tfpix2pix.inference import formats, runners, translation

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")


def onnx_path(out):
    return os.path.join(out, "facades.onnx")


def keras_uint8(generator, pixels: np.ndarray) -> np.ndarray:
    """What every runner should write for `pixels` (any size): Keras through translation.translate."""
    image = tf.constant(pixels[np.newaxis].astype(np.float32) / 127.5 - 1.0)
    generated = translation.translate(generator, image, multiple=32).numpy()[0]
    return np.clip(np.round((generated + 1) * 127.5), 0, 255).astype(np.uint8)


def test_export_writes_the_onnx_file_with_its_facts(exported, generator):
    path = onnx_path(exported.out)
    assert formats.sidecar_path(path) == path + ".json"  # facades.onnx.json: never the export's export.json
    facts = json.loads(Path(formats.sidecar_path(path)).read_text())
    assert (facts["image_size"], facts["multiple"], facts["step"], facts["direction"]) == (32, 32, 40, "BtoA")
    assert facts["deterministic"] is True and facts["opset"] == onnx_export.OPSET == 17
    assert facts["format"] == "onnx" and facts["converter"].startswith("tf2onnx ")
    assert facts["input"] == {"name": "images", "shape": ["batch", "height", "width", 3], "dtype": "float32",
                              "range": [-1.0, 1.0], "layout": "NHWC"}
    assert facts["output"]["name"] == "generated" and facts["output"]["shape"] == facts["input"]["shape"]

    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert {entry.domain or "": entry.version for entry in model.opset_import}[""] == 17
    for value, name in ((model.graph.input, "images"), (model.graph.output, "generated")):
        (tensor,) = value
        dimensions = [dimension.dim_param or dimension.dim_value for dimension in tensor.type.tensor_type.shape.dim]
        assert (tensor.name, dimensions) == (name, ["batch", "height", "width", 3])
    stored = {entry.key: json.loads(entry.value) for entry in model.metadata_props}
    assert stored[formats.ONNX_METADATA_KEY] == facts
    operators = {node.op_type for node in model.graph.node}
    # Phase form, as every inference path: plain Conv + DepthToSpace, no ConvTranspose; dropout is gone.
    assert "ConvTranspose" not in operators and {"Conv", "DepthToSpace"} <= operators
    assert {node.domain for node in model.graph.node} == {""}
    # Every weight is stored once: no Transpose in front of a Conv (the kernels are stored in its OIHW layout).
    weights = sum(int(np.prod(weight.shape)) for weight in generator.weights)
    stored = sum(int(np.prod(tensor.dims)) for tensor in model.graph.initializer)
    assert weights * 0.99 <= stored <= weights * 1.01 and os.path.getsize(path) <= weights * 4 + 64_000
    assert [node.op_type for node in model.graph.node].count("Transpose") == 2  # NHWC in, NHWC out
    rows = {row["format"]: row for row in exported.result.formats}
    row = rows["onnx"]
    assert row["file"] == path and row["bytes"] == os.path.getsize(path) and row["ms"] > 0
    assert row["parity"].startswith("max abs diff ") and row["parity"].endswith("(target 0.0001)")
    assert row["max_abs_diff"] <= 1e-4 and row["meets_target"] is True
    readme = Path(exported.out, "README.md").read_text()
    assert "| onnx |" in readme and "| `facades.onnx` (+ `.onnx.json`) |" in readme


def test_parity_with_keras_on_the_val_images(exported, generator, val_images):
    reference = generator(val_images, training=False).numpy()
    generated = onnx_export.run(onnx_path(exported.out), val_images)
    assert generated.shape == val_images.shape == (8, 32, 32, 3)
    assert np.max(np.abs(generated - reference)) <= 1e-4
    runner = runners.load_runner(onnx_path(exported.out))
    assert (runner.multiple, runner.image_size) == (32, 32)
    assert np.max(np.abs(runner.run(val_images) - reference)) <= 1e-4


def test_an_odd_size_is_padded_and_cropped_back_as_keras_does(exported, generator):
    images = tf.random.stateless_uniform([2, 45, 70, 3], seed=[5, 6], minval=-1, maxval=1).numpy()
    generated = runners.load_runner(onnx_path(exported.out)).run(images)
    assert generated.shape == (2, 45, 70, 3)
    reference = translation.translate(generator, images, multiple=32).numpy()
    assert np.max(np.abs(generated - reference)) <= 1e-4


def test_batch_height_and_width_are_dynamic(exported, generator):
    session = runners.onnx_session(onnx_path(exported.out))
    for shape in ([1, 32, 32, 3], [3, 64, 96, 3], [2, 96, 32, 3]):
        images = tf.random.stateless_uniform(shape, seed=[shape[0], shape[1]], minval=-1, maxval=1).numpy()
        (generated,) = session.run(["generated"], {"images": images})
        assert generated.shape == tuple(shape)
        assert np.max(np.abs(generated - generator(images, training=False).numpy())) <= 1e-4
    # Batch mates do not change an image's output (instance norm).
    images = tf.random.stateless_uniform([3, 32, 32, 3], seed=[7, 8], minval=-1, maxval=1).numpy()
    together = session.run(["generated"], {"images": images})[0]
    alone = session.run(["generated"], {"images": images[1:2]})[0]
    assert np.max(np.abs(together[1:2] - alone)) <= 1e-6


def test_predict_with_the_onnx_file_writes_images_of_the_input_size(exported, generator, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    odd, square = image_files.pixels(70, 45, seed=11), image_files.pixels(32, 32, seed=12)
    Image.fromarray(odd).save(inputs / "odd.png")
    Image.fromarray(square).save(inputs / "square.png")
    out = tmp_path / "out"
    assert cli.main(["predict", "--model", onnx_path(exported.out), str(inputs), "--out", str(out),
                     "--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"model: ONNX {onnx_path(exported.out)} (ONNX Runtime, CPU); deterministic" in printed
    assert Image.open(out / "odd.png").size == (70, 45) and Image.open(out / "square.png").size == (32, 32)
    for name, pixels in (("odd.png", odd), ("square.png", square)):
        written = np.asarray(Image.open(out / name)).astype(int)
        assert np.max(np.abs(written - keras_uint8(generator, pixels))) <= 1, name
    # --resize: to the training size and back, as with the other formats.
    assert cli.main(["predict", "--model", onnx_path(exported.out), str(inputs / "odd.png"), "--resize",
                     "--out", str(tmp_path / "resized")]) == 0
    assert Image.open(tmp_path / "resized" / "odd.png").size == (70, 45)


def test_the_runner_refuses_stochastic_mode_and_bad_shapes(exported, tmp_path, capsys):
    runner = runners.load_runner(onnx_path(exported.out))
    with pytest.raises(UsageError, match=r"\.onnx files are deterministic \(dropout off"):
        runner.run(np.zeros([1, 32, 32, 3], np.float32), stochastic=True)
    with pytest.raises(UsageError, match=r"got shape \[1, 32, 32, 4\]"):
        runner.run(np.zeros([1, 32, 32, 4], np.float32))
    with pytest.raises(UsageError, match=r"sides must be at least 12 px to pad to a multiple of 32, got 8x40"):
        runner.run(np.zeros([1, 8, 40, 3], np.float32))
    photo = tmp_path / "photo.png"
    Image.fromarray(image_files.pixels(32, 32)).save(photo)
    assert cli.main(["predict", "--model", onnx_path(exported.out), str(photo), "--stochastic",
                     "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"tfpix2pix predict: error: {onnx_path(exported.out)}: .onnx files are deterministic")
    assert len(error.splitlines()) == 1 and not os.listdir(tmp_path / "out")


def test_readme_onnx_runtime_example_runs(exported, generator, tmp_path):
    script = support.run_script(support.readme_script(exported.out, "# onnx_run.py"))
    assert script["MULTIPLE"] == 32
    for width, height in ((32, 32), (70, 45)):
        pixels = image_files.pixels(width, height, seed=width)
        generated = script["translate"](onnx_path(exported.out), pixels)
        assert generated.dtype == np.uint8 and generated.shape == (height, width, 3)
        assert np.max(np.abs(generated.astype(int) - keras_uint8(generator, pixels))) <= 1
    Image.fromarray(generated).save(tmp_path / "generated.png")


def test_a_damaged_onnx_file_is_one_usage_error_naming_it(exported, tmp_path, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(UsageError, match=f"{broken} is not a valid ONNX model"):
        runners.load_runner(str(broken))
    truncated = tmp_path / "truncated.onnx"
    contents = Path(onnx_path(exported.out)).read_bytes()
    truncated.write_bytes(contents[: len(contents) // 2])
    with pytest.raises(UsageError, match=f"{truncated} is not a valid ONNX model"):
        runners.load_runner(str(truncated))
    photo = tmp_path / "photo.png"
    Image.fromarray(image_files.pixels(32, 32)).save(photo)
    assert cli.main(["predict", "--model", str(broken), str(photo), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"tfpix2pix predict: error: {broken} is not a valid ONNX model")
    assert len(error.splitlines()) == 1


def test_a_damaged_facts_file_is_named(exported, tmp_path):
    copy = tmp_path / "facades.onnx"
    shutil.copy(onnx_path(exported.out), copy)
    (tmp_path / "facades.onnx.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"facades.onnx.json, the facts file of facades.onnx, is damaged"):
        runners.load_runner(str(copy))


def test_a_file_copied_alone_pads_by_its_own_metadata_and_a_foreign_model_is_refused(exported, tmp_path):
    alone = tmp_path / "alone.onnx"
    shutil.copy(onnx_path(exported.out), alone)
    runner = runners.load_runner(str(alone))
    assert (runner.multiple, runner.image_size) == (32, 32)
    assert runner.run(np.zeros([1, 45, 70, 3], np.float32)).shape == (1, 45, 70, 3)
    helper = onnx.helper
    images = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", "h", "w", 3])
    output = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", "h", "w", 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [images], [output])
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(UsageError, match=r"foreign.onnx: not a tfpix2pix export \(no foreign.onnx.json next to it"):
        runners.load_runner(str(foreign))


def test_an_operator_tf2onnx_could_not_convert_is_named():
    helper = onnx.helper
    value = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("StatelessRandomUniformV2", ["x"], ["y"])], "g", [value],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(onnx_export.ConversionError,
                       match="could not convert the TensorFlow op.s. StatelessRandomUniformV2 to ONNX opset 17"):
        onnx_export._check_operators(model)


def test_without_the_onnx_packages_the_export_skips_the_file_and_says_how_to_install(exported, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setattr(onnx_export, "missing", lambda: "tf2onnx not installed (pip install 'tfpix2pix[onnx]')")
    out = tmp_path / "facades"
    logged = []
    result = export.export(exported.workdir, str(out), export.ExportOptions(tflite_variants=(), timing_runs=1),
                           log=logged.append)
    row = {row["format"]: row for row in result.formats}["onnx"]
    assert row["file"] is None and "pip install 'tfpix2pix[onnx]'" in row["skipped"]
    assert not (out / "facades.onnx").exists() and not (out / "facades.onnx.json").exists()
    assert "  ONNX: skipped, tf2onnx not installed (pip install 'tfpix2pix[onnx]')" in logged
    readme = (out / "README.md").read_text()
    assert "- `onnx` was not written: tf2onnx not installed (pip install 'tfpix2pix[onnx]')." in readme
    assert "| onnx |  |  | not written: tf2onnx not installed" in readme and "## ONNX" not in readme


def test_no_onnx_writes_no_row_and_the_model_name_export_keeps_export_json(exported, tmp_path):
    out = tmp_path / "facades"
    result = export.export(exported.workdir, str(out), export.ExportOptions(tflite_variants=(), onnx=False,
                                                                            timing_runs=1), log=lambda *_: None)
    assert "onnx" not in {row["format"] for row in result.formats}
    assert not any(name.endswith(".onnx") or name.endswith(".onnx.json") for name in os.listdir(out))
    # --out export: the model is called `export`; its facts file must not be the export's export.json.
    out = tmp_path / "export"
    export.export(exported.workdir, str(out), export.ExportOptions(tflite_variants=(), timing_runs=1),
                  log=lambda *_: None)
    assert {"export.onnx", "export.onnx.json", "export.json"} <= set(os.listdir(out))
    assert json.loads((out / "export.json").read_text())["name"] == "export"
    assert json.loads((out / "export.onnx.json").read_text())["format"] == "onnx"
    assert runners.load_runner(str(out / "export.onnx")).multiple == 32
