"""The command line: usage errors (exit 2, one line, no traceback), train/resume, test, evaluate."""

import json
import shutil

import pytest

from tests import image_files
from tests.cli_run import run_cli
from tfpix2pix import cli
from tfpix2pix.train.resolve import auto_precision


def assert_usage_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def run_main(argv):
    try:
        return cli.main(argv)
    except SystemExit as exit_info:  # argparse's own errors
        return exit_info.code


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["train", "--preset", "nope"], ["unknown preset 'nope'", "tiny"]),
        (["train", "--set", "model.nrom=batch"], ["unknown key 'model.nrom'", "model.norm"]),
        (["train", "--set", "train.batch_size=0"], ["train.batch_size must be at least 1, got 0"]),
        (["train", "--data-dir", "/nonexistent/pairs"], ["--data-dir /nonexistent/pairs does not exist"]),
        (["train", "--a-dir", "/nonexistent/a", "--b-dir", "/nonexistent/b"], ["--a-dir /nonexistent/a does not exist"]),
        (["train", "--dataset", "nope"], ["unknown dataset 'nope'", "facades"]),
        (["train", "--batch-size", "0"], ["must be at least 1, got 0"]),
        (["train", "--steps", "ten"], ["expected a whole number, got 'ten'"]),
        (["train", "--direction", "sideways"], ["invalid choice: 'sideways'"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
        (["test", "--workdir", "/nonexistent/run"], ["work dir /nonexistent/run does not exist"]),
    ],
)
def test_usage_errors_are_one_clear_line(argv, fragments, capsys):
    extra = ["--workdir", "/tmp/tfpix2pix-never-created"] if argv[0] == "train" else []
    assert run_main(argv + extra) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in captured.err, captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--steps", "-3"])
    assert exit_info.value.code == 2


