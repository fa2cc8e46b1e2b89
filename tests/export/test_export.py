"""SavedModel, TF Serving files, Keras file, README examples and the export command.

All tests share one tiny generator trained 40 steps on the bundled facades sample and its export
(tests/export/conftest.py).
"""

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import image_files
from tests.export import support
from tests.export.support import EXPORT_STEPS
from tfpix2pix.cli import export as export_cli
from tfpix2pix.data import pipeline
from tfpix2pix.errors import UsageError
from tfpix2pix.export import export, savedmodel
from tfpix2pix.inference import formats, runners, translation
from tfpix2pix.models import deconvolution

VENV_BIN = Path(sys.executable).parent


def png(pixels: np.ndarray) -> bytes:
    return tf.io.encode_png(pixels).numpy()


def jpeg(pixels: np.ndarray) -> bytes:
    return tf.io.encode_jpeg(pixels, quality=95).numpy()


def keras_png(generator, contents: bytes) -> np.ndarray:
    """What serving_default should return for `contents`, computed with Keras and translation.translate.

    With the generator the SavedModel serves: the decoder in phase form, whose outputs are within
    2e-7 of the training layout's (tested through `translate`), which can flip a pixel's rounding.
    """
    image = pipeline.to_float(pipeline.decode(contents))[tf.newaxis]
    served = deconvolution.with_phase_deconvolutions(generator)
    return pipeline.to_uint8(translation.translate(served, image, multiple=32))[0].numpy()


def serve(loaded, images: list[bytes]) -> list[np.ndarray]:
    outputs = loaded.signatures["serving_default"](image_bytes=tf.constant(images, tf.string))["image_bytes"]
    return [tf.io.decode_png(output).numpy() for output in outputs.numpy()]


# 1. Signatures ---------------------------------------------------------------------------------


def test_version_folder_is_the_training_step(exported):
    _, out, result = exported
    assert result.version == EXPORT_STEPS
    assert sorted(os.listdir(os.path.join(out, "saved_model"))) == [str(EXPORT_STEPS)]
    assert result.saved_model == os.path.join(out, "saved_model", "40")


def test_signatures_have_named_inputs_and_outputs(loaded):
    assert set(loaded.signatures) == {"serving_default", "translate"}
    serving = loaded.signatures["serving_default"]
    assert serving.structured_input_signature[1] == {"image_bytes": tf.TensorSpec([None], tf.string, "image_bytes")}
    assert serving.structured_outputs["image_bytes"].dtype == tf.string
    translate = loaded.signatures["translate"]
    assert translate.structured_input_signature[1] == {
        "images": tf.TensorSpec([None, None, None, 3], tf.float32, "images")
    }
    assert list(translate.structured_outputs) == ["images"]


