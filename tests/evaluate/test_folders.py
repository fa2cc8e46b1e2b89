"""Folder evaluation: pairs matched by file stem, every skipped file named, set-level label scores."""

import math

import numpy as np
import pytest
from PIL import Image

from tests.evaluate.test_metrics import PALETTE, PERTURBED, random_image
from tfpix2pix.errors import UsageError
from tfpix2pix.evaluate.folders import evaluate_folders


@pytest.fixture
def two_folders(tmp_path):
    """generated/: a.png (target + 10), b.png (not an image), c.png (no target), notes.txt.
    target/: a.bmp (same stem, other format), b.png, d.png (no generated image)."""
    generated_dir, target_dir = tmp_path / "generated", tmp_path / "target"
    generated_dir.mkdir()
    target_dir.mkdir()
    target = random_image(seed=1)
    Image.fromarray(target + 10).save(generated_dir / "a.png")
    Image.fromarray(target).save(target_dir / "a.bmp")
    (generated_dir / "b.png").write_bytes(b"this is not a PNG")
    Image.fromarray(target).save(target_dir / "b.png")
    Image.fromarray(target).save(generated_dir / "c.png")
    Image.fromarray(target).save(target_dir / "d.png")
    (generated_dir / "notes.txt").write_text("not an image")
    return generated_dir, target_dir


def test_evaluate_folders_matches_by_stem_and_reports_every_skipped_file(two_folders):
    generated_dir, target_dir = two_folders
    result = evaluate_folders(str(generated_dir), str(target_dir))
    [entry] = result.per_image
    assert (entry["name"], entry["generated"], entry["target"]) == ("a", "a.png", "a.bmp")
    assert entry["l1"] == pytest.approx(10.0)
    assert result.mean["psnr"] == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-4)
    assert result.mean["count"] == 1
    problems = "\n".join(result.problems)
    assert len(result.problems) == 3
    assert f"cannot read image {generated_dir / 'b.png'}" in problems
    assert f"no target for {generated_dir / 'c.png'}" in problems
    assert f"no generated image for {target_dir / 'd.png'}" in problems
    assert result.ignored == (str(generated_dir / "notes.txt"),)
    assert result.fid is None
    assert "no InceptionV3 weights file given" in result.fid_note


def test_evaluate_folders_with_palette_reports_set_level_label_metrics(tmp_path):
    generated_dir, target_dir = tmp_path / "generated", tmp_path / "target"
    generated_dir.mkdir()
    target_dir.mkdir()
    target = np.zeros((16, 16), dtype=int)
    target[8:] = 1
    generated = target.copy()
    generated[15] = 2  # one row of class 1 predicted as class 2
    Image.fromarray(PERTURBED[generated]).save(generated_dir / "x.png")
    Image.fromarray(PERTURBED[target]).save(target_dir / "x.png")
    result = evaluate_folders(str(generated_dir), str(target_dir), palette=PALETTE)
    assert result.mean["pixel_accuracy"] == pytest.approx(240 / 256)
    assert result.mean["class_accuracy"] == pytest.approx((1 + 112 / 128) / 2)
    assert result.mean["class_iou"] == pytest.approx((1 + 112 / 128) / 2)
    assert result.per_image[0]["pixel_accuracy"] == pytest.approx(240 / 256)


def test_evaluate_folders_size_mismatch_names_both_files(tmp_path):
    generated_dir, target_dir = tmp_path / "generated", tmp_path / "target"
    generated_dir.mkdir()
    target_dir.mkdir()
    Image.fromarray(random_image(size=16)).save(generated_dir / "x.png")
    Image.fromarray(random_image(size=20)).save(target_dir / "x.jpg")
    with pytest.raises(UsageError, match=r"x\.png is 16x16.*x\.jpg is 20x20"):
        evaluate_folders(str(generated_dir), str(target_dir))


def test_evaluate_folders_without_any_pair_lists_the_problems(tmp_path):
    generated_dir, target_dir = tmp_path / "generated", tmp_path / "target"
    generated_dir.mkdir()
    target_dir.mkdir()
    Image.fromarray(random_image()).save(generated_dir / "only_here.png")
    with pytest.raises(UsageError, match=r"no image pairs to evaluate.*only_here\.png"):
        evaluate_folders(str(generated_dir), str(target_dir))
    with pytest.raises(UsageError, match="not a directory: .*missing"):
        evaluate_folders(str(generated_dir), str(tmp_path / "missing"))
