"""One briefly trained tiny work dir and its full export, shared by test_export.py and test_tflite.py.

Training (40 steps of the `tiny` preset on the bundled facades sample) and exporting take about
25 s together, so they run once per test process: `trained_export()` caches its result and the
folder is removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

STEPS = 40


@functools.lru_cache(maxsize=None)
def trained_export():
    """(workdir, export folder, export summary) of a tiny generator trained on facades-sample."""
    from tfpix2pix import config as config_lib
    from tfpix2pix.export import export
    from tfpix2pix.train import loop

    root = tempfile.mkdtemp(prefix="tfpix2pix-export-test-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    workdir = os.path.join(root, "run")
    config = config_lib.override(config_lib.preset("tiny"), [f"train.steps={STEPS}", "data.dataset=facades-sample"])
    loop.train(config, workdir=workdir, log=lambda *_: None, interactive=False)
    out = os.path.join(root, "export", "facades")
    summary = export.export(workdir, out, export.ExportOptions(timing_runs=2), log=lambda *_: None)
    return workdir, out, summary


@functools.lru_cache(maxsize=None)
def val_images() -> np.ndarray:
    """The bundled sample's val inputs (label maps, BtoA) at the tiny size: float32 [8, 32, 32, 3]."""
    from tfpix2pix import config as config_lib
    from tfpix2pix.data import pipeline
    from tfpix2pix.data import sources

    config = config_lib.preset("tiny")
    files = sources.split_sources(config.data, "val", image_size=32, log=lambda *_: None)
    batches = pipeline.evaluation_dataset(files, direction="BtoA", image_size=32)
    return np.concatenate([input_image.numpy() for input_image, _ in batches])


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
