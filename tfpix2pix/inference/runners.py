"""Generator runners for `predict --model`: a work dir, a SavedModel, a .tflite or an .onnx file, one interface.

    runner = load_runner("export/facades/facades_int8.tflite")
    generated = runner.run(images)  # float32 [batch, H, W, 3] in [-1, 1] -> same shape

Every runner reflect-pads sides to `runner.multiple` and crops back (`translation.pad_to_multiple`),
so the four formats give the same images within the export tolerances (docs/EXPORT.md).
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from tfpix2pix import workdir as workdir_lib
from tfpix2pix.errors import UsageError
from tfpix2pix.inference import formats, restore, translation
from tfpix2pix.models import deconvolution
from tfpix2pix.models.generator import required_multiple


def _check_images(images, source: str, multiple: int) -> tf.Tensor:
    """float32 [batch, H, W, 3] with sides that reflect padding can grow to `multiple`, or UsageError."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] != 3 or images.shape[0] == 0:
        raise UsageError(f"{source}: expected float images [batch, height, width, 3], got shape {list(images.shape)}")
    smallest = translation.minimum_side(multiple)
    if min(images.shape[1], images.shape[2]) < smallest:
        raise UsageError(f"{source}: image sides must be at least {smallest} px to pad to a multiple of {multiple}, "
                         f"got {images.shape[1]}x{images.shape[2]} (use --resize)")
    return images


class WorkdirRunner:
    """The generator rebuilt from a work dir's config.json and latest checkpoint."""

    def __init__(self, workdir: str):
        self.generator, self.config, self.step = restore.load_generator(workdir)
        self.image_size = self.config.data.image_size
        self.multiple = required_multiple(self.config.model.generator, self.image_size)
        self.description = f"work dir {workdir} (step {self.step}, Keras)"
        # Same outputs, faster on CPU (PERFORMANCE.md); shares the dropout layers and their seeds.
        self.model = deconvolution.with_phase_deconvolutions(self.generator)

    def run(self, images, *, stochastic: bool = False, seed: int | None = None) -> np.ndarray:
        images = _check_images(images, self.description, self.multiple)
        if stochastic and seed is not None:
            translation.seed_dropout(self.generator, seed)
        if stochastic and self.config.model.norm == "batch":
            # As the SavedModel: one image at a time, so batch statistics never mix images.
            parts = [translation.translate(self.model, image[tf.newaxis], multiple=self.multiple, training=True)
                     for image in images]
            return tf.concat(parts, axis=0).numpy()
        return translation.translate(self.model, images, multiple=self.multiple, training=stochastic).numpy()


