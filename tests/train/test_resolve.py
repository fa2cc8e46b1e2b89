"""Run resolution: (saved config or none, preset, explicit values) -> the run's config and work dir."""

import dataclasses

import pytest

from tfpix2pix import config as config_lib, workdir as workdir_lib
from tfpix2pix.errors import UsageError
from tfpix2pix.train.resolve import (
    auto_precision, RESUME_FIXED_FIELDS, TrainRequest, default_workdir, resolve_config, resolve_run,
)

TINY_SAMPLE = dataclasses.replace(
    config_lib.preset("tiny"), data=dataclasses.replace(config_lib.preset("tiny").data, dataset="facades-sample"))


def test_no_data_flag_means_the_bundled_sample_with_its_preset_and_work_dir():
    config = resolve_config(None, TrainRequest())
    assert (config.data.dataset, config.data.direction, config.data.image_size) == ("facades-sample", "BtoA", 128)
    assert config == config_lib.validate(dataclasses.replace(
        config_lib.preset("sample"), data=dataclasses.replace(config_lib.preset("sample").data, dataset="facades-sample")))
    assert default_workdir(TrainRequest()) == "runs/facades-sample"


def test_an_official_dataset_brings_its_direction_and_preset():
    config = resolve_config(None, TrainRequest(dataset="maps"))
    assert (config.data.dataset, config.data.direction, config.data.image_size) == ("maps", "AtoB", 256)
    assert config.train.epochs == 200 and config.train.decay_epochs == 100
    assert default_workdir(TrainRequest(dataset="maps")) == "runs/maps"


def test_own_data_is_named_after_its_folder_and_translates_a_to_b():
    request = TrainRequest(data_dir="/data/my_pairs/", preset="tiny")
    config = resolve_config(None, request)
    assert (config.data.dataset, config.data.data_dir, config.data.direction) == ("", "/data/my_pairs/", "AtoB")
    assert default_workdir(request) == "runs/my_pairs"
    assert default_workdir(TrainRequest(a_dir="x/photos", b_dir="x/labels")) == "runs/photos"
    assert default_workdir(TrainRequest(data_dir="d", workdir="elsewhere")) == "elsewhere"


def test_epochs_keep_the_presets_share_of_decaying_epochs():
    config = resolve_config(None, TrainRequest(dataset="facades", epochs=50, steps=None))
    assert (config.train.epochs, config.train.decay_epochs, config.train.steps) == (50, 25, None)


def test_explicit_values_and_assignments_apply_last():
    request = TrainRequest(preset="tiny", batch_size=2, seed=5, deterministic=True, jit=True, steps=7,
                           assignments=("model.norm=batch", "train.log_every=3"))
    config = resolve_config(None, request)
    assert (config.train.batch_size, config.train.seed, config.train.deterministic, config.train.jit) == (2, 5, True, True)
    assert (config.train.steps, config.train.log_every, config.model.norm) == (7, 3, "batch")


@pytest.mark.parametrize("request_, message", [
    (TrainRequest(dataset="facades", data_dir="d"), "either --dataset or your own data"),
    (TrainRequest(dataset="nope"), "unknown dataset 'nope'"),
    (TrainRequest(preset="nope"), "unknown preset 'nope'"),
    (TrainRequest(assignments=("model.width=3",)), "unknown key 'model.width'"),
])
def test_bad_requests_are_usage_errors_naming_the_input(request_, message):
    with pytest.raises(UsageError, match=message):
        resolve_config(None, request_)


def test_a_resume_may_change_the_stop_point_intervals_and_learning_rate():
    config = resolve_config(TINY_SAMPLE, TrainRequest(steps=9, assignments=("train.learning_rate=1e-4",)))
    assert (config.train.steps, config.train.learning_rate) == (9, 1e-4)
    assert resolve_config(TINY_SAMPLE, TrainRequest(preset="tiny")) == TINY_SAMPLE
    assert resolve_config(TINY_SAMPLE, TrainRequest(dataset="facades-sample")) == TINY_SAMPLE  # the same data again


@pytest.mark.parametrize("request_, change", [
    (TrainRequest(batch_size=2), "train.batch_size: 1 -> 2"),
    (TrainRequest(seed=7), "train.seed: 0 -> 7"),
    (TrainRequest(precision="mixed_bfloat16"), "train.precision: 'float32' -> 'mixed_bfloat16'"),
    (TrainRequest(preset="sample"), "data.image_size: 32 -> 128"),
    (TrainRequest(direction="AtoB"), "data.direction: 'BtoA' -> 'AtoB'"),
    (TrainRequest(assignments=("loss.l1_weight=10",)), "loss.l1_weight: 100.0 -> 10.0"),
    (TrainRequest(dataset="maps"), "data.dataset: 'facades-sample' -> 'maps'"),
    (TrainRequest(data_dir="/data/other"), "data.dataset: 'facades-sample' -> ''; data.data_dir: None -> '/data/other'"),
    (TrainRequest(a_dir="x/a", b_dir="x/b"), "data.a_dir: None -> 'x/a'; data.b_dir: None -> 'x/b'"),
])
def test_a_resume_refuses_what_would_not_continue_the_run(request_, change):
    with pytest.raises(UsageError, match=f"work dir runs/x holds a run with other settings \\(.*{change}"):
        resolve_config(TINY_SAMPLE, request_, workdir="runs/x")


