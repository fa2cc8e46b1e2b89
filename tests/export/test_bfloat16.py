"""`export --bf16`: the bfloat16 SavedModel beside the float32 one, checked, documented and refused like it.

Exports the shared tiny work dir (tests/export/conftest.py) again, SavedModels only.
"""

import os
from pathlib import Path

import pytest
import tensorflow as tf

from tests import image_files
from tests.export import support
from tests.export.support import EXPORT_STEPS
from tfpix2pix.errors import UsageError
from tfpix2pix.export import export
from tfpix2pix.inference import formats, runners

ONLY_SAVED_MODELS = dict(tflite_variants=(), onnx=False, timing_runs=2)


@pytest.fixture(scope="module")
def bf16_export(exported, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bf16") / "facades")
    result = export.export(exported.workdir, out, export.ExportOptions(bfloat16=True, **ONLY_SAVED_MODELS),
                           log=lambda *_: None)
    return out, result


def _rows(result) -> dict:
    return {row["format"]: row for row in result.formats}


def test_both_saved_models_are_written_and_served_under_two_names(bf16_export):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    out, result = bf16_export
    assert result.saved_model_bf16 == os.path.join(out, "saved_model_bf16", str(EXPORT_STEPS))
    assert sorted(os.listdir(out)) == ["README.md", "export.json", "generator.keras", "models.config", "saved_model",
                                       "saved_model_bf16"]
    config = text_format.Parse(Path(out, "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    assert [(model.name, model.base_path) for model in config.model_config_list.config] == [
        ("facades", "/models/facades"), ("facades_bf16", "/models/facades_bf16")]
    assert formats.read_metadata(result.saved_model_bf16)["precision"] == "bfloat16"
    readme = Path(out, "README.md").read_text()
    assert f"`saved_model_bf16/{EXPORT_STEPS}/`" in readme and "/v1/models/facades_bf16:predict" in readme


def test_the_weights_are_stored_in_bfloat16_at_half_the_size(bf16_export):
    _, result = bf16_export
    weights = {dtype for dtype, count in support.graph_constants(result.saved_model_bf16) if count > 16}
    assert weights == {"bfloat16"}

    def weight_bytes(version_dir):
        return sum(count * tf.dtypes.as_dtype(dtype).size for dtype, count in support.graph_constants(version_dir)
                   if count > 16)

    assert weight_bytes(result.saved_model_bf16) < 0.55 * weight_bytes(result.saved_model)


def test_signatures_take_and_give_what_the_float32_model_does(bf16_export, generator, val_images):
    _, result = bf16_export
    loaded, float32 = (tf.saved_model.load(path) for path in (result.saved_model_bf16, result.saved_model))
    for name in (formats.SERVE, formats.TRANSLATE):
        assert (loaded.signatures[name].structured_input_signature
                == float32.signatures[name].structured_input_signature), name
        assert loaded.signatures[name].structured_outputs.keys() == float32.signatures[name].structured_outputs.keys()
    generated = loaded.signatures[formats.TRANSLATE](images=tf.constant(val_images))["images"]
    assert generated.dtype == tf.float32 and generated.shape == val_images.shape
    assert support.psnr(generated.numpy(), generator(val_images, training=False).numpy()) >= export.MIN_BF16_PSNR
    pixels = image_files.pixels(40, 56, seed=1)
    (output,) = loaded.signatures[formats.SERVE](image_bytes=tf.constant([tf.io.encode_png(pixels).numpy()]))[
        "image_bytes"].numpy()
    assert tf.io.decode_png(output).shape == (56, 40, 3)


def test_the_export_row_holds_it_to_a_psnr_and_says_whether_bfloat16_is_native(bf16_export):
    _, result = bf16_export
    rows = _rows(result)
    row = rows["saved_model_bf16 translate"]
    assert row["meets_target"] and row["psnr_db"] >= export.MIN_BF16_PSNR and row["ms"] > 0
    assert row["bytes"] < rows["saved_model translate"]["bytes"]
    assert "bfloat16 is native on this CPU" in row["note"] or "bfloat16 is emulated on this CPU" in row["note"]
    assert rows["saved_model_bf16 serving_default (PNG in, PNG out)"]["ms"] > 0


def test_predict_runs_the_bf16_folder(bf16_export, generator, val_images):
    out, _ = bf16_export
    runner = runners.load_runner(os.path.join(out, "saved_model_bf16"))
    assert (runner.multiple, runner.image_size) == (32, 32)
    assert support.psnr(runner.run(val_images), generator(val_images, training=False).numpy()) >= export.MIN_BF16_PSNR


def test_a_stochastic_bf16_export_matches_its_own_seeded_dropout(exported, tmp_path):
    result = export.export(exported.workdir, str(tmp_path / "out"),
                           export.ExportOptions(bfloat16=True, stochastic=True, **ONLY_SAVED_MODELS),
                           log=lambda *_: None)
    row = _rows(result)["saved_model_bf16 translate"]
    assert row["meets_target"], row["parity"]
    assert "dropout on, both seeded with 1, against the bfloat16 Keras generator" in row["parity"]
    assert formats.read_metadata(result.saved_model_bf16)["stochastic"] is True


def test_a_non_empty_bf16_version_folder_is_refused_before_anything_is_written(exported, tmp_path):
    version = tmp_path / "out" / "saved_model_bf16" / str(EXPORT_STEPS)
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"an earlier export")
    with pytest.raises(UsageError, match=rf"saved_model_bf16/{EXPORT_STEPS} already holds an export"):
        export.export(exported.workdir, str(tmp_path / "out"), export.ExportOptions(bfloat16=True, **ONLY_SAVED_MODELS))
    assert sorted(os.listdir(tmp_path / "out")) == ["saved_model_bf16"]
    assert (version / "saved_model.pb").read_bytes() == b"an earlier export"


def test_an_export_without_bf16_writes_no_bf16_folder(exported):
    assert exported.result.saved_model_bf16 is None
    assert not os.path.exists(os.path.join(exported.out, "saved_model_bf16"))
    assert "facades_bf16" not in Path(exported.out, "models.config").read_text()