def find_saved_model(path: str) -> str:
    """The SavedModel folder for `path`: itself, the newest `<version>/` in it, or in its `saved_model/`."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    base = os.path.join(path, "saved_model") if os.path.isdir(os.path.join(path, "saved_model")) else path
    versions = [name for name in os.listdir(base) if name.isdigit()
                and os.path.isfile(os.path.join(base, name, "saved_model.pb"))]
    if not versions:
        raise UsageError(f"{path}: no SavedModel here (no saved_model.pb, no <version>/saved_model.pb)")
    return os.path.join(base, max(versions, key=int))


class SavedModelRunner:
    """An exported SavedModel, through its `translate` signature."""

    def __init__(self, path: str):
        self.path = find_saved_model(path)
        facts = formats.read_metadata(self.path)
        if "multiple" not in facts:
            raise UsageError(f"{self.path}: not a tfpix2pix export (no assets.extra/{formats.METADATA_FILE})")
        self.model = tf.saved_model.load(self.path)
        self.translate = self.model.signatures[formats.TRANSLATE]
        self.multiple = int(facts["multiple"])
        self.image_size = int(facts.get("image_size", self.multiple))
        self.stochastic = bool(facts.get("stochastic", False))
        self.description = f"SavedModel {self.path}"

    def run(self, images, *, stochastic: bool = False, seed: int | None = None) -> np.ndarray:
        images = _check_images(images, self.description, self.multiple)
        if stochastic != self.stochastic:
            exported = "with test-time dropout (--stochastic)" if self.stochastic else "deterministic (dropout off)"
            fix = "pass --stochastic too" if self.stochastic else "re-export it with tfpix2pix export --stochastic"
            raise UsageError(f"{self.path} was exported {exported}: {fix}, or use the work dir")
        if stochastic and seed is not None:
            self.model.seed_dropout(tf.constant(seed, tf.int64))
        padded, box = translation.pad_to_multiple(images, self.multiple)
        return translation.crop(self.translate(images=padded)[formats.IMAGES_KEY], box).numpy()


class TFLiteRunner:
    """A .tflite file run with LiteRT (`ai-edge-litert`), one image at a time.

    The file's input is fixed at the training size S x S (every image whose padded size is S x S:
    all accepted images for the U-Net, whose multiple is S). For other sizes the interpreter input
    is resized, which the XNNPACK delegate supports; where it does not, the error says so.
    """

    def __init__(self, path: str, *, num_threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ImportError("running .tflite files needs LiteRT: pip install ai-edge-litert "
                              "(or pip install 'tfpix2pix[tflite]')") from None
        self.path = path
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=num_threads or os.cpu_count())
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise UsageError(f"{path} is not a valid TFLite model: {error}") from None
        details = self.interpreter.get_input_details()
        if len(details) != 1 or len(details[0]["shape"]) != 4 or details[0]["shape"][-1] != 3:
            raise UsageError(f"{path}: expected one image input [1, S, S, 3], got "
                             f"{[list(detail['shape']) for detail in details]}")
        self.input = details[0]
        self.output = self.interpreter.get_output_details()[0]
        self.exported_shape = tuple(int(side) for side in self.input["shape"][1:3])
        facts = formats.read_sidecar(path)
        self.image_size = int(facts.get("image_size", self.exported_shape[0]))
        self.multiple = int(facts.get("multiple", self.image_size))
        self.current_shape = self.exported_shape
        self.description = f"TFLite {path}"

    def run(self, images, *, stochastic: bool = False, seed: int | None = None) -> np.ndarray:
        images = _check_images(images, self.description, self.multiple)
        if stochastic:
            raise UsageError(f"{self.path}: .tflite files are deterministic (dropout off); for the paper's "
                             "test-time dropout use the work dir or a SavedModel exported with --stochastic")
        padded, box = translation.pad_to_multiple(images, self.multiple)
        self._reshape(tuple(int(side) for side in padded.shape[1:3]))
        outputs = [self._invoke(image[np.newaxis]) for image in padded.numpy()]
        return translation.crop(tf.constant(np.concatenate(outputs)), box).numpy()

    def _reshape(self, shape: tuple[int, int]) -> None:
        if shape == self.current_shape:
            return
        try:
            self.interpreter.resize_tensor_input(self.input["index"], [1, *shape, 3])
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as error:
            self.current_shape = None
            raise UsageError(
                f"{self.path} runs at {self.exported_shape[0]}x{self.exported_shape[1]} and this runtime cannot "
                f"resize it to {shape[0]}x{shape[1]} ({str(error).splitlines()[0]}): pass --resize, or use "
                "the SavedModel or the work dir for images of any size"
            ) from None
        self.current_shape = shape

    def _invoke(self, image: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], quantize(image, self.input))
        self.interpreter.invoke()
        output = dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)
        if output.shape != image.shape:
            raise UsageError(f"{self.path}: output shape {list(output.shape)} differs from input {list(image.shape)}")
        return output


ONNX_INSTALL = "pip install onnxruntime (or pip install 'tfpix2pix[onnx]')"


def onnx_session(model, *, num_threads: int | None = None, description: str | None = None):
    """An ONNX Runtime CPU session for a model (bytes or path), on `num_threads` threads (default: all cores).

    Raises:
        ImportError: onnxruntime is not installed (the message says how to install it).
        UsageError: the file is not an ONNX model ONNX Runtime can load, named by `description`.
    """
    try:
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
    except ImportError:
        raise ImportError(f"running .onnx files needs ONNX Runtime: {ONNX_INSTALL}") from None
    options = onnxruntime.SessionOptions()
    # Like LiteRT and TensorFlow here: every core for one image, one operator at a time.
    options.intra_op_num_threads = num_threads or os.cpu_count()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ONNX Runtime's warnings are about its own graph rewrites
    source = model if isinstance(model, str) else bytes(model)
    try:
        return onnxruntime.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.Fail, ort_errors.NoSuchFile,
            ort_errors.RuntimeException, ort_errors.InvalidArgument) as error:
        name = description or (model if isinstance(model, str) else "the model")
        raise UsageError(f"{name} is not a valid ONNX model: {str(error).splitlines()[0]}") from None


class ONNXRunner:
    """An .onnx file run with ONNX Runtime on the CPU, the whole batch at once.

    Its input and output are float32 [batch, height, width, 3], every side dynamic; sides are
    reflect-padded to the `multiple` of the facts file (or, without one, of the facts stored in the
    model's metadata) and cropped back, as the other runners do.
    """

    def __init__(self, path: str, *, num_threads: int | None = None):
        self.path = path
        self.session = onnx_session(path, num_threads=num_threads, description=path)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if (len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[-1] != 3
                or inputs[0].type != "tensor(float)"):
            raise UsageError(f"{path}: expected one float image input [batch, height, width, 3] and one output, got "
                             f"inputs {[(item.name, item.type, item.shape) for item in inputs]}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        facts = formats.read_sidecar(path) or onnx_metadata_facts(self.session)
        if "multiple" not in facts:
            raise UsageError(f"{path}: not a tfpix2pix export (no {os.path.basename(formats.sidecar_path(path))} "
                             "next to it and no tfpix2pix facts in its metadata): the pad multiple is unknown")
        self.multiple = int(facts["multiple"])
        self.image_size = int(facts.get("image_size", self.multiple))
        self.description = f"ONNX {path} (ONNX Runtime, CPU)"

    def run(self, images, *, stochastic: bool = False, seed: int | None = None) -> np.ndarray:
        images = _check_images(images, self.description, self.multiple)
        if stochastic:
            raise UsageError(f"{self.path}: .onnx files are deterministic (dropout off: TensorFlow's seeded "
                             "dropout does not convert to ONNX); for the paper's test-time dropout use the work dir "
                             "or a SavedModel exported with --stochastic")
        padded, box = translation.pad_to_multiple(images, self.multiple)
        generated = self.session.run([self.output_name], {self.input_name: padded.numpy()})[0]
        if generated.shape != tuple(padded.shape):
            raise UsageError(f"{self.path}: output shape {list(generated.shape)} differs from input "
                             f"{list(padded.shape)}")
        return translation.crop(tf.constant(generated), box).numpy()


def onnx_metadata_facts(session) -> dict:
    """The facts the export stored in an .onnx file's metadata ({} for other files)."""
    stored = session.get_modelmeta().custom_metadata_map.get(formats.ONNX_METADATA_KEY)
    if stored is None:
        return {}
    try:
        facts = json.loads(stored)
    except json.JSONDecodeError:
        facts = None
    return facts if isinstance(facts, dict) else {}


def quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """float -> the tensor's dtype with its (scale, zero point); float tensors pass through."""
    if detail["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    limits = np.iinfo(detail["dtype"])
    return np.clip(np.round(values / scale + zero_point), limits.min, limits.max).astype(detail["dtype"])


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def load_runner(model_path: str):
    """A runner for a work dir, a SavedModel folder (or an export folder), a .tflite or an .onnx file.

    Returns:
        An object with `multiple`, `image_size`, `description` and
        `run(images, *, stochastic=False, seed=None) -> np.ndarray`.
    """
    if not os.path.exists(model_path):
        raise UsageError(f"--model {model_path} does not exist")
    if os.path.isfile(model_path):
        if model_path.endswith(".onnx"):
            return ONNXRunner(model_path)
        if not model_path.endswith(".tflite"):
            raise UsageError(f"--model {model_path}: expected a work dir, a SavedModel folder, a .tflite or an "
                             ".onnx file")
        return TFLiteRunner(model_path)
    if workdir_lib.has_config(model_path):
        return WorkdirRunner(model_path)
    return SavedModelRunner(model_path)