def test_missing_split_and_odd_width_images(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "pairs" / "train").mkdir(parents=True)
    Image.new("RGB", (65, 32)).save(tmp_path / "pairs" / "train" / "odd.png")
    code = cli.main(["train", "--data-dir", str(tmp_path / "pairs"), "--preset", "tiny",
                     "--workdir", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "odd.png" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_bad_training_files_stop_the_run_by_name_or_are_skipped_with_skip_bad(tmp_path, capsys):

    # The tiny preset accepts halves of 8 px and more, so the fixtures' 16x8 "tiny" file is fine here.
    bad_kinds = sorted(set(image_files.BAD_KINDS) - {"tiny"})
    split = tmp_path / "pairs" / "train"
    files = image_files.make_split(split, good=2, kinds=[*sorted(image_files.ODD_KINDS), *bad_kinds])
    image_files.write_good(split / "small.png", width=14, height=6)  # halves of 7x6
    bad = [files[name] for name in files if name.rsplit(".", 1)[0] in bad_kinds] + [split / "small.png"]
    good_count = len(files) - len(bad) + 1
    train = ["train", "--data-dir", str(tmp_path / "pairs"), "--preset", "tiny", "--steps", "2",
             "--workdir", str(tmp_path / "run")]

    assert cli.main(train) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"has {len(bad)} bad image file(s)" in err
    for path in bad:
        assert f"\n  {path}: " in err
    assert not (tmp_path / "run" / "checkpoints").exists()

    assert cli.main([*train, "--skip-bad"]) == 0  # the odd formats (CMYK, 16-bit, palette, ...) train
    out = capsys.readouterr().out
    assert f"--skip-bad: skipping {len(bad)} bad image file(s) in {split}, using the other {good_count}:" in out
    assert "done: step 2/2" in out


@pytest.mark.slow  # the real command in a subprocess
def test_offline_download_fails_fast_with_the_ways_out(tmp_path):
    result = run_cli("train", "--dataset", "maps", "--data-root", tmp_path / "data", "--workdir", tmp_path / "run",
                     env={"TFPIX2PIX_DATASET_MIRROR": "http://127.0.0.1:9/datasets"}, timeout=60)
    assert_usage_error(result, "http://127.0.0.1:9/datasets/maps.tar.gz", "facades-sample")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "maps").exists()


@pytest.mark.slow  # the real command in a subprocess
def test_datasets_lists_official_sets(tmp_path):
    result = run_cli("datasets", "--data-root", tmp_path, check=True, timeout=60)
    for name in ("facades", "maps", "cityscapes", "edges2shoes", "edges2handbags", "night2day", "facades-sample"):
        assert name in result.stdout


@pytest.mark.slow  # the real command in a subprocess
def test_train_resume_test_and_evaluate_end_to_end(tmp_path):
    workdir = tmp_path / "run"
    first = run_cli("train", "--preset", "tiny", "--steps", "12", "--workdir", workdir,
                    "--set", "train.save_every=6", "--set", "train.log_every=6", check=True)
    assert "done: step 12/12" in first.stdout
    # The default, auto: this machine's pick for the tiny model (float32 on every CPU), said and saved as such.
    picked, why = auto_precision(image_size=32, base_filters=8)
    assert f"precision auto: {picked} ({why})" in first.stdout
    config = json.loads((workdir / "config.json").read_text())
    assert config["data"]["dataset"] == "facades-sample" and config["data"]["image_size"] == 32
    assert config["train"]["precision"] == picked
    assert sorted(p.name for p in (workdir / "checkpoints").glob("*.index")) == ["ckpt-12.index", "ckpt-6.index"]
    assert list((workdir / "samples").glob("step_*.png"))
    assert list((workdir / "logs" / "train").glob("events.out.tfevents.*"))

    # Resume: no data flags needed, the step count continues from the checkpoint.
    second = run_cli("train", "--steps", "18", "--workdir", workdir, "--precision", "auto", check=True)
    assert "resumed from" in second.stdout and "at step 12" in second.stdout
    assert f"precision auto: {picked} (the run's own: a resume keeps its precision)" in second.stdout
    assert "done: step 18/18" in second.stdout
    changed = run_cli("train", "--steps", "20", "--workdir", workdir, "--set", "model.base_filters=16")
    assert_usage_error(changed, "model.base_filters: 8 -> 16")

    test = run_cli("test", "--workdir", workdir, check=True)
    results = workdir / "results" / "val"
    metrics = json.loads((results / "metrics.json").read_text())
    assert metrics["step"] == 18 and len(metrics["per_image"]) == 8
    assert {"l1", "psnr", "ssim"} <= set(metrics["mean"])
    assert (results / "index.html").is_file() and "deterministic" in test.stdout

    evaluate = run_cli("evaluate", "--generated", results / "images", "--target", results / "images", timeout=120)
    # The same folder twice matches every file with itself: L1 0.
    assert "l1 0," in evaluate.stdout, evaluate.stdout


def test_a_bad_val_split_does_not_stop_training(tmp_path, capsys):

    image_files.make_split(tmp_path / "pairs" / "train", good=2)
    image_files.make_split(tmp_path / "pairs" / "val", good=1, kinds=["text_named_jpg"])
    code = cli.main(["train", "--data-dir", str(tmp_path / "pairs"), "--preset", "tiny", "--steps", "2",
                     "--workdir", str(tmp_path / "run")])
    assert code == 0
    out = capsys.readouterr().out
    assert "note: sample grids use training pairs, as the val split cannot be used" in out
    assert list((tmp_path / "run" / "samples").glob("step_*.png"))


@pytest.mark.parametrize("flags, message", [
    (["--seed", "99999999999999999999"], "train.seed must be below 2**32"),
    (["--set", "model.discriminator_layers=8"], "model.discriminator_layers=8 needs data.image_size of at least 1024"),
    (["--set", "train.batch_size=two"], "expected a int value"),
])
def test_bad_values_are_refused_before_the_work_dir_is_created(tmp_path, capsys, flags, message):
    workdir = tmp_path / "run"
    assert cli.main(["train", "--preset", "tiny", "--workdir", str(workdir), *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not workdir.exists()


def test_an_old_run_refuses_other_data_a_past_stop_and_a_broken_config_without_changing_it(tmp_path, capsys):
    from tests.paths import GOLDEN

    workdir = shutil.copytree(GOLDEN / "workdir-0.1.0", tmp_path / "run")
    before = {path: path.read_bytes() for path in workdir.rglob("*") if path.is_file()}
    cases = [
        (["--dataset", "maps"], "data.dataset: 'facades-sample' -> 'maps'"),
        (["--data-dir", str(tmp_path)], f"data.data_dir: None -> '{tmp_path}'"),
        (["--steps", "3"], "is already at step 4, past the 3 steps asked for"),
    ]
    for flags, message in cases:
        assert cli.main(["train", "--workdir", str(workdir), *flags]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    config = workdir / "config.json"
    config.write_text(config.read_text().replace('"seed": 0', '"seed": "zero"'))
    before[config] = config.read_bytes()
    assert cli.main(["train", "--workdir", str(workdir), "--steps", "6"]) == 2
    assert f"{config}: train.seed must be a int, got 'zero'" in capsys.readouterr().err
    assert cli.main(["train", "--workdir", "", "--preset", "tiny"]) == 2
    assert "--workdir must name a folder, got ''" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in workdir.rglob("*") if path.is_file()} == before


def test_a_file_name_that_is_not_utf8_is_named_and_skipped_not_a_crash(tmp_path, capsys):
    from tests.data.test_validate import non_utf8_name

    train = tmp_path / "pairs" / "train"
    image_files.make_split(train, good=4)
    non_utf8_name(train)
    workdir = tmp_path / "run"
    base = ["train", "--data-dir", str(tmp_path / "pairs"), "--preset", "tiny", "--steps", "2", "--workdir", str(workdir)]
    assert cli.main(base) == 2
    error = capsys.readouterr().err
    assert "caf\\xe9.jpg: has a file name that is not valid UTF-8" in error and "Traceback" not in error
    assert not workdir.exists()
    assert cli.main(base + ["--skip-bad"]) == 0
    assert "--skip-bad: skipping 1 bad image file(s)" in capsys.readouterr().out


def test_test_refuses_to_write_into_the_data_it_reads(tmp_path, capsys):
    from tests.paths import GOLDEN, SAMPLE

    workdir = shutil.copytree(GOLDEN / "workdir-0.1.0", tmp_path / "run")
    shutil.copytree(SAMPLE / "val", tmp_path / "pairs" / "val")
    config = json.loads((workdir / "config.json").read_text())
    config["data"].update(dataset="", data_dir=str(tmp_path / "pairs"))
    (workdir / "config.json").write_text(json.dumps(config))
    before = sorted(path.name for path in (tmp_path / "pairs" / "val").iterdir())
    for out in (tmp_path / "pairs" / "val", tmp_path / "pairs" / "val" / "results"):
        assert cli.main(["test", "--workdir", str(workdir), "--out", str(out)]) == 2
        assert "is inside the data folder" in capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "pairs" / "val").iterdir()) == before
    train = ["train", "--data-dir", str(tmp_path / "pairs"), "--preset", "tiny", "--steps", "1"]
    shutil.copytree(SAMPLE / "train", tmp_path / "pairs" / "train")
    assert cli.main([*train, "--workdir", str(tmp_path / "pairs" / "train" / "run")]) == 2
    assert "--workdir" in capsys.readouterr().err and not (tmp_path / "pairs" / "train" / "run").exists()
    assert cli.main(["test", "--workdir", str(workdir), "--out", str(tmp_path / "results")]) == 0


def test_test_and_evaluate_keep_files_they_did_not_write_unless_asked(tmp_path, capsys):
    from tests.paths import GOLDEN

    workdir = shutil.copytree(GOLDEN / "workdir-0.1.0", tmp_path / "run")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    assert cli.main(["test", "--workdir", str(workdir), "--out", str(mine)]) == 2
    assert "holds files that are not an earlier test result" in capsys.readouterr().err
    assert sorted(path.name for path in mine.iterdir()) == ["notes.txt"]
    results = tmp_path / "results"
    assert cli.main(["test", "--workdir", str(workdir), "--out", str(results)]) == 0
    assert cli.main(["test", "--workdir", str(workdir), "--out", str(results)]) == 0  # an earlier result is replaced
    images = results / "images"
    generated, target = tmp_path / "generated", tmp_path / "target"
    shutil.copytree(images, generated)
    shutil.copytree(images, target)
    evaluate = ["evaluate", "--generated", str(generated), "--target", str(target)]
    assert cli.main([*evaluate, "--json", str(generated / "1_input.png")]) == 2
    assert "is an image of the folders compared" in capsys.readouterr().err
    (tmp_path / "m.json").write_text("{}")
    assert cli.main([*evaluate, "--json", str(tmp_path / "m.json")]) == 2
    assert "exists; nothing was written: pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "m.json").read_text() == "{}"
    assert cli.main([*evaluate, "--json", str(tmp_path / "m.json"), "--overwrite"]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["mean"]["count"] == 8 * 3


def test_test_refuses_what_would_not_fit_in_memory_naming_the_estimate(tmp_path, capsys, monkeypatch):
    from tests.paths import GOLDEN

    workdir = shutil.copytree(GOLDEN / "workdir-0.1.0", tmp_path / "run")
    monkeypatch.setenv("TFPIX2PIX_MEMORY_LIMIT_MB", "1")
    assert cli.main(["test", "--workdir", str(workdir)]) == 2
    error = capsys.readouterr().err
    assert "test translates 32x32 images, which needs about" in error and "are available" in error
    assert not (workdir / "results").exists()
