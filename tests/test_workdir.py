"""Work dirs and exports written by tfpix2pix 0.1.0 (the flat package layout) still load and resume.

`tests/golden/workdir-0.1.0/` is a real run of that version (tiny preset, 4 filters, 4 steps,
checkpoint at step 4) with the generator's output on a fixed ramp saved next to it;
`tests/golden/generator-0.1.0.keras` is its `export`'s Keras file.
"""

import shutil

import keras
import numpy as np

import tfpix2pix.models.layers  # noqa: F401 (registers the custom layers for the .keras file)
from tests.paths import GOLDEN
from tfpix2pix import workdir as workdir_lib
from tfpix2pix.inference import restore
from tfpix2pix.train import loop, resolve

RAMP = np.linspace(-1, 1, 32 * 32 * 3, dtype=np.float32).reshape(1, 32, 32, 3)


def old_workdir(tmp_path) -> str:
    """A copy, so resuming it leaves the committed fixture as it is."""
    return str(shutil.copytree(GOLDEN / "workdir-0.1.0", tmp_path / "run"))


def test_the_generator_of_an_old_work_dir_restores_its_exact_weights(tmp_path):
    generator, config, step = restore.load_generator(old_workdir(tmp_path), log=lambda *_: None)
    assert (step, config.model.base_filters, config.data.image_size) == (4, 4, 32)
    expected = np.load(GOLDEN / "workdir-0.1.0" / "generator_output.npy")
    np.testing.assert_allclose(generator(RAMP, training=False).numpy()[0], expected, atol=1e-6)


def test_training_resumes_an_old_work_dir_with_its_saved_config(tmp_path):
    workdir = old_workdir(tmp_path)
    config, resolved = resolve.resolve_run(resolve.TrainRequest(workdir=workdir, steps=6))
    saved = workdir_lib.load_config(workdir)
    assert resolved == workdir and config.train.steps == 6 and config.model == saved.model
    notes = []
    result = loop.train(config, workdir=workdir, log=notes.append, interactive=False)
    # Restored in full (models, both optimizers' slots, step, data seed): restore_latest asserts every
    # saved object matched, so a layout change that renamed one would fail here, not start from 0.
    assert any("resumed from" in note and "at step 4" in note for note in notes), notes
    assert result.step == 6 and result.checkpoint.endswith("ckpt-6")


def test_an_old_keras_file_loads_with_the_same_outputs():
    generator, _, _ = restore.load_generator(str(GOLDEN / "workdir-0.1.0"), log=lambda *_: None)
    reloaded = keras.saving.load_model(str(GOLDEN / "generator-0.1.0.keras"), compile=False)
    np.testing.assert_allclose(reloaded(RAMP, training=False).numpy(), generator(RAMP, training=False).numpy(),
                               atol=1e-6)
