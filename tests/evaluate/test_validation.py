"""Validation during training: at the eval steps, equal to `test`'s numbers, the best checkpoint kept and loadable."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from tests.cli_run import run_cli
from tfpix2pix import config as config_lib, workdir as workdir_lib
from tfpix2pix.errors import UsageError
from tfpix2pix.evaluate import curves, results
from tfpix2pix.evaluate.validation import Validator
from tfpix2pix.inference import restore
from tfpix2pix.models.generator import build_generator
from tfpix2pix.train import history, loop

METRICS = ("l1", "psnr", "ssim")


def test_val_metrics_are_logged_at_every_eval_step_and_at_the_end(validated_run):
    workdir, _, result = validated_run
    lines = history.read(workdir_lib.metrics_path(workdir))
    assert [line["step"] for line in lines] == [10, 20, 30]
    assert all(line["count"] == 5 and set(METRICS) <= set(line) for line in lines)
    scalars, _ = curves.read_logs(workdir_lib.train_logs_dir(workdir))
    for name in METRICS:
        assert scalars[f"val/{name}"] == {line["step"]: pytest.approx(line[name], rel=1e-6) for line in lines}
    assert result.validation == lines[-1]


def test_the_last_line_equals_what_test_reports_for_that_checkpoint_on_those_pairs(validated_run, tmp_path):
    workdir, _, _ = validated_run
    last = history.read(workdir_lib.metrics_path(workdir))[-1]
    tested = results.run_test(workdir, out_dir=str(tmp_path / "test"), log=lambda *_: None)
    assert tested.step == last["step"] == 30
    per_image = json.loads((tmp_path / "test" / "metrics.json").read_text())["per_image"][:5]
    for name in METRICS:
        assert last[name] == pytest.approx(np.mean([entry[name] for entry in per_image]), rel=1e-9), name


def test_the_best_checkpoint_is_the_best_val_step_and_test_best_reproduces_its_line(validated_run, tmp_path):
    workdir, config, result = validated_run
    lines = history.read(workdir_lib.metrics_path(workdir))
    best_line = min(lines, key=lambda line: line["l1"])
    facts = json.loads(open(os.path.join(workdir_lib.best_dir(workdir), workdir_lib.BEST_FILE)).read())
    assert (facts["step"], facts["metric"]) == (best_line["step"], "l1")
    assert facts["value"] == pytest.approx(best_line["l1"])
    assert result.best["step"] == best_line["step"]
    assert os.listdir(workdir_lib.best_dir(workdir)).count(f"ckpt-{best_line['step']}.index") == 1
    _, _, step = restore.load_generator(workdir, checkpoint="best", log=lambda *_: None)
    assert step == best_line["step"]
    # The best is loaded for test over the 5 validated pairs alone: the numbers of its line.
    tested = results.run_test(workdir, checkpoint="best", out_dir=str(tmp_path / "best"), log=lambda *_: None)
    per_image = json.loads((tmp_path / "best" / "metrics.json").read_text())["per_image"][:5]
    assert tested.step == best_line["step"]
    assert np.mean([entry["l1"] for entry in per_image]) == pytest.approx(best_line["l1"], rel=1e-9)


def test_a_step_checkpoint_is_chosen_by_number_and_a_missing_one_lists_the_steps(validated_run):
    workdir, _, _ = validated_run
    assert restore.load_generator(workdir, checkpoint="20", log=lambda *_: None)[2] == 20
    with pytest.raises(UsageError, match=r"no checkpoint of step 7; it has steps 10, 20, 30"):
        restore.load_generator(workdir, checkpoint="7")


@pytest.mark.parametrize("arguments, message", [
    (["test", "--checkpoint", "newest"], "expected best, latest or a step number, got 'newest'"),
    (["predict", "--checkpoint", "0", "x.png", "--out", "out"], "expected best, latest or a step number, got '0'"),
    (["export", "--checkpoint", "-3"], "expected best, latest or a step number"),
])
def test_a_bad_checkpoint_flag_is_one_usage_error(arguments, message, tmp_path):
    completed = run_cli(*arguments, "--workdir" if arguments[0] != "predict" else "--model", tmp_path, cwd=tmp_path)
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_a_run_without_a_val_split_says_so_once_trains_on_and_has_no_best(tmp_path, sample_train_files):
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    for path in sample_train_files[:4]:
        (data / os.path.basename(path)).write_bytes(open(path, "rb").read())
    config = config_lib.validate(config_lib.override(config_lib.preset("tiny"), [
        f"data.data_dir={tmp_path / 'data'}", "data.dataset=", "model.base_filters=4",
        "model.discriminator_filters=4", "train.steps=6", "train.eval_every=2"]))
    notes = []
    validator = Validator(config, log=notes.append)
    workdir = str(tmp_path / "run")
    result = loop.train(config, workdir=workdir, evaluator=validator, log=notes.append, interactive=False)
    assert result.step == 6 and not validator
    assert [note for note in notes if "val" in note] == [
        "note: no val split: training without validation metrics or a best checkpoint"]
    assert result.validation is None and result.best is None
    assert not os.path.exists(workdir_lib.metrics_path(workdir))
    assert not os.path.exists(workdir_lib.best_dir(workdir))
    with pytest.raises(UsageError, match="has no best checkpoint"):
        restore.load_generator(workdir, checkpoint="best")


def test_a_label_metric_as_best_metric_needs_label_outputs():
    config = config_lib.override(config_lib.preset("tiny"), ["train.best_metric=class_iou"])
    with pytest.raises(UsageError, match="train.best_metric=class_iou needs label-map outputs"):
        Validator(config, log=lambda *_: None)


def test_the_config_is_written_as_tensorboard_hparams_with_the_val_metrics(validated_run):
    workdir, config, _ = validated_run
    scalars, _ = curves.read_logs(workdir_lib.train_logs_dir(workdir))
    found = {}
    folder = workdir_lib.train_logs_dir(workdir)
    for name in os.listdir(folder):
        for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
            for value in event_pb2.Event.FromString(record.numpy()).summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    found[value.tag] = data
    experiment = found["_hparams_/experiment"].experiment
    assert {info.name for info in experiment.hparam_infos} >= {"train.learning_rate", "model.norm", "data.dataset"}
    assert [info.name.tag for info in experiment.metric_infos] == ["val/l1", "val/psnr", "val/ssim"]
    session = found["_hparams_/session_start_info"].session_start_info
    assert session.hparams["train.learning_rate"].number_value == pytest.approx(config.train.learning_rate)
    assert session.hparams["train.eval_every"].number_value == 10
    assert all(f"val/{name}" in scalars for name in METRICS)


def test_photo_to_labels_validation_adds_the_papers_label_scores_and_may_keep_the_best_by_them():
    config = config_lib.validate(config_lib.override(config_lib.preset("tiny"), [
        "data.direction=AtoB", "model.base_filters=4", "train.eval_images=3", "train.best_metric=class_iou"]))
    validator = Validator(config, log=lambda *_: None)
    generator = build_generator(**config_lib.generator_arguments(config))
    scores = validator(generator, 0)
    assert validator.metric_names == ("l1", "psnr", "ssim", "pixel_accuracy", "class_accuracy", "class_iou")
    assert set(validator.metric_names) <= set(scores.metrics) and scores.metrics["count"] == 3
    assert scores.generated.shape == (3, 32, 32, 3)
