"""The README.md written into an export folder: how to serve it, request examples, measured figures.

The Python blocks are complete scripts. tests/export/test_export.py runs them against the exported
SavedModel through the same request objects (REST JSON bodies, gRPC PredictRequest protos), and
tests/export/test_tflite.py and test_onnx.py run the LiteRT and ONNX Runtime ones on the exported
files, so the examples cannot drift from the signatures.
"""

from __future__ import annotations

from tfpix2pix import files

REST_SCRIPT = '''\
# make_request.py: python make_request.py photo.jpg [more.jpg ...] > request.json
import base64
import json
import sys


def rest_body(paths, signature_name="serving_default"):
    """TF Serving REST body: each image file as {"b64": ...} under the input name image_bytes."""
    instances = []
    for path in paths:
        with open(path, "rb") as file:
            instances.append({"image_bytes": {"b64": base64.b64encode(file.read()).decode("ascii")}})
    return {"signature_name": signature_name, "instances": instances}


def rest_translate_body(images):
    """REST body for the float signature: images is a [batch, H, W, 3] array in [-1, 1]."""
    return {"signature_name": "translate", "instances": [{"images": image.tolist()} for image in images]}


def save_rest_response(response, out_paths):
    """Writes the PNGs of a REST response: {"predictions": [{"b64": ...}, ...]}."""
    for prediction, path in zip(response["predictions"], out_paths):
        value = prediction.get("image_bytes", prediction)  # One output: TF Serving omits its name.
        with open(path, "wb") as file:
            file.write(base64.b64decode(value["b64"]))


if __name__ == "__main__":
    json.dump(rest_body(sys.argv[1:]), sys.stdout)
'''

GRPC_SCRIPT = '''\
# grpc_client.py: python grpc_client.py photo.jpg generated.png   (pip install tensorflow-serving-api)
import sys

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

MODEL_NAME = "@NAME@"


def grpc_request(paths, signature_name="serving_default"):
    """A PredictRequest with the encoded image files as one string tensor image_bytes [batch]."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    request.model_spec.signature_name = signature_name
    contents = []
    for path in paths:
        with open(path, "rb") as file:
            contents.append(file.read())
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(contents, dtype=tf.string))
    return request


def grpc_translate_request(images):
    """A PredictRequest for the float signature: images is float32 [batch, H, W, 3] in [-1, 1]."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    request.model_spec.signature_name = "translate"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.float32))
    return request


def save_grpc_response(response, out_paths):
    """Writes the PNG strings of a PredictResponse, one file per input image."""
    for png, path in zip(tf.make_ndarray(response.outputs["image_bytes"]), out_paths):
        with open(path, "wb") as file:
            file.write(png)


if __name__ == "__main__":
    channel = grpc.insecure_channel("localhost:8500")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.Predict(grpc_request([sys.argv[1]]), timeout=60.0)
    save_grpc_response(response, [sys.argv[2]])
'''

LITERT_SCRIPT = '''\
# litert_run.py: python litert_run.py @NAME@_fp32.tflite photo.png generated.png   (pip install ai-edge-litert)
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image


def translate(model_path, pixels):
    """uint8 [S, S, 3] at the exported size -> generated uint8 [S, S, 3]."""
    interpreter = Interpreter(model_path=model_path, num_threads=2)
    run = interpreter.get_signature_runner("serving_default")
    detail = run.get_input_details()["images"]
    image = pixels[np.newaxis].astype(np.float32) / 127.5 - 1.0
    if detail["dtype"] != np.float32:  # --int8-io files: quantize with the tensor's scale and zero point.
        scale, zero_point = detail["quantization"]
        image = np.clip(np.round(image / scale + zero_point), -128, 127).astype(detail["dtype"])
    generated = run(images=image)["images"]
    output = run.get_output_details()["images"]
    if output["dtype"] != np.float32:
        scale, zero_point = output["quantization"]
        generated = (generated.astype(np.float32) - zero_point) * scale
    return np.clip(np.round((generated[0] + 1.0) * 127.5), 0, 255).astype(np.uint8)


if __name__ == "__main__":
    pixels = np.asarray(Image.open(sys.argv[2]).convert("RGB"))
    Image.fromarray(translate(sys.argv[1], pixels)).save(sys.argv[3])
'''


