"""Metrics against hand-computed values: image quality and label maps."""

import math

import numpy as np
import pytest

from tfpix2pix.evaluate import metrics

PALETTE = ((0, 0, 0), (255, 0, 0), (0, 0, 255))
# Each palette color moved a little, as a generated image or a JPEG target would be.
PERTURBED = np.array([(9, 4, 12), (238, 17, 6), (13, 2, 241)], dtype=np.uint8)


def random_image(seed=0, size=16, high=246):
    return np.random.default_rng(seed).integers(0, high, (size, size, 3)).astype(np.uint8)


def test_identical_images_have_zero_l1_infinite_psnr_and_unit_ssim():
    image = random_image()
    result = metrics.image_metrics(image, image)
    assert result["l1"] == 0.0
    assert result["psnr"] == math.inf
    assert result["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_constant_offset_of_ten_gives_hand_computed_l1_and_psnr():
    target = random_image()  # values below 246, so +10 does not wrap around
    result = metrics.image_metrics(target + 10, target)
    assert result["l1"] == pytest.approx(10.0)
    # MSE = 100: PSNR = 10 log10(255² / 100) = 28.1308 dB.
    assert result["psnr"] == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-4)
    assert 0.99 < result["ssim"] < 1.0  # same structure, small luminance shift


def test_plus_minus_five_noise_gives_hand_computed_l1_and_psnr():
    target = np.full((16, 16, 3), 128, dtype=np.uint8)
    signs = np.where(np.indices((16, 16, 3)).sum(axis=0) % 2 == 0, 5, -5)
    result = metrics.image_metrics((target + signs).astype(np.uint8), target)
    assert result["l1"] == pytest.approx(5.0)
    # MSE = 25: PSNR = 10 log10(255² / 25) = 34.1514 dB.
    assert result["psnr"] == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-4)


def test_image_metrics_rejects_mismatched_shapes_and_images_smaller_than_ssim_window():
    with pytest.raises(ValueError, match=r"\(16, 16, 3\).*\(16, 17, 3\)"):
        metrics.image_metrics(random_image(), np.zeros((16, 17, 3), np.uint8))
    with pytest.raises(ValueError, match="at least 11x11, got 8x8"):
        metrics.image_metrics(random_image(size=8), random_image(size=8))


def test_nearest_palette_labels_maps_perturbed_colors_back_to_their_class():
    image = PERTURBED[np.array([[0, 1, 2], [2, 1, 0]])]
    labels = metrics.nearest_palette_labels(image, PALETTE)
    np.testing.assert_array_equal(labels, [[0, 1, 2], [2, 1, 0]])
    assert labels.dtype == np.int32


def test_nearest_palette_labels_rejects_a_palette_that_is_not_rgb_triples():
    with pytest.raises(ValueError, match=r"RGB triples, got shape \(2, 2\)"):
        metrics.nearest_palette_labels(random_image(), ((0, 0), (1, 1)))


def test_label_metrics_on_synthetic_three_class_map():
    target = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1], [2, 2, 2, 2]])
    generated = np.array([[0, 1, 0, 1], [0, 0, 1, 2], [1, 1, 1, 1], [2, 0, 2, 0]])
    # Confusion (rows target, columns predicted): [[4, 2, 0], [0, 5, 1], [2, 0, 2]].
    result = metrics.label_metrics(PERTURBED[generated], PERTURBED[target], PALETTE)
    assert result["pixel_accuracy"] == pytest.approx(11 / 16)
    assert result["class_accuracy"] == pytest.approx((4 / 6 + 5 / 6 + 2 / 4) / 3)
    # IoU = correct / (target + predicted - correct): 4/8, 5/8, 2/5.
    assert result["class_iou"] == pytest.approx((4 / 8 + 5 / 8 + 2 / 5) / 3)


def test_class_averages_skip_classes_absent_from_the_targets():
    target = np.zeros((2, 2), dtype=np.int32)
    generated = np.array([[0, 0], [0, 1]])
    result = metrics.label_metrics(PERTURBED[generated], PERTURBED[target], PALETTE)
    # Only class 0 is in the target: accuracy 3/4, IoU 3 / (4 + 3 - 3).
    assert result == pytest.approx(
        {"pixel_accuracy": 0.75, "class_accuracy": 0.75, "class_iou": 0.75}
    )


def test_confusion_matrix_sums_over_the_set_before_computing_scores():
    confusion = metrics.ConfusionMatrix(2)
    confusion.update(np.zeros((2, 2), int), np.zeros((2, 2), int))  # image 1: all class 0, right
    confusion.update(np.ones((2, 2), int), np.array([[1, 1], [1, 0]]))  # image 2: one miss
    np.testing.assert_array_equal(confusion.counts, [[4, 0], [1, 3]])
    result = confusion.result()
    assert result["pixel_accuracy"] == pytest.approx(7 / 8)
    assert result["class_accuracy"] == pytest.approx((1 + 3 / 4) / 2)
    # 0.775, where the mean of the per-image IoUs would be (1 + 0.75) / 2 = 0.875.
    assert result["class_iou"] == pytest.approx((4 / 5 + 3 / 4) / 2)


def test_summarize_averages_finite_values_and_counts_infinite_ones():
    per_image = [
        {"name": "a", "l1": 0.0, "psnr": math.inf, "ssim": 1.0},
        {"name": "b", "l1": 4.0, "psnr": 30.0, "ssim": 0.5},
        {"name": "c", "l1": 2.0, "psnr": 20.0, "ssim": 0.75},
    ]
    assert metrics.summarize(per_image) == {
        "count": 3, "l1": 2.0, "psnr": 25.0, "psnr_nonfinite_count": 1, "ssim": 0.75,
    }
    all_identical = [{"psnr": math.inf}, {"psnr": math.inf}]
    assert metrics.summarize(all_identical) == {
        "count": 2, "psnr": math.inf, "psnr_nonfinite_count": 2,
    }
