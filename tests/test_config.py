import dataclasses
import json
import re

import pytest

from tfpix2pix import config as config_lib
from tfpix2pix.errors import UsageError


def test_presets_follow_the_paper():
    facades = config_lib.preset("facades")
    assert (facades.data.direction, facades.data.image_size, facades.data.load_size) == ("BtoA", 256, 286)
    assert (facades.train.epochs, facades.train.decay_epochs, facades.train.batch_size) == (200, 100, 1)
    assert (facades.train.learning_rate, facades.train.beta_1) == (2e-4, 0.5)
    assert (facades.model.norm, facades.model.discriminator_layers, facades.loss.l1_weight) == ("instance", 3, 100.0)
    assert config_lib.preset("maps").data.direction == "AtoB"
    assert config_lib.preset("edges2shoes").train.batch_size == 4


def test_unknown_preset_lists_valid_names():
    with pytest.raises(UsageError, match="unknown preset 'nope'.*facades.*tiny"):
        config_lib.preset("nope")


def test_override_parses_types_and_rejects_unknown_keys():
    config = config_lib.override(
        config_lib.preset("tiny"),
        ["model.norm=batch", "train.log_every=7", "loss.l1_weight=10", "data.flip=false", "train.keep_every=none"],
    )
    assert (config.model.norm, config.train.log_every, config.loss.l1_weight, config.data.flip) == ("batch", 7, 10.0, False)
    assert config.train.keep_every is None
    with pytest.raises(UsageError, match="unknown key 'model.nrom'.*model.norm"):
        config_lib.override(config, ["model.nrom=batch"])
    with pytest.raises(UsageError, match="expected a int value"):
        config_lib.override(config, ["train.log_every=often"])


def test_validate_names_the_bad_field():
    tiny = config_lib.preset("tiny")
    with pytest.raises(UsageError, match="model.norm must be one of.*got 'layer'"):
        config_lib.validate(dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, norm="layer")))
    with pytest.raises(UsageError, match="power of two.*got 48"):
        config_lib.validate(dataclasses.replace(tiny, data=dataclasses.replace(tiny.data, image_size=48)))


def test_json_round_trip(tmp_path):
    config = config_lib.override(config_lib.preset("tiny"), ["model.norm=batch"])
    config_lib.save(config, str(tmp_path / "config.json"))
    assert config_lib.load(str(tmp_path / "config.json")) == config


def test_model_arguments_unpack_the_config_for_the_builders():
    config = config_lib.override(config_lib.preset("tiny"), ["model.generator=resnet9", "model.norm=batch"])
    assert config_lib.generator_arguments(config) == {
        "kind": "resnet9", "image_size": 32, "base_filters": 8, "norm": "batch", "dropout": 0.5, "resnet_blocks": 9}
    assert config_lib.discriminator_arguments(config) == {
        "base_filters": 8, "num_layers": 3, "norm": "batch", "image_size": 32}


@pytest.mark.parametrize("assignment, message", [
    ("train.seed=4294967296", "train.seed must be below 2\\*\\*32"),
    ("model.discriminator_layers=4", "model.discriminator_layers=4 needs data.image_size of at least 64"),
    ("model.discriminator_layers=8", "needs data.image_size of at least 1024"),
])
def test_values_that_would_fail_later_are_refused_up_front(assignment, message):
    with pytest.raises(UsageError, match=message):
        config_lib.validate(config_lib.override(config_lib.preset("tiny"), [assignment]))
    config_lib.validate(config_lib.override(config_lib.preset("tiny"), ["train.seed=4294967295"]))
    config_lib.validate(config_lib.override(config_lib.preset("facades"), ["model.discriminator_layers=5"]))


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", "2", "train.batch_size must be a int, got '2'"),
    ("deterministic", 1, "train.deterministic must be a bool, got 1"),
    ("seed", True, "train.seed must be a int, got True"),
    ("keep_every", "often", "train.keep_every must be a int or null, got 'often'"),
    ("learning_rate", None, "train.learning_rate must be a float, got None"),
])
def test_every_field_has_its_type_checked(field, value, message):
    config = dataclasses.replace(config_lib.preset("tiny"),
                                 train=dataclasses.replace(config_lib.preset("tiny").train, **{field: value}))
    with pytest.raises(UsageError, match=re.escape(message)):
        config_lib.validate(config)


@pytest.mark.parametrize("contents, message", [
    (b"[1, 2]", "must hold a JSON object of sections"),
    (b'{"train": 3}', "must hold a JSON object of sections"),
    (b'{"train": {"seed": 1', "is not valid JSON"),
    (b'{"train": {"seed": "\xff\xfe"}}', "is not UTF-8 text"),
    (b'{"train": {"sed": 1}}', "is not a valid tfpix2pix config .*sed"),
    (b'{"train": {"seed": 99999999999999999999}}', "train.seed must be below 2\\*\\*32"),
    (b'{"train": {"batch_size": "4"}}', "train.batch_size must be a int"),
])
def test_a_damaged_saved_config_is_one_message_naming_the_file_and_left_as_it_is(tmp_path, contents, message):
    path = tmp_path / "config.json"
    path.write_bytes(contents)
    with pytest.raises(UsageError, match=f"{re.escape(str(path))}.*{message}.*left as it is"):
        config_lib.load(str(path))
    assert path.read_bytes() == contents


@pytest.mark.parametrize("eval_every, steps_per_epoch, interval", [(None, 400, 400), (None, 5000, 1000), (0, 400, 0),
                                                                     (250, 400, 250), (None, 0, 1)])
def test_validation_runs_once_per_epoch_at_most_every_1000_steps_unless_set(eval_every, steps_per_epoch, interval):
    train = dataclasses.replace(config_lib.TrainConfig(), eval_every=eval_every)
    assert config_lib.eval_interval(train, steps_per_epoch) == interval


@pytest.mark.parametrize("assignment, message", [
    ("train.eval_every=-1", "train.eval_every must be 0 (off) or more, got -1"),
    ("train.eval_images=0", "train.eval_images must be at least 1, got 0"),
    ("train.best_metric=fid", "train.best_metric must be one of l1, psnr, ssim"),
    ("health.saturated_share=1.5", "health.saturated_share must be in [0, 1], got 1.5"),
    ("health.d_won_loss=-0.1", "health.d_won_loss must be a finite number >= 0, got -0.1"),
    ("health.stall_intervals=0", "health.stall_intervals must be at least 1, got 0"),
])
def test_validation_and_health_settings_are_checked(assignment, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        config_lib.validate(config_lib.override(config_lib.preset("tiny"), [assignment]))


def test_a_saved_config_without_the_health_section_loads_with_its_defaults(tmp_path):
    path = tmp_path / "config.json"
    config_lib.save(config_lib.preset("tiny"), str(path))
    values = json.loads(path.read_text())
    del values["health"]
    del values["train"]["eval_every"]
    path.write_text(json.dumps(values))
    loaded = config_lib.load(str(path))
    assert loaded.health == config_lib.HealthConfig() and loaded.train.eval_every is None
