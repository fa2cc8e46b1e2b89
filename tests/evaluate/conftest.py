"""A tiny run that validated while it trained, shared by the validation, curves and results-page tests."""

import pytest

from tfpix2pix import config as config_lib
from tfpix2pix.evaluate.validation import Validator
from tfpix2pix.train import loop


@pytest.fixture(scope="module")
def validated_run(tmp_path_factory):
    """(work dir, config, TrainResult) of 30 tiny steps validated at 10, 20 and 30 on the first 5 val pairs."""
    config = config_lib.validate(config_lib.override(config_lib.preset("tiny"), [
        "model.base_filters=4", "model.discriminator_filters=4", "train.steps=30", "train.log_every=5",
        "train.sample_every=10", "train.save_every=10", "train.keep_checkpoints=5", "train.eval_every=10",
        "train.eval_images=5"]))
    workdir = str(tmp_path_factory.mktemp("validated") / "run")
    result = loop.train(config, workdir=workdir, evaluator=Validator(config, log=lambda *_: None),
                        log=lambda *_: None, interactive=False)
    return workdir, config, result
