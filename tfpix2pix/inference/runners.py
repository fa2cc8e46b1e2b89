"""Generator runners for `predict --model`: a work dir, a SavedModel, a .tflite or an .onnx file, one interface.

    runner = load_runner("export/facades/facades_int8.tflite")
    generated = runner.run(images)  # float32 [batch, H, W, 3] in [-1, 1] -> same shape

Every runner reflect-pads sides to `runner.multiple` and crops back (`translation.pad_to_multiple`),
so the four formats give the same images within the export tolerances (docs/EXPORT.md).

Each runner also tells `memory.estimate_peak_bytes` what it needs: `memory_bytes_per_pixel`, the
simulated activation peak per padded pixel of its graph, and `images_per_call` (None: the whole
batch at once).
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import tensorflow as tf

from tfpix2pix import files, workdir as workdir_lib
from tfpix2pix.errors import UsageError
from tfpix2pix.inference import formats, memory, restore, translation
from tfpix2pix.models import deconvolution
from tfpix2pix.models.generator import build_generator, required_multiple


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


class KerasRunner:
    """A Keras generator in memory, run as `predict` runs a work dir (bench measures it this way).

    Args:
        generator: the Keras generator.
        multiple: sides are padded to multiples of this (`generator.required_multiple`).
        image_size: the training size (`--resize` target).
        norm: the generator's normalization; batch norm in stochastic mode runs one image at a time.
        description: what `predict` prints about the model.
        dataset, direction: the registry dataset and direction it was trained on, when known.
    """

    def __init__(self, generator, *, multiple: int, image_size: int, norm: str = "instance",
                 description: str = "Keras generator", dataset: str | None = None, direction: str | None = None):
        self.generator, self.multiple, self.image_size, self.norm = generator, multiple, image_size, norm
        self.description, self.dataset, self.direction = description, dataset, direction
        # Same outputs, faster on CPU (PERFORMANCE.md); shares the dropout layers and their seeds.
        self.model = deconvolution.with_phase_deconvolutions(generator)
        # One graph per mode for any batch and size, as the SavedModel's `translate`: the graph frees
        # each intermediate tensor after its last reader, where eager Keras keeps them and needs about
        # four times the memory (docs/RELIABILITY.md, "Memory of predict"); outputs are the same.
        spec = [tf.TensorSpec([None, None, None, 3], tf.float32)]
        self._translate = {
            training: tf.function(lambda images, training=training: translation.translate(
                self.model, images, multiple=self.multiple, training=training), input_signature=spec)
            for training in (False, True)
        }
        self.images_per_call = None  # At most the whole batch; one at a time only in stochastic batch norm.

    @functools.cached_property
    def memory_bytes_per_pixel(self) -> float:
        return memory.activation_bytes_per_pixel(self.model, self.multiple)

    def run(self, images, *, stochastic: bool = False, seed: int | None = None) -> np.ndarray:
        images = _check_images(images, self.description, self.multiple)
        if stochastic and seed is not None:
            translation.seed_dropout(self.generator, seed)
        translate = self._translate[stochastic]
        if stochastic and self.norm == "batch":
            # As the SavedModel: one image at a time, so batch statistics never mix images.
            return tf.concat([translate(image[tf.newaxis]) for image in images], axis=0).numpy()
        return translate(images).numpy()


class WorkdirRunner(KerasRunner):
    """The generator rebuilt from a work dir's config.json and its `checkpoint` (latest, best or a step)."""

    def __init__(self, workdir: str, *, checkpoint: str = "latest"):
        generator, self.config, self.step = restore.load_generator(workdir, checkpoint=checkpoint)
        image_size = self.config.data.image_size
        super().__init__(generator, multiple=required_multiple(self.config.model.generator, image_size),
                         image_size=image_size, norm=self.config.model.norm,
                         description=f"work dir {workdir} (step {self.step}, Keras)",
                         dataset=formats.dataset_name(self.config.data), direction=self.config.data.direction)


