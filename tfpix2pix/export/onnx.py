"""The generator as an ONNX file (float32, dynamic batch, height and width), converted and measured.

    model = convert(generator, metadata=facts)   # bytes of a .onnx file, opset OPSET
    outputs = run(model, images)                  # ONNX Runtime on the CPU, for parity
    seconds = latency(model, images[:1])

The file has one input `images` and one output `generated` (ONNX gives every value one name, so
the output cannot be `images` too), both float32 [batch, height, width, 3] in [-1, 1] (NHWC, as
the SavedModel and TFLite files): sides must be multiples of the facts' `multiple`, which the
runner reflect-pads to and crops back from. The decoder's transposed convolutions are converted in
phase form (`deconvolution.with_phase_deconvolutions`: plain Conv + DepthToSpace, no ConvTranspose)
like every other inference path. Dropout is off: ONNX Runtime cannot run TensorFlow's
StatelessRandomUniformV2, so the paper's test-time dropout is not exportable.

Converter: tf2onnx (>= 1.17; 1.16 pins protobuf < 4, which TensorFlow 2.21 cannot import), called
through `tf2onnx.convert.from_function`, not Keras' `model.export(format="onnx")`. Keras calls the
same function with every variable frozen into a graph constant, names the output `Identity:0` and
patches tf2onnx and numpy globally (the np.object FutureWarning). With frozen weights tf2onnx is
slow and memory hungry at the paper's size: every one of its optimizer passes re-copies each
constant into a protobuf arena that is only freed at the end, so the 256x256 U-Net (218 MB of
weights) took 80-150 s and 11-15 GB of memory on a 2-core EPYC. Here the convolution kernels
(all but a few KB of the weights) enter the traced function as inputs instead
(`keras.Model.stateless_call`); tf2onnx converts a graph without large constants, and the kernels
are then bound as initializers, each already in ONNX's OIHW layout (the Transpose tf2onnx puts in
front of each Conv is applied to the array once). The graph has the same operators but one
Add (the outermost layer's bias, folded away with a frozen kernel); 8 s and 0.9 GB more memory
(docs/EXPORT.md).

Opset 17 (tf2onnx 1.17 accepts 13-18 and refuses 19+, "Opset 19 is not supported yet"): opsets
13 to 17 give the same graph for this model (each within 3e-7 of Keras), and ONNX Runtime reads
opset 17 since 1.12 (2022). Opset 18 only writes the instance-norm means as ReduceMean with its
axes as an input instead of GlobalAveragePool, and needs ONNX Runtime 1.14 or later.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections import defaultdict

import numpy as np
import tensorflow as tf

from tfpix2pix.inference import formats
from tfpix2pix.inference.runners import onnx_session
from tfpix2pix.models import deconvolution

OPSET = 17
INSTALL = "pip install 'tfpix2pix[onnx]'"
REQUIRED = ("tf2onnx", "onnx", "onnxruntime")
DIMENSIONS = ("batch", "height", "width")  # names of the dynamic sides, input and output alike


class ConversionError(RuntimeError):
    """tf2onnx produced a graph that is not standard ONNX (an operator it could not convert)."""


def missing() -> str | None:
    """Why ONNX files cannot be written or run here (the packages missing and how to install them), or None."""
    absent = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return f"{', '.join(absent)} not installed ({INSTALL})"


def convert(generator, *, opset: int = OPSET, metadata: dict | None = None) -> bytes:
    """Converts the generator (dropout off) to an ONNX model with dynamic batch, height and width.

    Args:
        generator: the Keras generator; converted in phase form.
        opset: ONNX opset of the default domain (tf2onnx 1.17: 13 to 18).
        metadata: facts stored as JSON in the model's metadata_props under `formats.ONNX_METADATA_KEY`,
            so a file copied without its facts file still says how to pad.

    Raises:
        ImportError: tf2onnx or onnx is not installed.
        ConversionError: an operator could not be converted to standard ONNX; the message names it.
    """
    try:
        import onnx
        import tf2onnx
    except ImportError:
        raise ImportError(f"writing .onnx files needs tf2onnx and onnx: {INSTALL}") from None
    model = deconvolution.with_phase_deconvolutions(generator)
    trainable, non_trainable = model.trainable_variables, model.non_trainable_variables
    variables = trainable + non_trainable
    values = [variable.numpy() for variable in variables]
    # The convolution kernels become inputs of the traced function, everything else stays a constant.
    kernels = {index: f"kernel_{index}" for index, variable in enumerate(variables)
               if len(variable.shape) == 4 and variable.dtype == "float32"}

    def generate(images, *kernel_values):
        weights = [None if index in kernels else tf.constant(value) for index, value in enumerate(values)]
        for index, value in zip(kernels, kernel_values):
            weights[index] = value
        outputs, _ = model.stateless_call(weights[:len(trainable)], weights[len(trainable):], images, training=False)
        return {formats.ONNX_OUTPUT: tf.cast(outputs, tf.float32)}

    signature = (tf.TensorSpec([None, None, None, 3], tf.float32, name=formats.ONNX_INPUT),
                 *(tf.TensorSpec(variables[index].shape, tf.float32, name=name) for index, name in kernels.items()))
    proto, _ = tf2onnx.convert.from_function(tf.function(generate), input_signature=signature, opset=opset)
    _bind_kernels(proto.graph, {name: (variables[index].path, values[index]) for index, name in kernels.items()})
    _check_operators(proto)
    for value in (proto.graph.input[0], proto.graph.output[0]):
        for dimension, name in zip(value.type.tensor_type.shape.dim, DIMENSIONS):
            dimension.dim_param = name
    proto.doc_string = ("pix2pix generator (tfpix2pix): images float32 [batch, height, width, 3] in [-1, 1] -> "
                        "generated, same shape; sides must be multiples of the facts' multiple")
    if metadata is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = formats.ONNX_METADATA_KEY, json.dumps(metadata, sort_keys=True)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as error:
        raise ConversionError(f"tf2onnx {tf2onnx.__version__} wrote an invalid ONNX model: {error}") from None
    return proto.SerializeToString()


def _bind_kernels(graph, kernels: dict[str, tuple[str, np.ndarray]]) -> None:
    """Replaces the kernel inputs of `graph` by initializers named after their variables.

    tf2onnx feeds a non-constant HWIO kernel to Conv through a Transpose to OIHW; that Transpose is
    applied to the array here, so the file holds the kernel in the layout Conv reads, as tf2onnx
    itself stores frozen kernels.
    """
    from onnx import numpy_helper

    consumers = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    renamed, dropped, initializers = {}, set(), []
    for name, (path, value) in kernels.items():
        users = consumers.get(name, [])
        if not users:
            continue
        permutation = [list(attribute.ints) for attribute in users[0].attribute if attribute.name == "perm"]
        if len(users) == 1 and users[0].op_type == "Transpose" and permutation:
            value = np.ascontiguousarray(value.transpose(permutation[0]))
            renamed[users[0].output[0]] = path
            dropped.add(users[0].name)
        else:
            renamed[name] = path
        initializers.append(numpy_helper.from_array(value, path))
    for index in reversed(range(len(graph.node))):
        if graph.node[index].name in dropped:
            del graph.node[index]
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name in renamed:
                node.input[index] = renamed[name]
    for field in (graph.input, graph.value_info):
        for index in reversed(range(len(field))):
            if field[index].name in kernels or field[index].name in renamed:
                del field[index]
    graph.initializer.extend(initializers)


def _check_operators(proto) -> None:
    """Raises ConversionError naming the operators that are not in the ONNX standard (tf2onnx keeps the
    TensorFlow op of anything it cannot convert, and such a file only fails later, in the runtime)."""
    import onnx

    versions = {entry.domain: entry.version for entry in proto.opset_import}
    unknown = sorted({node.op_type for node in proto.graph.node
                      if not onnx.defs.has(node.op_type, max_inclusive_version=versions.get(node.domain, 1),
                                           domain=node.domain)})
    if unknown:
        raise ConversionError(f"tf2onnx could not convert the TensorFlow op(s) {', '.join(unknown)} to ONNX "
                              f"opset {versions.get('', '?')}")


def io_facts() -> dict:
    """Names, shapes, dtype and value range of the input and output, for the facts file."""
    shape = [*DIMENSIONS, 3]
    return {role: {"name": name, "shape": shape, "dtype": "float32", "range": [-1.0, 1.0], "layout": "NHWC"}
            for role, name in (("input", formats.ONNX_INPUT), ("output", formats.ONNX_OUTPUT))}


def converter_version() -> str:
    import tf2onnx

    return f"tf2onnx {tf2onnx.__version__}"


def run(model, images: np.ndarray, *, num_threads: int | None = None) -> np.ndarray:
    """Runs a converted model (bytes or path) on float images [N, H, W, 3] whose sides are multiples of
    its `multiple`, in one batch (default: all cores)."""
    session = onnx_session(model, num_threads=num_threads)
    return session.run([formats.ONNX_OUTPUT], {formats.ONNX_INPUT: np.asarray(images, np.float32)})[0]


def latency(model, image: np.ndarray, *, runs: int = 5, num_threads: int | None = None) -> float:
    """Median seconds per [1, H, W, 3] image, after one warm-up run (default: all cores)."""
    session = onnx_session(model, num_threads=num_threads or os.cpu_count())
    feed = {formats.ONNX_INPUT: np.asarray(image, np.float32)}
    session.run([formats.ONNX_OUTPUT], feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run([formats.ONNX_OUTPUT], feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times))
