"""The export tests' shared state: one briefly trained, fully exported tiny model per test process."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import tensorflow as tf

from tests.export.support import EXPORT_STEPS


class TrainedExport(NamedTuple):
    """A tiny work dir trained `EXPORT_STEPS` steps on the bundled sample, and its full export."""

    workdir: str
    out: str
    result: object  # tfpix2pix.export.export.ExportResult


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> TrainedExport:
    """Training (40 steps of `tiny`) and exporting every format take about 25 s: once per test process."""
    from tfpix2pix import config as config_lib
    from tfpix2pix.export import export
    from tfpix2pix.train import loop

    root = tmp_path_factory.mktemp("trained-export")
    workdir = str(root / "run")
    config = config_lib.override(config_lib.preset("tiny"), [f"train.steps={EXPORT_STEPS}", "data.dataset=facades-sample"])
    loop.train(config, workdir=workdir, log=lambda *_: None, interactive=False)
    out = str(root / "export" / "facades")
    result = export.export(workdir, out, export.ExportOptions(timing_runs=2), log=lambda *_: None)
    return TrainedExport(workdir, out, result)


@pytest.fixture(scope="session")
def generator(exported):
    """The exported run's Keras generator, restored from its work dir."""
    from tfpix2pix.inference import restore

    return restore.load_generator(exported.workdir, log=lambda *_: None)[0]


@pytest.fixture(scope="session")
def val_images() -> np.ndarray:
    """The bundled sample's val inputs (label maps, BtoA) at the tiny size: float32 [8, 32, 32, 3]."""
    from tfpix2pix import config as config_lib
    from tfpix2pix.data import pipeline, sources

    config = config_lib.preset("tiny")
    files = sources.split_sources(config.data, "val", image_size=32, log=lambda *_: None)
    batches = pipeline.evaluation_dataset(files, direction="BtoA", image_size=32)
    return np.concatenate([input_image.numpy() for input_image, _ in batches])


@pytest.fixture(scope="session")
def loaded(exported):
    """The exported SavedModel, loaded."""
    return tf.saved_model.load(exported.result.saved_model)


def pytest_collection_modifyitems(items):
    """Tests of the trained, fully exported model are integration tests: `make test-fast` skips them."""
    for item in items:
        if "exported" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
