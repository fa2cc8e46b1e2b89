"""Helpers of the export tests: the README's scripts, run as a user would, and a PSNR for parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EXPORT_STEPS = 40  # training steps of the exported tiny model (conftest.py)


def readme_script(out: str, first_line_prefix: str) -> str:
    """The README's ```python block whose first line starts with `first_line_prefix`."""
    text = Path(out, "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
    matches = [block for block in blocks if block.startswith(first_line_prefix)]
    assert len(matches) == 1, f"expected one README block starting with {first_line_prefix!r}"
    return matches[0]


def run_script(source: str) -> dict:
    """Executes a README script as a module that is not __main__; returns its namespace."""
    namespace = {"__name__": "readme_example"}
    exec(compile(source, "README.md", "exec"), namespace)
    return namespace


def psnr(output: np.ndarray, reference: np.ndarray) -> float:
    """Minimum over images of the PSNR (peak 2, images in [-1, 1])."""
    errors = np.mean(((output - reference) / 2.0) ** 2, axis=(1, 2, 3))
    return float(np.min(10 * np.log10(1.0 / np.maximum(errors, 1e-20))))


def graph_constants(version_dir: str) -> list[tuple[str, int]]:
    """(dtype name, element count) of every constant in a SavedModel's graph and function library."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString(Path(version_dir, "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    nodes = list(graph.node) + [node for function in graph.library.function for node in function.node_def]
    constants = []
    for node in nodes:
        if node.op == "Const":
            tensor = node.attr["value"].tensor
            count = int(np.prod([dim.size for dim in tensor.tensor_shape.dim]))
            constants.append((tf.dtypes.as_dtype(tensor.dtype).name, count))
    return constants
