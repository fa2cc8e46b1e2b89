"""Any-size inference, inference modes, and `predict` on files."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfpix2pix import cli
from tfpix2pix.inference import translation
from tfpix2pix.models.generator import build_unet_generator


@pytest.mark.parametrize("height,width", [(300, 517), (32, 32), (33, 95), (256, 31 * 7)])
def test_pad_and_crop_round_trip_returns_the_input_exactly(height, width):
    images = tf.random.uniform([2, height, width, 3], -1, 1)
    padded, box = translation.pad_to_multiple(images, 32)
    assert padded.shape[1] % 32 == 0 and padded.shape[2] % 32 == 0
    assert padded.shape[1] - height < 32 and padded.shape[2] - width < 32
    np.testing.assert_array_equal(translation.crop(padded, box).numpy(), images.numpy())


def test_translate_keeps_the_size_and_modes_are_explicit():
    generator = build_unet_generator(image_size=32, base_filters=4)
    images = tf.random.uniform([1, 45, 70, 3], -1, 1, seed=1)
    first = translation.translate(generator, images, multiple=32).numpy()
    assert first.shape == (1, 45, 70, 3)
    np.testing.assert_array_equal(first, translation.translate(generator, images, multiple=32).numpy())

    def stochastic(seed):
        translation.seed_dropout(generator, seed)
        return translation.translate(generator, images, multiple=32, training=True).numpy()

    np.testing.assert_array_equal(stochastic(3), stochastic(3))
    assert np.abs(stochastic(3) - stochastic(4)).max() > 1e-6
    assert np.abs(stochastic(3) - first).max() > 1e-6


def test_mode_note_names_the_statistics():
    assert "moving averages" in translation.mode_note("batch", False)
    assert "statistics of each test batch" in translation.mode_note("batch", True)
    assert "dropout on" in translation.mode_note("instance", True)


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("predict") / "run"
    assert cli.main(["train", "--preset", "tiny", "--steps", "4", "--workdir", str(workdir)]) == 0
    return workdir


def predict(*args):
    return cli.main(["predict", *map(str, args)])


def test_predict_files_any_size_and_bad_inputs(trained_workdir, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (300, 517, 3), dtype=np.uint8)).save(inputs / "odd.png")
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(inputs / "gray.jpg")
    (inputs / "notes.jpg").write_text("not an image")
    Image.new("RGB", (10, 40)).save(inputs / "tiny.png")
    Image.fromarray(rng.integers(0, 255, (12, 45, 3), dtype=np.uint8)).save(inputs / "small.png")  # padded to 32x64
    out = tmp_path / "out"
    assert predict("--model", trained_workdir, inputs, "--out", out) == 1  # two inputs skipped
    err = capsys.readouterr().err
    assert "notes.jpg" in err and "tiny.png" in err and "smaller than 12x12" in err and "at least 12 px" in err
    assert Image.open(out / "odd.png").size == (517, 300)
    assert Image.open(out / "gray.png").size == (64, 64)
    assert Image.open(out / "small.png").size == (45, 12)
    assert predict("--model", trained_workdir, inputs / "tiny.png", "--resize", "--out", tmp_path / "r") == 0
    assert Image.open(tmp_path / "r" / "tiny.png").size == (10, 40)


def test_unwritable_out_folder_is_one_clear_error(trained_workdir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    source = tmp_path / "in.png"
    Image.new("RGB", (32, 32)).save(source)
    for argv in (["predict", "--model", str(trained_workdir), str(source), "--out", str(blocker / "out")],
                 ["test", "--workdir", str(trained_workdir), "--out", str(blocker / "out")]):
        assert cli.main(argv) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"tfpix2pix {argv[0]}: error: --out {blocker / 'out'} cannot be used: Not a directory")
        assert "Traceback" not in error


def test_predict_is_deterministic_by_default_and_seeded_when_stochastic(trained_workdir, tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(source)
    outputs = {}
    for name, flags in {"a": [], "b": [], "s1": ["--stochastic", "--seed", "1"], "s1again": ["--stochastic", "--seed", "1"],
                        "s2": ["--stochastic", "--seed", "2"]}.items():
        assert predict("--model", trained_workdir, source, "--out", tmp_path / name, *flags) == 0
        outputs[name] = np.asarray(Image.open(tmp_path / name / "in.png"), dtype=np.int16)
    np.testing.assert_array_equal(outputs["a"], outputs["b"])
    np.testing.assert_array_equal(outputs["s1"], outputs["s1again"])
    assert np.abs(outputs["s1"] - outputs["s2"]).max() > 0


def test_predict_never_writes_over_its_inputs_and_replaces_outputs_only_when_asked(trained_workdir, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(photos / name)
    before = {path.name: path.read_bytes() for path in photos.iterdir()}
    # --out equal to the input folder: a.png would be its own output.
    for flags in ([], ["--overwrite"]):
        assert predict("--model", trained_workdir, photos, "--out", photos, *flags) == 2
        error = capsys.readouterr().err
        assert "would write over input images of this call" in error and "a.png" in error and "Traceback" not in error
    assert {path.name: path.read_bytes() for path in photos.iterdir()} == before  # nothing written or replaced
    # Inside the input folder is fine when no output has an input's path: b.jpg -> b.png.
    assert predict("--model", trained_workdir, photos / "b.jpg", "--out", photos) == 0
    assert (photos / "b.png").is_file() and (photos / "b.jpg").read_bytes() == before["b.jpg"]
    # An existing output is kept unless --overwrite.
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"the user's own file")
    assert predict("--model", trained_workdir, photos / "a.png", "--out", out) == 2
    assert "already holds 1 of the outputs" in capsys.readouterr().err
    assert (out / "a.png").read_bytes() == b"the user's own file"
    assert predict("--model", trained_workdir, photos / "a.png", "--out", out, "--overwrite") == 0
    assert Image.open(out / "a.png").size == (32, 32)


def test_an_input_whose_name_is_not_utf8_is_named_and_skipped_and_the_others_written(trained_workdir, tmp_path,
                                                                                         capsys):
    from tests.data.test_validate import non_utf8_name

    photos = tmp_path / "photos"
    photos.mkdir()
    non_utf8_name(photos)
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(photos / "ok.png")
    assert predict("--model", trained_workdir, photos, "--out", tmp_path / "out") == 1
    error = capsys.readouterr().err
    assert "caf\\xe9.jpg: has a file name that is not valid UTF-8" in error and "Traceback" not in error
    assert sorted(os.listdir(tmp_path / "out")) == ["ok.png"]
