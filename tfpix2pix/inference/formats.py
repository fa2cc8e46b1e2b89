"""What an export looks like to the code that runs it: signature names and keys, and the facts files.

`export/` writes these files and `runners.py` reads them; both take the names from here.

    <version>/assets.extra/tfpix2pix.json   facts of a SavedModel (multiple, image size, stochastic, ...)
    <name>_<variant>.json                   facts of the .tflite file of the same name
"""

from __future__ import annotations

import json
import os

SERVE = "serving_default"
TRANSLATE = "translate"
BYTES_KEY = "image_bytes"  # TF Serving's REST API base64-encodes outputs whose name ends in _bytes.
IMAGES_KEY = "images"
METADATA_FILE = "tfpix2pix.json"  # in assets.extra/, which TF Serving leaves alone.


def metadata_path(version_dir: str) -> str:
    return os.path.join(version_dir, "assets.extra", METADATA_FILE)


def read_metadata(version_dir: str) -> dict:
    """The facts the export wrote to `assets.extra/tfpix2pix.json` ({} for other SavedModels)."""
    path = metadata_path(version_dir)
    if not os.path.isfile(path):
        return {}
    with open(path) as file:
        return json.load(file)


def sidecar_path(tflite_path: str) -> str:
    """The JSON facts file written next to a .tflite file."""
    return os.path.splitext(tflite_path)[0] + ".json"


def read_sidecar(tflite_path: str) -> dict:
    """The facts written next to a .tflite file by the export ({} when absent)."""
    path = sidecar_path(tflite_path)
    if not os.path.isfile(path):
        return {}
    with open(path) as file:
        return json.load(file)