@pytest.mark.slow  # saved_model_cli in a subprocess
def test_saved_model_cli_lists_both_signatures(exported):
    result = subprocess.run(
        [str(VENV_BIN / "saved_model_cli"), "show", "--all", "--dir", exported.result.saved_model],
        capture_output=True, text=True, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    serving = text[text.index("signature_def['serving_default']"):text.index("signature_def['translate']")]
    assert "inputs['image_bytes']" in serving and "outputs['image_bytes']" in serving
    assert serving.count("dtype: DT_STRING") == 2
    translate = text[text.index("signature_def['translate']"):]
    translate = translate[: translate.index("Method name is")]
    assert "inputs['images']" in translate and "outputs['images']" in translate
    assert translate.count("dtype: DT_FLOAT") == 2 and translate.count("shape: (-1, -1, -1, 3)") == 2
    assert "keras_tensor" not in text and "output_0" not in text


def test_translate_matches_keras(loaded, generator, val_images):
    images = val_images
    generated = loaded.signatures["translate"](images=tf.constant(images))["images"].numpy()
    assert generated.shape == (8, 32, 32, 3)
    assert np.max(np.abs(generated - generator(images, training=False).numpy())) <= 1e-5


def _op_types(function) -> set[str]:
    graph = function.graph.as_graph_def()
    nodes = list(graph.node) + [node for library in graph.library.function for node in library.node_def]
    return {node.op for node in nodes}


def test_decoder_runs_in_phase_form_and_the_weights_are_stored_once(exported, loaded, generator):
    for name in ("translate", "serving_default"):
        operations = _op_types(loaded.signatures[name])
        assert "Conv2DBackpropInput" not in operations and "DepthToSpace" in operations, name
        # Frozen: the filters are graph constants, which oneDNN reorders once, not variables read per call.
        assert "ReadVariableOp" not in operations, name
    # Both signatures call one frozen function: each weight is one constant, in saved_model.pb only.
    _, out, _ = exported
    version_dir = os.path.join(out, "saved_model", str(EXPORT_STEPS))
    parameters = sum(int(np.prod(weight.shape)) for weight in generator.weights)
    weights = sum(count for dtype, count in support.graph_constants(version_dir) if dtype == "float32")
    assert parameters <= weights <= parameters * 1.05
    graph = os.path.getsize(os.path.join(version_dir, "saved_model.pb"))
    assert parameters * 4 <= graph <= parameters * 4 * 1.2
    variables = os.path.join(version_dir, "variables")
    assert sum(os.path.getsize(os.path.join(variables, name)) for name in os.listdir(variables)) < parameters * 4 / 10


def test_a_generator_too_large_to_freeze_keeps_its_weights_as_variables(generator, tmp_path, val_images, monkeypatch):
    monkeypatch.setattr(savedmodel, "FROZEN_MAX_BYTES", 1000)
    savedmodel.save(generator, str(tmp_path / "1"), multiple=32, warmup_image_size=32)
    loaded = tf.saved_model.load(str(tmp_path / "1"))
    assert "ReadVariableOp" in _op_types(loaded.signatures["translate"])
    generated = loaded.signatures["translate"](images=tf.constant(val_images))["images"].numpy()
    assert np.max(np.abs(generated - generator(val_images, training=False).numpy())) <= 1e-5


def test_translate_takes_any_multiple_of_32(loaded, generator):
    images = tf.random.stateless_uniform([2, 64, 96, 3], seed=[1, 2], minval=-1, maxval=1)
    generated = loaded.signatures["translate"](images=images)["images"].numpy()
    assert generated.shape == (2, 64, 96, 3)
    assert np.max(np.abs(generated - generator(images, training=False).numpy())) <= 1e-5


def test_serving_default_decodes_pads_and_crops_in_the_graph(loaded, generator):
    pixels = [image_files.pixels(40, 56, seed=1), image_files.pixels(32, 32, seed=2), image_files.pixels(100, 13, seed=3)]
    requests = [jpeg(pixels[0]), png(pixels[1]), png(pixels[2])]
    outputs = serve(loaded, requests)
    assert [output.shape for output in outputs] == [(56, 40, 3), (32, 32, 3), (13, 100, 3)]
    for output, contents in zip(outputs, requests):
        # The graph runs the convolutions at shapes unknown until a request comes, Keras at known
        # ones: their float outputs differ in the last bits, which can move a value lying on a
        # rounding boundary by one level (1 of 6720 values here). Anything else is a real difference.
        expected = keras_png(generator, contents)
        difference = np.abs(output.astype(np.int16) - expected)
        assert difference.max() <= 1 and np.count_nonzero(difference) <= max(1, difference.size // 1000)


def test_serving_is_deterministic_and_each_image_independent(loaded, val_images):
    first, second = png(image_files.pixels(32, 32, seed=4)), jpeg(image_files.pixels(48, 40, seed=5))
    alone = serve(loaded, [first])[0]
    np.testing.assert_array_equal(serve(loaded, [first])[0], alone)
    np.testing.assert_array_equal(serve(loaded, [second, first, second])[1], alone)
    images = tf.constant(val_images[:3])
    together = loaded.signatures["translate"](images=images)["images"].numpy()
    single = loaded.signatures["translate"](images=images[1:2])["images"].numpy()
    assert np.max(np.abs(together[1:2] - single)) <= 1e-6


def test_stochastic_export_has_test_time_dropout_seeded_like_the_work_dir(exported, generator, tmp_path, val_images):
    workdir = exported.workdir
    savedmodel.save(generator, str(tmp_path / "1"), multiple=32, stochastic=True, warmup_image_size=32,
                    metadata={"image_size": 32})
    runner = runners.load_runner(str(tmp_path))
    images = val_images[:2]
    first, second = runner.run(images, stochastic=True), runner.run(images, stochastic=True)
    assert np.max(np.abs(first - second)) > 0.01  # dropout on: two draws differ
    seeded = runner.run(images, stochastic=True, seed=7)
    expected = runners.load_runner(workdir).run(images, stochastic=True, seed=7)
    assert np.max(np.abs(seeded - expected)) <= 1e-5
    with pytest.raises(UsageError, match="--stochastic"):
        runner.run(images)


# 7. Bad input in the serving graph ------------------------------------------------------------


def _truncated_png():
    return png(image_files.pixels(32, 32))[:60]


def _huge_jpeg(tmp_path):
    return image_files._huge_jpeg(tmp_path / "huge.jpg").read_bytes()


BAD_REQUESTS = {
    "not an image": lambda tmp_path: [b"this is not an image"],
    "empty string": lambda tmp_path: [b""],
    "empty batch": lambda tmp_path: [],
    "truncated PNG": lambda tmp_path: [_truncated_png()],
    "truncated JPEG": lambda tmp_path: [jpeg(image_files.pixels(32, 32))[:100]],
    "PNG header only": lambda tmp_path: [png(image_files.pixels(32, 32))[:20]],
    "huge declared PNG": lambda tmp_path: [image_files.png_bytes(image_files.pixels(8, 8), declared_size=(100000, 30000))],
    "huge declared JPEG": _huge_jpeg,
    "GIF": lambda tmp_path: [b"GIF89a" + bytes(40)],
    "side below the minimum": lambda tmp_path: [png(image_files.pixels(11, 40))],
    "valid then invalid": lambda tmp_path: [png(image_files.pixels(32, 32)), b"garbage"],
}


@pytest.mark.parametrize("kind", sorted(BAD_REQUESTS))
def test_bad_requests_get_invalid_argument_and_the_model_keeps_serving(loaded, kind, tmp_path):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        loaded.signatures["serving_default"](image_bytes=tf.constant(BAD_REQUESTS[kind](tmp_path), tf.string))
    if kind in ("not an image", "empty string", "GIF"):
        assert "image 0 of the request is not a JPEG or PNG image" in error.value.message
    if kind == "empty batch":
        assert "empty batch" in error.value.message
    if kind == "huge declared PNG":
        assert "image 0 of the request is 30000x100000 px" in error.value.message
    if kind == "valid then invalid":
        assert "image 1 of the request" in error.value.message
    assert serve(loaded, [png(image_files.pixels(32, 32))])[0].shape == (32, 32, 3)


def test_max_side_limit_is_an_export_option(generator, tmp_path):
    savedmodel.save(generator, str(tmp_path / "5"), multiple=32, max_side=48, warmup_image_size=32)
    serving = tf.saved_model.load(str(tmp_path / "5")).signatures["serving_default"]
    assert serving(image_bytes=tf.constant([png(image_files.pixels(48, 20))]))["image_bytes"].shape == (1,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="sides above 48 px are refused"):
        serving(image_bytes=tf.constant([png(image_files.pixels(49, 20))]))
    assert json.loads((tmp_path / "5" / "assets.extra" / "tfpix2pix.json").read_text())["max_side"] == 48


def test_translate_rejects_sides_that_are_not_multiples(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 32"):
        loaded.signatures["translate"](images=tf.zeros([1, 48, 32, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
        loaded.signatures["translate"](images=tf.zeros([0, 32, 32, 3]))


# 2. TF Serving readiness ----------------------------------------------------------------------


def test_warmup_requests_are_real_requests_for_each_signature(exported, loaded):
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(exported.result.saved_model, "assets.extra", "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(record.numpy()) for record in tf.data.TFRecordDataset(path)]
    requests = [log.predict_log.request for log in logs]
    assert [request.model_spec.signature_name for request in requests] == ["serving_default", "translate"]
    assert {request.model_spec.name for request in requests} == {"facades"}
    for request in requests:
        inputs = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
        outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
        assert list(outputs) == list(inputs)
    assert tf.make_ndarray(requests[1].inputs["images"]).shape == (1, 32, 32, 3)


def test_models_config_is_a_valid_model_server_config(exported):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    text = Path(exported.out, "models.config").read_text()
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == ("facades", "/models/facades", "tensorflow")


def serve_rest(loaded, body: dict) -> dict:
    """Does what TF Serving's REST API does with a row-format predict body, for these signatures."""
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    (name,) = signature.structured_input_signature[1]
    values = [instance[name] for instance in body["instances"]]
    if isinstance(values[0], dict):
        feed = tf.constant([base64.b64decode(value["b64"]) for value in values], tf.string)
    else:
        feed = tf.constant(values, tf.float32)
    (output_name, output), = signature(**{name: feed}).items()
    if output_name.endswith("_bytes"):  # TF Serving base64-encodes outputs whose name ends in _bytes.
        return {"predictions": [{"b64": base64.b64encode(value).decode("ascii")} for value in output.numpy()]}
    return {"predictions": output.numpy().tolist()}


def test_readme_rest_example_runs_against_the_saved_model(exported, loaded, generator, tmp_path, val_images):
    script = support.run_script(support.readme_script(exported.out, "# make_request.py"))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(image_files.pixels(40, 36, seed=8)))
    body = json.loads(json.dumps(script["rest_body"]([str(photo)])))  # request.json as curl sends it
    response = json.loads(json.dumps(serve_rest(loaded, body)))
    script["save_rest_response"](response, [str(tmp_path / "generated.png")])
    generated = np.asarray(Image.open(tmp_path / "generated.png"))
    np.testing.assert_array_equal(generated, keras_png(generator, photo.read_bytes()))

    images = val_images[:2]
    response = serve_rest(loaded, json.loads(json.dumps(script["rest_translate_body"](images))))
    generated = np.array(response["predictions"], np.float32)
    assert np.max(np.abs(generated - generator(images, training=False).numpy())) <= 1e-5


def test_readme_grpc_example_runs_against_the_saved_model(exported, loaded, generator, tmp_path, val_images):
    from tensorflow_serving.apis import predict_pb2

    script = support.run_script(support.readme_script(exported.out, "# grpc_client.py"))
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(image_files.pixels(32, 45, seed=9)))
    request = predict_pb2.PredictRequest.FromString(script["grpc_request"]([str(photo)]).SerializeToString())
    assert request.model_spec.name == "facades"
    inputs = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
    outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
    response = predict_pb2.PredictResponse()
    response.outputs["image_bytes"].CopyFrom(tf.make_tensor_proto(outputs["image_bytes"]))
    script["save_grpc_response"](response, [str(tmp_path / "generated.png")])
    generated = np.asarray(Image.open(tmp_path / "generated.png"))
    np.testing.assert_array_equal(generated, keras_png(generator, photo.read_bytes()))

    images = val_images[:2]
    request = script["grpc_translate_request"](images)
    outputs = loaded.signatures[request.model_spec.signature_name](
        images=tf.constant(tf.make_ndarray(request.inputs["images"]))
    )
    assert np.max(np.abs(outputs["images"].numpy() - generator(images, training=False).numpy())) <= 1e-5


def test_readme_documents_serving_and_the_measured_figures(exported):
    text = Path(exported.out, "README.md").read_text()
    assert "docker run" in text and "-e MODEL_NAME=facades tensorflow/serving" in text
    assert "curl -s -d @request.json localhost:8501/v1/models/facades:predict" in text
    for row in ("saved_model translate", "keras file", "tflite fp32", "tflite fp16", "tflite int8"):
        assert f"| {row} |" in text
    stored = json.loads(Path(exported.out, "export.json").read_text())
    assert stored["version"] == 40 and stored["evaluation_images"] == "8 val images"


# 3. Keras file ---------------------------------------------------------------------------------


def test_keras_file_reloads_with_identical_outputs(exported, generator, val_images):
    import keras

    reloaded = keras.saving.load_model(os.path.join(exported.out, "generator.keras"))
    images = val_images
    np.testing.assert_array_equal(reloaded(images, training=False).numpy(), generator(images, training=False).numpy())


def test_keras_file_loads_in_a_fresh_python_with_the_export_readmes_import(exported):
    readme = open(os.path.join(exported.out, "README.md"), encoding="utf-8").read()
    imports = [line.split("#")[0].strip() for line in readme.splitlines() if line.startswith("import tfpix2pix")]
    assert imports == ["import tfpix2pix.models.generator"]
    script = f"import keras; {imports[0]}; keras.saving.load_model({os.path.join(exported.out, 'generator.keras')!r})"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# 5. Parity figures of the export itself --------------------------------------------------------


def test_export_summary_reports_size_latency_and_parity_within_targets(exported):
    rows = {row["format"]: row for row in exported.result.formats}
    assert rows["saved_model translate"]["max_abs_diff"] <= 1e-5
    assert rows["keras file"]["max_abs_diff"] <= 1e-5
    assert rows["tflite fp32"]["max_abs_diff"] <= 1e-4
    assert rows["tflite fp16"]["max_abs_diff"] <= 1e-2
    assert rows["tflite int8"]["psnr_db"] >= 30.0
    for name in ("saved_model translate", "tflite fp32", "tflite fp16", "tflite int8"):
        assert rows[name]["bytes"] > 100_000 and rows[name]["ms"] > 0
    assert rows["tflite int8"]["bytes"] < rows["tflite fp16"]["bytes"] < rows["tflite fp32"]["bytes"]


# 6. Predict from every format ------------------------------------------------------------------


def test_every_format_predicts_the_same_images(exported, val_images):
    workdir, out, _ = exported
    images = val_images
    reference = runners.load_runner(workdir).run(images)
    for path, tolerance in [(out, 1e-5), (os.path.join(out, "saved_model"), 1e-5),
                            (os.path.join(out, "facades_fp32.tflite"), 1e-4),
                            (os.path.join(out, "facades_fp16.tflite"), 1e-2)]:
        runner = runners.load_runner(path)
        assert (runner.multiple, runner.image_size) == (32, 32)
        assert np.max(np.abs(runner.run(images) - reference)) <= tolerance, path
    int8 = runners.load_runner(os.path.join(out, "facades_int8.tflite")).run(images)
    assert support.psnr(int8, reference) >= 30.0


def test_every_runner_knows_the_dataset_and_direction_it_was_trained_on(exported):
    workdir, out, result = exported
    assert formats.read_metadata(result.saved_model)["dataset"] == "facades-sample"
    assert formats.read_sidecar(os.path.join(out, "facades_fp32.tflite"))["dataset"] == "facades-sample"
    for path in (workdir, out, os.path.join(out, "facades_fp32.tflite")):
        runner = runners.load_runner(path)
        assert (runner.dataset, runner.direction) == ("facades-sample", "BtoA"), path


def test_runners_pad_and_crop_other_sizes(exported):
    workdir, out, _ = exported
    images = tf.random.stateless_uniform([1, 48, 40, 3], seed=[3, 4], minval=-1, maxval=1).numpy()
    reference = runners.load_runner(workdir).run(images)
    assert reference.shape == (1, 48, 40, 3)
    saved = runners.load_runner(out).run(images)
    assert np.max(np.abs(saved - reference)) <= 1e-5
    lite = runners.load_runner(os.path.join(out, "facades_fp32.tflite")).run(images)
    assert np.max(np.abs(lite - reference)) <= 1e-4


def test_load_runner_rejects_what_is_not_a_model(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        runners.load_runner(str(tmp_path / "missing"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match="expected a work dir, a SavedModel folder, a .tflite or an .onnx file"):
        runners.load_runner(str(tmp_path / "notes.txt"))
    with pytest.raises(UsageError, match="no SavedModel here"):
        runners.load_runner(str(tmp_path))
    (tmp_path / "broken.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(UsageError, match="is not a valid TFLite model"):
        runners.load_runner(str(tmp_path / "broken.tflite"))


# 7. Export failures leave everything untouched -------------------------------------------------


def test_export_of_a_work_dir_without_checkpoints_fails_and_writes_nothing(exported, tmp_path):
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    shutil.copy(os.path.join(exported.workdir, "config.json"), workdir / "config.json")
    with pytest.raises(UsageError, match="has no checkpoint yet"):
        export.export(str(workdir), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_export_to_a_non_empty_version_folder_fails_without_overwriting(exported, tmp_path):
    version = tmp_path / "out" / "saved_model" / "40"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"an earlier export")
    with pytest.raises(UsageError, match=r"saved_model/40 already holds an export of step 40; nothing was overwritten"):
        export.export(exported.workdir, str(tmp_path / "out"))
    assert (version / "saved_model.pb").read_bytes() == b"an earlier export"
    assert sorted(os.listdir(tmp_path / "out")) == ["saved_model"]
    assert sorted(os.listdir(version)) == ["saved_model.pb"]


def test_int8_without_the_training_images_fails_before_writing(exported, tmp_path):
    workdir = tmp_path / "moved"
    shutil.copytree(exported.workdir, workdir)
    config = json.loads((workdir / "config.json").read_text())
    config["data"]["data_dir"] = str(tmp_path / "data-gone")
    (workdir / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match=r"int8 calibration needs the training images.*--tflite fp32,fp16,dynamic"):
        export.export(str(workdir), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def _parse(argv):
    from tfpix2pix.cli.main import _Parser

    parser = _Parser(prog="tfpix2pix")
    subparsers = parser.add_subparsers(dest="command", parser_class=_Parser)
    export_cli.add_parser(subparsers)
    return parser.parse_args(argv)


def test_cli_flags_are_validated(capsys, tmp_path):
    args = _parse(["export", "--workdir", "runs/x", "--tflite", "fp32,int8", "--int8-io", "--max-side", "2048",
                   "--int8-float-norm"])
    assert (args.tflite, args.int8_io, args.max_side, args.stochastic) == (("fp32", "int8"), True, 2048, False)
    assert args.int8_float_norm and args.out is None and args.threads is None and args.onnx is None
    assert _parse(["export", "--workdir", "w", "--no-onnx"]).onnx is False
    assert _parse(["export", "--workdir", "w", "--bf16"]).bf16 and not args.bf16
    assert _parse(["export", "--workdir", "w", "--tflite", "none"]).tflite == ()
    for bad in (["--tflite", "fp32,int4"], ["--max-side", "0"], ["--calibration-images", "x"]):
        with pytest.raises(SystemExit) as stop:
            _parse(["export", "--workdir", "w", *bad])
        assert stop.value.code == 2
    assert "unknown variant(s) int4" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--workdir .*missing does not exist"):
        export_cli.run_export(_parse(["export", "--workdir", str(tmp_path / "missing")]))
    with pytest.raises(UsageError, match="model name 'bad name!'"):
        export.export("unused", str(tmp_path / "out"), export.ExportOptions(name="bad name!"))


def test_cli_export_writes_the_folder_and_prints_the_figures(exported, capsys, tmp_path):
    out = tmp_path / "exports" / "mine"
    status = export_cli.run_export(_parse(["export", "--workdir", exported.workdir, "--out", str(out), "--tflite", "none",
                                           "--no-onnx", "--name", "pix", "--max-side", "1024"]))
    assert status == 0
    printed = capsys.readouterr().out
    assert "| saved_model translate |" in printed and "tflite" not in printed.split("SavedModel:")[0]
    assert "| onnx |" not in printed
    assert f"SavedModel: {out / 'saved_model' / '40'}" in printed
    assert sorted(os.listdir(out)) == ["README.md", "export.json", "generator.keras", "models.config", "saved_model"]
    assert 'name: "pix"' in (out / "models.config").read_text()
    assert formats.read_metadata(str(out / "saved_model" / "40"))["max_side"] == 1024


def test_a_truncated_saved_model_pb_is_one_message_naming_it(exported, tmp_path):
    copy = shutil.copytree(exported.result.saved_model, tmp_path / "7")
    graph = copy / "saved_model.pb"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    with pytest.raises(UsageError, match=f"^{graph} cannot be loaded \\(.+\\): export the model again$"):
        runners.load_runner(str(copy))