@pytest.mark.parametrize("flags, gpus, strategy, precision", [
    (["AVX2", "FMA", "AVX512F", "AVX512_BF16"], 0, "default", "mixed_bfloat16"),
    (["AVX2", "FMA", "AVX512F", "AMX", "AMX_BF16", "AMX_INT8"], 0, "mirrored", "mixed_bfloat16"),
    (["AVX2", "FMA"], 0, "default", "float32"),
    (["AVX2", "FMA", "AVX512F", "AVX512_VNNI"], 0, "default", "float32"),  # VNNI is int8 only
    (["AVX2", "FMA", "AVX512F", "AVX512_BF16"], 1, "default", "float32"),  # GPUs: float32 until measured there
    (["AVX2", "FMA", "AVX512F", "AVX512_BF16"], 0, "tpu", "float32"),
])
def test_auto_precision_is_bfloat16_only_where_a_cpu_with_native_bfloat16_trains(flags, gpus, strategy, precision):
    picked, why = auto_precision(strategy=strategy, facts={"cpu": "x", "cpus": 2, "flags": flags}, gpus=gpus)
    assert picked == precision and why


def test_auto_precision_keeps_float32_where_oneDNN_is_off_even_on_a_bfloat16_cpu():
    facts = {"cpu": "x", "cpus": 2, "flags": ["AVX2", "FMA", "AVX512F", "AVX512_BF16"]}
    assert auto_precision(facts={**facts, "onednn": True}, gpus=0)[0] == "mixed_bfloat16"
    picked, why = auto_precision(facts={**facts, "onednn": False}, gpus=0)
    assert picked == "float32" and "TF_ENABLE_ONEDNN_OPTS=0" in why


@pytest.mark.parametrize("image_size, base_filters, precision", [
    (256, 64, "mixed_bfloat16"), (128, 32, "mixed_bfloat16"), (64, 64, "mixed_bfloat16"),  # the paper's; sample
    (64, 16, "float32"), (32, 8, "float32"),  # where bfloat16 measured as fast as float32 or slower
])
def test_auto_precision_keeps_float32_for_models_too_small_to_gain_from_bfloat16(image_size, base_filters, precision):
    facts = {"cpu": "x", "cpus": 2, "flags": ["AVX2", "FMA", "AVX512F", "AVX512_BF16"], "onednn": True}
    picked, why = auto_precision(image_size=image_size, base_filters=base_filters, facts=facts, gpus=0)
    assert picked == precision
    if precision == "float32":
        assert f"this model ({image_size} px, {base_filters} filters) is too small" in why


def test_auto_precision_reads_this_machine_once_per_process():
    from tfpix2pix.train import resolve

    first = auto_precision()
    hits = resolve._this_machine.cache_info().hits
    assert auto_precision() == first and resolve._this_machine.cache_info().hits == hits + 1


def test_auto_precision_is_saved_as_its_pick_for_the_runs_model_and_a_resume_keeps_the_runs_precision():
    for preset in ("tiny", "facades"):
        config = resolve_config(None, TrainRequest(preset=preset, precision="auto"))
        assert config.train.precision == auto_precision(
            image_size=config.data.image_size, base_filters=config.model.base_filters)[0]
    # The model's size after --set, and an explicit train.precision wins, as every --set does.
    grown = resolve_config(None, TrainRequest(preset="tiny", precision="auto", assignments=(
        "data.image_size=128", "data.load_size=143", "model.base_filters=32")))
    assert grown.train.precision == auto_precision(image_size=128, base_filters=32)[0]
    assert resolve_config(None, TrainRequest(preset="facades", precision="auto", assignments=(
        "train.precision=float32",))).train.precision == "float32"
    bfloat16_run = dataclasses.replace(TINY_SAMPLE, train=dataclasses.replace(TINY_SAMPLE.train,
                                                                              precision="mixed_bfloat16"))
    for saved in (TINY_SAMPLE, bfloat16_run):
        assert resolve_config(saved, TrainRequest(precision="auto")) == saved


def test_every_data_model_and_loss_field_is_fixed_on_resume_except_where_data_lives():
    sections = {"data": config_lib.DataConfig, "model": config_lib.ModelConfig, "loss": config_lib.LossConfig}
    every_field = {f"{name}.{field.name}" for name, cls in sections.items() for field in dataclasses.fields(cls)}
    assert every_field - set(RESUME_FIXED_FIELDS) == {"data.data_root", "data.skip_bad"}
    assert {key for key in RESUME_FIXED_FIELDS if key.startswith("train.")} == {
        "train.batch_size", "train.seed", "train.precision"}


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_workdir_is_refused_not_replaced_by_the_default(value):
    with pytest.raises(UsageError, match="--workdir must name a folder"):
        default_workdir(TrainRequest(workdir=value))


def test_checkpoints_without_config_json_are_refused_not_overwritten(tmp_path):
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in ("ckpt-4.index", "ckpt-4.data-00000-of-00001"):
        (checkpoints / name).write_bytes(b"x")
    with pytest.raises(UsageError, match="holds checkpoints but no config.json.*nothing was changed"):
        resolve_run(TrainRequest(workdir=str(tmp_path / "run"), preset="tiny"))
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["checkpoints"]


def test_resolve_run_reads_the_saved_config_of_the_work_dir(tmp_path):
    workdir = str(tmp_path / "run")
    assert resolve_run(TrainRequest(workdir=workdir, preset="tiny"))[0].data.image_size == 32  # no saved run yet
    (tmp_path / "run").mkdir()
    config_lib.save(dataclasses.replace(TINY_SAMPLE, train=dataclasses.replace(TINY_SAMPLE.train, seed=3)),
                    workdir_lib.config_path(workdir))
    config, resolved_workdir = resolve_run(TrainRequest(workdir=workdir, steps=5))
    assert (resolved_workdir, config.train.seed, config.train.steps) == (workdir, 3, 5)
