"""The generator as a TF Serving SavedModel: named signatures, any-size PNG in and out, warm-up.

Two signatures (both `tensorflow/serving/predict`):

- `serving_default`: `image_bytes` (a batch of JPEG or PNG strings, TF Serving's REST
  `{"b64": ...}` form) -> `image_bytes` (PNG strings, each the size of its input). Decoding,
  reflect padding to the U-Net's multiple, the generator, cropping back and PNG encoding all run
  in the graph, one image at a time, so each output is independent of its request mates.
- `translate`: float32 `images` [batch, H, W, 3] in [-1, 1], H and W multiples of 2**depth ->
  float32 `images`.

Deterministic exports hold the generator frozen: its weights are constants of one function that both
signatures call, stored once in saved_model.pb (`variables/` holds no weights). oneDNN then
reorders each filter into its blocked layout once instead of at every request: 2.5x faster in
bfloat16 on an AMX CPU (docs/PERFORMANCE.md). `--stochastic` exports keep variables, because
dropout's seed state changes between requests, and so do generators whose weights pass
FROZEN_MAX_BYTES, since a protocol buffer (saved_model.pb) cannot exceed 2 GiB.

Bad requests (bytes that are not a JPEG or PNG, an empty batch, a side over `max_side` or too small
to pad) fail the graph's assertions, which TF Serving returns as an InvalidArgument error for
that request alone. Sizes are read from the file header before any pixel is decoded, so a small
file that declares a huge image cannot make the server allocate it.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from tfpix2pix import files
from tfpix2pix.data import pipeline
from tfpix2pix.inference import memory, translation
from tfpix2pix.inference.formats import BYTES_KEY, IMAGES_KEY, metadata_path, SERVE, TRANSLATE
from tfpix2pix.models import deconvolution
from tfpix2pix.models.generator import dropout_seed_states

DEFAULT_MAX_SIDE = 4096
FROZEN_MAX_BYTES = 2**30  # The paper's U-Net holds 218 MB of float32 weights.
WARMUP_FILE = "tf_serving_warmup_requests"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ServingModule(tf.Module):
    """Holds the generator and the signature functions that `tf.saved_model.save` exports.

    Args:
        generator: the trained Keras generator.
        multiple: input sides must be multiples of this (2**num_downsamplings for the U-Net).
        max_side: longest accepted image side in `serving_default`.
        stochastic: run with dropout on, the paper's test-time setting (§3.3); default off.
        per_image: run `translate` one image at a time; needed when batch statistics would couple
            the images of a batch (batch norm in the paper's stochastic mode).
    """

    def __init__(self, generator, *, multiple: int, max_side: int, stochastic: bool, per_image: bool):
        super().__init__(name="pix2pix_generator")
        # The decoder in phase form: the same outputs, about twice as fast on CPU (PERFORMANCE.md).
        phase_form = deconvolution.with_phase_deconvolutions(generator)
        weight_bytes = sum(tf.dtypes.as_dtype(weight.dtype).size * int(np.prod(weight.shape))
                           for weight in phase_form.weights)
        if stochastic or weight_bytes > FROZEN_MAX_BYTES:
            self.generator = phase_form
            # Keras 3 keeps the dropout seed state out of TensorFlow's object graph: track it here, or
            # the saved functions would capture untracked variables.
            self.dropout_seeds = dropout_seed_states(generator)
        else:
            self.generator = frozen(phase_form)
            self.dropout_seeds = []
        self._multiple = multiple
        self._max_side = max_side
        self._stochastic = stochastic
        self._per_image = per_image
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_KEY)]
        )
        self.translate = tf.function(
            self._translate, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name=IMAGES_KEY)]
        )
        # Not a signature: lets `runtimes` draw the same dropout masks as a work dir for a given seed.
        self.seed_dropout = tf.function(
            self._seed_dropout, input_signature=[tf.TensorSpec([], tf.int64, name="seed")]
        )

    def signatures(self) -> dict:
        return {SERVE: self.serve.get_concrete_function(), TRANSLATE: self.translate.get_concrete_function()}

    def _seed_dropout(self, seed):
        for index, state in enumerate(self.dropout_seeds):
            state.assign(tf.stack([seed * 1000 + index, tf.constant(0, tf.int64)]))
        return tf.constant(True)

    def _generate_one(self, image):
        """float [1, H, W, 3] of any accepted size -> generated [1, H, W, 3]."""
        return translation.translate(self.generator, image, multiple=self._multiple, training=self._stochastic)

    def _serve(self, image_bytes):
        count = tf.size(image_bytes)
        checks = [tf.debugging.assert_positive(count, message="empty batch: send at least one image")]
        with tf.control_dependencies(checks):
            indices = tf.range(count)

        def translate_one(element):
            index, contents = element
            image = self._decode_checked(contents, index)
            generated = self._generate_one(pipeline.to_float(image)[tf.newaxis])
            return tf.io.encode_png(pipeline.to_uint8(generated[0]))

        # One image at a time: outputs cannot depend on batch mates, and memory stays bounded by
        # the largest image instead of the whole request.
        outputs = tf.map_fn(
            translate_one, (indices, image_bytes), fn_output_signature=tf.TensorSpec([], tf.string),
            parallel_iterations=1,
        )
        return {BYTES_KEY: outputs}

    def _decode_checked(self, contents, index):
        """Checks the header (format, declared size), then decodes to uint8 [H, W, 3]."""
        is_png = tf.logical_and(
            tf.strings.length(contents) >= 24, tf.strings.substr(contents, 0, 8) == _PNG_SIGNATURE
        )
        is_image = tf.debugging.Assert(
            tf.logical_or(is_png, tf.io.is_jpeg(contents)),
            [tf.strings.format("image {} of the request is not a JPEG or PNG image", index)],
        )
        with tf.control_dependencies([is_image]):
            height, width = tf.cond(is_png, lambda: _png_size(contents), lambda: _jpeg_size(contents))
        smallest = translation.minimum_side(self._multiple)
        size = tf.strings.format("image {} of the request is {}x{} px", (index, height, width))
        checks = [
            tf.debugging.Assert(
                tf.logical_and(height <= self._max_side, width <= self._max_side),
                [size, f": sides above {self._max_side} px are refused (export flag --max-side)"],
            ),
            tf.debugging.Assert(
                tf.logical_and(height >= smallest, width >= smallest),
                [size, f": sides must be at least {smallest} px"],
            ),
        ]
        with tf.control_dependencies(checks):
            image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return image

    def _translate(self, images):
        shape = tf.shape(images)
        message = f"images: height and width must be positive multiples of {self._multiple} up to {self._max_side}"
        checks = [
            tf.debugging.assert_positive(shape[0], message="empty batch: send at least one image"),
            tf.debugging.Assert(
                tf.reduce_all(
                    [shape[1] % self._multiple == 0, shape[2] % self._multiple == 0, shape[1] > 0, shape[2] > 0,
                     shape[1] <= self._max_side, shape[2] <= self._max_side]
                ),
                [message, "got", shape],
            ),
        ]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
        if self._per_image:
            generated = tf.map_fn(
                lambda image: self.generator(image[tf.newaxis], training=self._stochastic)[0], images,
                fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32), parallel_iterations=1,
            )
        else:
            generated = self.generator(images, training=self._stochastic)
        return {IMAGES_KEY: tf.cast(generated, tf.float32)}


def frozen(model):
    """`model` (deterministic) as one function whose weights are graph constants, not variables.

    oneDNN reorders a convolution's filter into its blocked layout once and keeps it when the filter
    is a constant; a variable filter is reordered at every call. That reorder is most of a bfloat16
    SavedModel's time on AMX CPUs (PERFORMANCE.md). Both signatures call this one function, so the
    weights are stored once, in saved_model.pb.
    """
    forward = tf.function(lambda images: model(images, training=False))
    graph = convert_variables_to_constants_v2(
        forward.get_concrete_function(tf.TensorSpec([None, None, None, 3], tf.float32)))
    return lambda images, training=False: graph(images)[0]  # `training` is always False here.


def _png_size(contents):
    """(height, width) from the PNG IHDR chunk: big-endian width at byte 16, height at byte 20."""
    header = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, 16, 8), tf.uint8), tf.int64)
    weights = tf.constant([2**24, 2**16, 2**8, 1], tf.int64)
    width = tf.reduce_sum(header[:4] * weights)
    height = tf.reduce_sum(header[4:] * weights)
    return tf.cast(tf.minimum(height, 2**31 - 1), tf.int32), tf.cast(tf.minimum(width, 2**31 - 1), tf.int32)


def _jpeg_size(contents):
    shape = tf.image.extract_jpeg_shape(contents)
    return shape[0], shape[1]


def save(
    generator,
    version_dir: str,
    *,
    multiple: int,
    max_side: int = DEFAULT_MAX_SIDE,
    stochastic: bool = False,
    norm: str = "instance",
    metadata: dict | None = None,
    model_name: str = "pix2pix",
    warmup_image_size: int = 256,
) -> None:
    """Writes a SavedModel to `version_dir` (a TF Serving `<base>/<version>` folder) atomically.

    Everything is written to a hidden sibling folder first and renamed into place at the end, so a
    TF Serving instance watching the base folder never loads a half-written version (it ignores
    folder names that are not numbers). The caller checks that `version_dir` is absent or empty.

    Args:
        generator: the Keras generator.
        version_dir: the target folder, e.g. `export/facades/saved_model/200`.
        multiple: sides must be multiples of this (`generator.required_multiple`).
        max_side: longest image side `serving_default` accepts.
        stochastic: export the paper's test-time dropout (§3.3) instead of deterministic outputs.
        norm: the generator's normalization; batch norm in stochastic mode runs one image at a time.
        metadata: extra facts for `assets.extra/tfpix2pix.json` (training step, image size, ...).
        model_name: the TF Serving model name written in the warm-up requests.
        warmup_image_size: side of the warm-up images.
    """
    module = ServingModule(
        generator, multiple=multiple, max_side=max_side, stochastic=stochastic,
        per_image=stochastic and norm == "batch",
    )
    parent, version = os.path.split(files.abspath(version_dir).rstrip("/"))
    files.makedirs(parent)
    # Locally the version is written into a hidden sibling and renamed into place. Object stores
    # cannot rename a folder (it is a copy), so there it is written in a local folder first and
    # copied with saved_model.pb last: until the graph is there, no loader takes the folder.
    remote = files.is_remote(version_dir)
    scratch = tempfile.mkdtemp(prefix="tfpix2pix-savedmodel-") if remote else None
    staging = os.path.join(scratch or parent, f".{version}.partial-{os.getpid()}")
    files.rmtree(staging)
    try:
        tf.saved_model.save(module, staging, signatures=module.signatures())
        facts_path = metadata_path(staging)
        files.makedirs(os.path.dirname(facts_path))
        facts = {
            "multiple": multiple, "minimum_side": translation.minimum_side(multiple), "max_side": max_side,
            "stochastic": stochastic, "norm": norm,
            "base_filters": memory.base_filters([tuple(weight.shape) for weight in generator.weights]), "signatures": {
                SERVE: {"inputs": {BYTES_KEY: "string [batch]"}, "outputs": {BYTES_KEY: "string [batch] (PNG)"}},
                TRANSLATE: {"inputs": {IMAGES_KEY: "float32 [batch, H, W, 3] in [-1, 1]"},
                            "outputs": {IMAGES_KEY: "float32 [batch, H, W, 3] in [-1, 1]"}},
            }, **(metadata or {}),
        }
        files.write_bytes(facts_path, json.dumps(facts, indent=2, sort_keys=True) + "\n")
        write_warmup_requests(os.path.join(os.path.dirname(facts_path), WARMUP_FILE), model_name=model_name,
                              image_size=warmup_image_size)
        if remote:
            _copy_graph_last(staging, version_dir)
        else:
            if os.path.isdir(version_dir):
                os.rmdir(version_dir)  # Empty (checked by the caller): rename cannot replace a folder otherwise.
            os.rename(staging, version_dir)
    finally:
        files.rmtree(staging)
        if scratch:
            files.rmtree(scratch)


def _copy_graph_last(staging: str, version_dir: str) -> None:
    """Copies a written SavedModel into `version_dir`, its saved_model.pb after everything else."""
    graph = os.path.join(staging, "saved_model.pb")
    for path in files.walk_files(staging):
        if path != graph:
            target = os.path.join(version_dir, os.path.relpath(path, staging))
            files.makedirs(os.path.dirname(target))
            files.copy(path, target)
    files.copy(graph, os.path.join(version_dir, "saved_model.pb"))


def warmup_images(image_size: int) -> tuple[bytes, np.ndarray]:
    """A smooth synthetic picture, as PNG bytes and as float32 [1, S, S, 3] in [-1, 1]."""
    rows, columns = np.mgrid[0:image_size, 0:image_size]
    pixels = np.stack([columns * 255 // image_size, rows * 255 // image_size, (rows + columns) * 127 // image_size], -1)
    pixels = pixels.astype(np.uint8)
    return tf.io.encode_png(pixels).numpy(), (pixels[np.newaxis].astype(np.float32) / 127.5 - 1.0)


def predict_request(model_name: str, signature_name: str, inputs: dict):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` holding `inputs` as tensor protos."""
    predict_pb2 = _serving_apis()[0]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def write_warmup_requests(path: str, *, model_name: str, image_size: int) -> None:
    """Writes one real PredictionLog per signature; TF Serving replays them before serving.

    Without warm-up the first request of each signature pays for graph optimization and memory
    allocation (seconds for a 256x256 U-Net).
    """
    prediction_log_pb2 = _serving_apis()[1]
    png, floats = warmup_images(image_size)
    requests = [
        predict_request(model_name, SERVE, {BYTES_KEY: np.array([png], dtype=object)}),
        predict_request(model_name, TRANSLATE, {IMAGES_KEY: floats}),
    ]
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError:
        raise ImportError(
            "writing TF Serving warm-up requests needs tensorflow-serving-api: "
            "pip install 'tensorflow-serving-api>=2.21' (or pip install 'tfpix2pix[serving]')"
        ) from None
    return predict_pb2, prediction_log_pb2