ONNX_SCRIPT = '''\
# onnx_run.py: python onnx_run.py @NAME@.onnx photo.png generated.png   (pip install onnxruntime pillow)
import sys

import numpy as np
import onnxruntime
from PIL import Image

MULTIPLE = @MULTIPLE@  # sides are reflect-padded to a multiple of this ("multiple" in @NAME@.onnx.json)


def translate(model_path, pixels):
    """uint8 [H, W, 3], any size with sides of at least @MIN_SIDE@ px -> generated uint8 [H, W, 3]."""
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    height, width = pixels.shape[:2]
    pad_height, pad_width = -height % MULTIPLE, -width % MULTIPLE
    top, left = pad_height // 2, pad_width // 2
    image = pixels[np.newaxis].astype(np.float32) / 127.5 - 1.0
    image = np.pad(image, [(0, 0), (top, pad_height - top), (left, pad_width - left), (0, 0)], mode="reflect")
    generated = session.run(["generated"], {"images": image})[0]
    generated = generated[0, top:top + height, left:left + width]
    return np.clip(np.round((generated + 1.0) * 127.5), 0, 255).astype(np.uint8)


if __name__ == "__main__":
    pixels = np.asarray(Image.open(sys.argv[2]).convert("RGB"))
    Image.fromarray(translate(sys.argv[1], pixels)).save(sys.argv[3])
'''


def _onnx_row(summary: dict) -> dict | None:
    """The ONNX row of the summary if the .onnx file was written."""
    return next((row for row in summary["formats"] if row["format"] == "onnx" and row.get("file")), None)


