"""Work dirs: those written by tfpix2pix 0.1.0 (the flat layout) still load and resume; one writer each;
the checkpoint files, not their index, decide what a run restores.

`tests/golden/workdir-0.1.0/` is a real run of that version (tiny preset, 4 filters, 4 steps,
checkpoint at step 4) with the generator's output on a fixed ramp saved next to it;
`tests/golden/generator-0.1.0.keras` is its `export`'s Keras file.
"""

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfpix2pix.models.layers  # noqa: F401 (registers the custom layers for the .keras file)
from tests.paths import GOLDEN
from tfpix2pix import workdir as workdir_lib
from tfpix2pix.errors import UsageError
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


def test_one_lock_per_work_dir_names_its_holder(tmp_path):
    with workdir_lib.lock(str(tmp_path)):
        with pytest.raises(UsageError, match=r"is in use by another train \(pid \d+ on .+, started 20\d\d-"):
            with workdir_lib.lock(str(tmp_path)):
                pass
    with workdir_lib.lock(str(tmp_path)):  # released at the end of the block
        pass


def damage_index(workdir: str, damage: str) -> str:
    index = os.path.join(workdir, "checkpoints", "checkpoint")
    contents = {"missing": None, "empty": b"", "truncated": b'model_checkpoint_path: "ckpt-4"\nall_model_chec',
                "binary": b"\x00\xff\xfe junk"}[damage]
    os.remove(index) if contents is None else open(index, "wb").write(contents)
    return index


@pytest.mark.parametrize("damage", ["missing", "empty", "truncated", "binary"])
def test_an_unusable_index_falls_back_to_the_checkpoint_files_and_the_writer_repairs_it(tmp_path, damage):
    workdir = old_workdir(tmp_path)
    index = damage_index(workdir, damage)
    before = open(index, "rb").read() if os.path.exists(index) else None
    notes = []
    generator, _, step = restore.load_generator(workdir, log=notes.append)
    assert step == 4  # readers use the files, say so in one line, and leave the index alone
    assert [note for note in notes if "checkpoint index" in note] == [
        f"note: the checkpoint index {index} is {'damaged' if damage in ('truncated', 'binary') else damage}; "
        "using the 1 checkpoint(s) on disk (newest: ckpt-4)"]
    assert (open(index, "rb").read() if os.path.exists(index) else None) == before
    path = workdir_lib.restore_latest(tf.train.Checkpoint(generator=generator), os.path.dirname(index), partial=True,
                                      repair=True, log=notes.append)
    assert path.endswith("ckpt-4") and tf.train.get_checkpoint_state(os.path.dirname(index)).model_checkpoint_path == path


def test_training_never_restarts_from_step_0_while_a_checkpoint_restores(tmp_path):
    workdir = old_workdir(tmp_path)
    index = damage_index(workdir, "truncated")  # the case that used to restart from 0 and overwrite
    config, _ = resolve.resolve_run(resolve.TrainRequest(workdir=workdir, steps=5))
    notes = []
    result = loop.train(config, workdir=workdir, log=notes.append, interactive=False)
    assert any("resumed from" in note and "at step 4" in note for note in notes), notes
    assert any("rewrote the checkpoint index" in note for note in notes), notes
    assert result.step == 5
    state = tf.train.get_checkpoint_state(os.path.dirname(index))
    assert [os.path.basename(path) for path in state.all_model_checkpoint_paths] == ["ckpt-4", "ckpt-5"]