def find_saved_model(path: str) -> str:
    """The SavedModel folder for `path`: itself, the newest `<version>/` in it, or in its `saved_model/`."""
    if files.isfile(os.path.join(path, "saved_model.pb")):
        return path
    base = os.path.join(path, "saved_model") if files.isdir(os.path.join(path, "saved_model")) else path
    versions = [name for name in files.listdir(base) if name.isdigit()
                and files.isfile(os.path.join(base, name, "saved_model.pb"))]
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
        try:
            self.model = tf.saved_model.load(self.path)
        except Exception as error:  # a truncated or foreign saved_model.pb: protobuf, OS or TensorFlow errors
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UsageError(f"{os.path.join(self.path, 'saved_model.pb')} cannot be loaded ({reason}): "
                             "export the model again") from None
        self.translate = self.model.signatures[formats.TRANSLATE]
        self.multiple = int(facts["multiple"])
        self.image_size = int(facts.get("image_size", self.multiple))
        self.stochastic = bool(facts.get("stochastic", False))
        self.dataset, self.direction = facts.get("dataset"), facts.get("direction")
        self.description = f"SavedModel {self.path}"
        self.facts = facts
        # `translate` runs one image at a time only for batch norm in stochastic mode (savedmodel.py).
        self.images_per_call = 1 if self.stochastic and facts.get("norm") == "batch" else None

    @functools.cached_property
    def memory_bytes_per_pixel(self) -> float:
        # The loaded graph's op shapes are not known before it runs: rebuild its architecture from the
        # facts file. Exports before `base_filters` was recorded there hold the weights as variables;
        # the first kernel (the only one reading the 3 image channels, HWIO) gives it. The reader takes
        # the prefix itself: tf.train.list_variables would first ask whether the prefix is a folder,
        # which ram:// answers yes for any prefix of a file.
        base_filters = self.facts.get("base_filters")
        if base_filters is None:
            reader = tf.compat.v1.train.NewCheckpointReader(os.path.join(self.path, "variables", "variables"))
            base_filters = memory.base_filters(reader.get_variable_to_shape_map().values())
        return architecture_bytes_per_pixel(self.facts, base_filters, self.multiple)

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
            threads = num_threads or os.cpu_count()
            self.interpreter = (Interpreter(model_content=files.read_bytes(path), num_threads=threads)
                                if files.is_remote(path) else Interpreter(model_path=path, num_threads=threads))
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
        self.dataset, self.direction = facts.get("dataset"), facts.get("direction")
        self.current_shape = self.exported_shape
        self.description = f"TFLite {path}"
        self.images_per_call = 1
        self.memory_bytes_per_pixel = self._bytes_per_pixel()

    def run(self, images, *, stochastic: bool = False, seed: int | None = None) -> np.ndarray:
        images = _check_images(images, self.description, self.multiple)
        if stochastic:
            raise UsageError(f"{self.path}: .tflite files are deterministic (dropout off); for the paper's "
                             "test-time dropout use the work dir or a SavedModel exported with --stochastic")
        padded, box = translation.pad_to_multiple(images, self.multiple)
        self._reshape(tuple(int(side) for side in padded.shape[1:3]))
        outputs = [self._invoke(image[np.newaxis]) for image in padded.numpy()]
        return translation.crop(tf.constant(np.concatenate(outputs)), box).numpy()

    def _bytes_per_pixel(self) -> float:
        """Activation bytes per pixel at the exported size, as XNNPACK holds them (measured within 5%).

        The simulated live peak of the file's own ops, plus what XNNPACK keeps for the whole run:
        an indirection buffer per convolution (a pointer per output pixel and kernel tap), plus the
        six float32 copies of `run` beyond those `memory.estimate_peak_bytes` counts (the padded
        array, the quantized input, the interpreter's input and output, the copied output and the
        concatenated tensor).
        """
        tensors = {detail["index"]: detail for detail in self.interpreter.get_tensor_details()}
        nbytes = {index: int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize
                  for index, detail in tensors.items()}
        pixels = float(np.prod(self.exported_shape))
        try:
            operations = self.interpreter._get_ops_details()  # Private, but in every TFLite and LiteRT release.
        except AttributeError:
            return sum(nbytes.values()) / pixels  # Every tensor at once: an upper bound.
        steps = [(list(operation["inputs"]), list(operation["outputs"])) for operation in operations]
        written = {index for _, outputs in steps for index in outputs}
        activations = {index: nbytes[index] for index in written if index in nbytes}  # Not weights, not the input.
        indirection = sum(
            int(np.prod(tensors[operation["outputs"][0]]["shape"][:3])) * int(np.prod(tensors[operation["inputs"][1]]["shape"][1:3])) * 8
            for operation in operations if operation["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
        )
        return (memory.peak_live_bytes(steps, activations) + indirection) / pixels + 6 * 12

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


def architecture_bytes_per_pixel(facts: dict, base_filters: int, multiple: int) -> float:
    """`memory.activation_bytes_per_pixel` of the generator an export's facts describe, in phase form.

    From 8 filters up, the simulated peak is a tensor with a multiple of `base_filters` channels,
    so the figure is proportional to `base_filters` (checked from 8 to 64, U-Net and ResNet): a
    build at 8 filters gives it without allocating the real weights (218 MB for the paper's U-Net).
    Below 8 filters the 3-channel images weigh in, and the model is small enough to build as it is.
    """
    filters = min(base_filters, 8)
    generator = build_generator(kind=facts.get("generator", "unet"), image_size=int(facts.get("image_size", multiple)),
                                base_filters=filters, norm=facts.get("norm", "instance"))
    figure = memory.activation_bytes_per_pixel(deconvolution.with_phase_deconvolutions(generator), multiple)
    return figure * base_filters / filters


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
    source = (files.read_bytes(model) if files.is_remote(model) else model) if isinstance(model, str) else bytes(model)
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
        self.facts = facts
        self.dataset, self.direction = facts.get("dataset"), facts.get("direction")
        self.images_per_call = None  # the whole batch at once

    @functools.cached_property
    def memory_bytes_per_pixel(self) -> float:
        # ONNX Runtime does not tell its activation sizes: the exported architecture's, at the paper's
        # 64 filters (the largest preset), an upper bound for smaller models.
        return architecture_bytes_per_pixel(self.facts, 64, self.multiple)

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


def load_runner(model_path: str, *, checkpoint: str = "latest"):
    """A runner for a work dir, a SavedModel folder (or an export folder), a .tflite or an .onnx file.

    Returns:
        An object with `multiple`, `image_size`, `description`, `memory_bytes_per_pixel`,
        `images_per_call`, `dataset` and `direction` (the registry dataset and direction it was trained
        on, from config.json or the facts files; None when unknown or for the user's own data) and
        `run(images, *, stochastic=False, seed=None) -> np.ndarray`. `checkpoint` (latest, best or a
        step) chooses among a work dir's checkpoints.
    """
    if not files.exists(files.check(model_path, "--model")):
        raise UsageError(f"--model {model_path} does not exist")
    if checkpoint != "latest" and not workdir_lib.has_config(model_path):
        raise UsageError(f"--checkpoint {checkpoint} chooses among a work dir's checkpoints; --model {model_path} "
                         "is not a work dir (no config.json)")
    if files.isfile(model_path):
        if model_path.endswith(".onnx"):
            return ONNXRunner(model_path)
        if not model_path.endswith(".tflite"):
            raise UsageError(f"--model {model_path}: expected a work dir, a SavedModel folder, a .tflite or an "
                             ".onnx file")
        return TFLiteRunner(model_path)
    if workdir_lib.has_config(model_path):
        return WorkdirRunner(model_path, checkpoint=checkpoint)
    return SavedModelRunner(model_path)