def _onnx_section(summary: dict) -> str:
    if _onnx_row(summary) is None:
        return ""
    name, multiple, opset = summary["name"], summary["multiple"], _onnx_row(summary).get("opset", "")
    script = (ONNX_SCRIPT.replace("@NAME@", name).replace("@MULTIPLE@", str(multiple))
              .replace("@MIN_SIDE@", str((multiple + 4) // 3)))
    return f"""## ONNX (ONNX Runtime)

`{name}.onnx` takes float32 `images` [batch, height, width, 3] in [-1, 1] and returns `generated` of
the same shape (opset {opset}, NHWC, every side dynamic). Sides must be multiples of {multiple}:
reflect-pad and crop back as below, or let `tfpix2pix predict --model {name}.onnx photo.jpg --out out/`
do it. `{name}.onnx.json`, also stored in the file's metadata, holds the multiple, image size and names.
The file is deterministic (dropout off).

```python
{script}```

"""


def _files_table(summary: dict) -> str:
    name, version = summary["name"], summary["version"]
    lines = [
        "| file | what |", "|---|---|",
        f"| `saved_model/{version}/` | SavedModel for TF Serving (version = training step {version}); "
        "`assets.extra/` holds warm-up requests and `tfpix2pix.json` |",
        "| `generator.keras` | the Keras generator, for fine-tuning (`import tfpix2pix.models.generator` first) |",
    ]
    if summary.get("saved_model_bf16"):
        lines.insert(3, f"| `saved_model_bf16/{version}/` | the same SavedModel with bfloat16 weights and math, float32 in "
                     f"and out (model name `{name}_bf16`): for CPUs with AVX512_BF16 or AMX |")
    for row in summary["formats"]:
        if row["format"].startswith("tflite") and row.get("file"):
            variant = row["format"].split()[1]
            lines.append(f"| `{name}_{variant}.tflite` (+ `.json`) | TFLite {variant}, fixed input "
                         f"[1, {summary['image_size']}, {summary['image_size']}, 3] |")
    if _onnx_row(summary):
        lines.append(f"| `{name}.onnx` (+ `.onnx.json`) | ONNX, float32, input [batch, height, width, 3] of "
                     f"multiples of {summary['multiple']} |")
    lines += ["| `models.config` | TF Serving `--model_config_file` example |",
              "| `export.json` | the figures below, for machines |"]
    return "\n".join(lines)


def format_rows(rows: list[dict]) -> str:
    """The summary table printed by the CLI and written to the README."""
    lines = ["| format | size | ms / image | parity vs Keras |", "|---|---|---|---|"]
    for row in rows:
        size = "" if row.get("bytes") is None else f"{row['bytes'] / 1e6:.2f} MB"
        ms = "" if row.get("ms") is None else f"{row['ms']:.1f}"
        parity = row.get("parity", "")
        if row.get("refused"):
            parity = f"refused: {row['refused']}"
        elif row.get("skipped"):
            parity = f"not written: {row['skipped']}"
        elif row.get("note"):
            parity = f"{parity}; {row['note']}"
        lines.append(f"| {row['format']} | {size} | {ms} | {parity} |")
    return "\n".join(lines)


def _bfloat16_section(summary: dict) -> str:
    if not summary.get("saved_model_bf16"):
        return ""
    name = summary["name"]
    return f"""- `saved_model_bf16/` has the same signatures, inputs and outputs (float32 and PNG), with the
  generator's weights and math in bfloat16: half the size, and faster on CPUs with AVX512_BF16 or
  AMX (on other CPUs bfloat16 is emulated; compare the two rows below). Serve it as its own model:
  `-v "$PWD/saved_model_bf16:/models/{name}_bf16" -e MODEL_NAME={name}_bf16`, or both with
  `models.config`, and send requests to `/v1/models/{name}_bf16:predict`.
"""


def render(summary: dict) -> str:
    """The README text for an export `summary` (see `export.export`)."""
    name, size = summary["name"], summary["image_size"]
    mode = ("**stochastic**: dropout stays on at test time, as in the paper (§3.3); outputs are random"
            if summary["stochastic"] else "**deterministic**: dropout off, the same input always gives the same output")
    refused = [row for row in summary["formats"] if row.get("refused")]
    refused_text = "".join(f"\n- `{row['format']}` was not written: {row['refused']}." for row in refused)
    refused_text += "".join(f"\n- `{row['format']}` was not written: {row['skipped']}."
                            for row in summary["formats"] if row.get("skipped"))
    return f"""# {name}: pix2pix generator, exported at training step {summary['version']}

Written by `tfpix2pix export`. Input and output are RGB images; the model was trained at
{size}x{size}. Mode: {mode}.

{_files_table(summary)}

## Serve it with TF Serving

From this folder:

```sh
docker run -p 8500:8500 -p 8501:8501 -v "$PWD/saved_model:/models/{name}" -e MODEL_NAME={name} tensorflow/serving
# or, with the config file (several models, version policy):
docker run -p 8500:8500 -p 8501:8501 -v "$PWD/saved_model:/models/{name}" \\
  -v "$PWD/models.config:/models/models.config" tensorflow/serving --model_config_file=/models/models.config
```

TF Serving loads the highest version folder under `saved_model/` and replays the warm-up requests
in `assets.extra/tf_serving_warmup_requests` (one per signature) before it reports the model ready.

| signature | input | output |
|---|---|---|
| `serving_default` | `image_bytes`: string [batch], JPEG or PNG files | `image_bytes`: string [batch], PNG files |
| `translate` | `images`: float32 [batch, H, W, 3] in [-1, 1] | `images`: float32 [batch, H, W, 3] in [-1, 1] |

- `serving_default` takes any size: each image is reflect-padded to a multiple of {summary['multiple']},
  translated and cropped back, so every output PNG has its input's size. Sides must be between
  {(summary['multiple'] + 4) // 3} and {summary['max_side']} px. Each image is processed on its own: an output
  never depends on the other images of the request.
- `translate` needs H and W that are multiples of {summary['multiple']} (at most {summary['max_side']}).
- A bad request (bytes that are not a JPEG or PNG, a truncated file, an empty batch, a side over the
  limit) gets an `INVALID_ARGUMENT` error naming the image; the server keeps serving.
{_bfloat16_section(summary)}
## REST

```python
{REST_SCRIPT}```

```sh
python make_request.py photo.jpg > request.json
curl -s -d @request.json localhost:8501/v1/models/{name}:predict > response.json
python -c "import json, make_request as m; m.save_rest_response(json.load(open('response.json')), ['out.png'])"
```

## gRPC (Python)

```python
{GRPC_SCRIPT.replace("@NAME@", name)}```

## TFLite (LiteRT)

The `.tflite` files run at {size}x{size} (signature `serving_default`, input and output `images`).
Each has a `.json` sidecar with the image size, value range and, for `--int8-io` files, the
quantization of input and output. `tfpix2pix predict --model {name}_int8.tflite photo.jpg --out out/`
handles padding, quantization and other sizes (the interpreter input is resized, which LiteRT's
XNNPACK delegate supports; elsewhere use `--resize`). The `dynamic` file is fast only with XNNPACK
(LiteRT's default on CPUs): without that delegate its hybrid kernels take seconds per image.

```python
{LITERT_SCRIPT.replace("@NAME@", name)}```

{_onnx_section(summary)}## Keras

```python
import keras
import tfpix2pix.models.generator  # registers the project's layers (instance norm, padding, convolutions)

generator = keras.saving.load_model("generator.keras")
generated = generator(images, training=False)  # float32 [batch, H, W, 3] in [-1, 1]
```

## Measured when exporting

Parity against the Keras generator on {summary['evaluation_images']}; latency per {size}x{size} image on the
exporting machine (median of several runs after a warm-up; TFLite with LiteRT and its default XNNPACK
delegate, ONNX with ONNX Runtime's CPU provider).{refused_text}

{format_rows(summary['formats'])}
"""


def write(path: str, summary: dict) -> None:
    files.write_bytes(path, render(summary))
