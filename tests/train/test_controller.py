"""The controller's one interval rule, and the intervals a short run actually keeps."""

import glob
import os

import pytest
import tensorflow as tf

from tfpix2pix import config as config_lib
from tfpix2pix.train import loop
from tfpix2pix.train.controller import is_due


@pytest.mark.parametrize("step, every, total, due", [
    (10, 10, 25, True), (20, 10, 25, True), (11, 10, 25, False), (25, 10, 25, True), (24, 10, 25, False),
    (1, 1, 3, True), (3, 50, 3, True),
])
def test_an_interval_is_due_at_each_multiple_and_at_the_last_step(step, every, total, due):
    assert is_due(step, every, total) is due


def test_a_run_logs_draws_and_saves_at_its_intervals_and_at_the_end(tmp_path):
    config = config_lib.override(config_lib.preset("tiny"), [
        "model.base_filters=4", "model.discriminator_filters=4", "train.steps=5", "train.log_every=2",
        "train.sample_every=3", "train.save_every=4", "train.keep_checkpoints=5"])
    workdir = str(tmp_path / "run")
    result = loop.train(config, workdir=workdir, log=lambda *_: None, interactive=False)
    assert (result.step, result.total_steps) == (5, 5)
    assert sorted(os.listdir(os.path.join(workdir, "samples"))) == ["step_0000003.png", "step_0000005.png"]
    saved = sorted(name for name in os.listdir(os.path.join(workdir, "checkpoints")) if name.endswith(".index"))
    assert saved == ["ckpt-4.index", "ckpt-5.index"]
    assert set(result.losses) == {"d_total", "d_real", "d_generated", "g_total", "g_gan", "g_l1"}
    logged = {event.step for path in glob.glob(os.path.join(workdir, "logs", "train", "events.*"))
              for event in tf.compat.v1.train.summary_iterator(path)
              for value in event.summary.value if value.tag == "loss/g_l1"}
    assert logged == {2, 4, 5}
