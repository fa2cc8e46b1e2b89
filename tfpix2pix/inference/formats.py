"""What an export looks like to the code that runs it: signature names and keys, and the facts files.

`export/` writes these files and `runners.py` reads them; both take the names from here.

    <version>/assets.extra/tfpix2pix.json   facts of a SavedModel (multiple, image size, dataset, direction, ...)
    <name>_<variant>.json                   facts of the .tflite file of the same name
    <name>.onnx.json                        facts of <name>.onnx (also stored in the file's metadata)
"""

from __future__ import annotations

import json
import os

from tfpix2pix import files
from tfpix2pix.errors import UsageError

SERVE = "serving_default"
TRANSLATE = "translate"
BYTES_KEY = "image_bytes"  # TF Serving's REST API base64-encodes outputs whose name ends in _bytes.
IMAGES_KEY = "images"
METADATA_FILE = "tfpix2pix.json"  # in assets.extra/, which TF Serving leaves alone.
ONNX_INPUT = IMAGES_KEY
# ONNX gives every value in a graph one name, so the output cannot be called `images` as well.
ONNX_OUTPUT = "generated"
ONNX_METADATA_KEY = "tfpix2pix"  # the facts as JSON in an .onnx file's metadata_props, for a file copied alone


def dataset_name(data_config) -> str | None:
    """The registry dataset a run trained on, or None for the user's own data (--data-dir, --a-dir/--b-dir).

    Written into the facts files as "dataset", with "direction": together they say what the model's input is
    (a label map of that dataset's palette, or a photo), which `tfpix2pix app` reads.
    """
    if data_config.data_dir or data_config.a_dir or data_config.b_dir:
        return None
    return data_config.dataset or None


def metadata_path(version_dir: str) -> str:
    return os.path.join(version_dir, "assets.extra", METADATA_FILE)


def read_facts(path: str, what: str) -> dict:
    """The JSON object in `path` ({} when absent); a damaged file is one `UsageError` naming it."""
    if not files.isfile(path):
        return {}
    try:
        facts = json.loads(files.read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path}, the {what}, is damaged ({error}): export the model again") from None
    if not isinstance(facts, dict):
        raise UsageError(f"{path}, the {what}, must hold a JSON object, got {type(facts).__name__}: "
                         "export the model again")
    return facts


def read_metadata(version_dir: str) -> dict:
    """The facts the export wrote to `assets.extra/tfpix2pix.json` ({} for other SavedModels)."""
    return read_facts(metadata_path(version_dir), "facts file of this SavedModel")


def sidecar_path(model_path: str) -> str:
    """The JSON facts file written next to a model file: `<name>_<variant>.json` for `<name>_<variant>.tflite`,
    `<name>.onnx.json` for `<name>.onnx` (`<name>.json` would be the export's export.json for `--out export`)."""
    if model_path.endswith(".onnx"):
        return model_path + ".json"
    return os.path.splitext(model_path)[0] + ".json"


def read_sidecar(model_path: str) -> dict:
    """The facts written next to a .tflite or .onnx file by the export ({} when absent)."""
    return read_facts(sidecar_path(model_path), f"facts file of {os.path.basename(model_path)}")
