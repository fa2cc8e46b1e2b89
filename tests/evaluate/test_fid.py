"""Fréchet distance against closed forms; FID reported, not fatal, without weights."""

import numpy as np
import pytest

from tfpix2pix.errors import UsageError
from tfpix2pix.evaluate import fid


def features(seed=0, samples=200, dimensions=4):
    return np.random.default_rng(seed).normal(size=(samples, dimensions)) + 3.0


def test_identical_feature_sets_are_at_distance_zero():
    assert fid.frechet_distance(features(), features()) == pytest.approx(0.0, abs=1e-9)


def test_shifted_features_are_at_the_squared_shift():
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    # Same covariance, so only |shift|² = 1 + 4 + 0.25 remains.
    assert fid.frechet_distance(features(), features() + shift) == pytest.approx(5.25)


def test_doubled_features_match_the_closed_form():
    base = features()
    covariance = np.cov(base, rowvar=False)
    mean = base.mean(axis=0)
    # b = 2a: |2μ - μ|² + tr(C) + tr(4C) - 2 tr((4C²)^½) = |μ|² + tr(C).
    expected = mean @ mean + np.trace(covariance)
    assert fid.frechet_distance(base, 2 * base) == pytest.approx(expected)


def test_frechet_distance_rejects_mismatched_or_too_few_features():
    with pytest.raises(ValueError, match=r"\(200, 4\) and \(200, 3\)"):
        fid.frechet_distance(features(), features(dimensions=3))
    with pytest.raises(ValueError, match="at least 2 samples per set, got 1 and 200"):
        fid.frechet_distance(features(samples=1), features())


def test_missing_weights_are_reported_not_fatal():
    images = [np.zeros((16, 16, 3), np.uint8)] * 2
    result = fid.frechet_inception_distance(images, images, None)
    assert result == {"fid": None, "fid_note": fid.NO_WEIGHTS_NOTE}


def test_a_weights_path_that_does_not_exist_is_a_usage_error(tmp_path):
    images = [np.zeros((16, 16, 3), np.uint8)] * 2
    with pytest.raises(UsageError, match="Inception weights file not found: .*nope.h5"):
        fid.frechet_inception_distance(images, images, str(tmp_path / "nope.h5"))


def test_too_few_images_are_reported_not_fatal(tmp_path):
    weights = tmp_path / "inception.weights.h5"
    weights.write_bytes(b"never opened")
    image = np.zeros((16, 16, 3), np.uint8)
    result = fid.frechet_inception_distance([image], [image, image], str(weights))
    assert result["fid"] is None
    assert "at least 2 images per set, got 1 generated and 2 target" in result["fid_note"]


@pytest.mark.slow
def test_fid_runs_from_a_local_weights_file(tmp_path):
    import keras

    # Random weights saved locally stand in for the real file: nothing is downloaded.
    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(
        weights=None, include_top=False, pooling="avg", input_shape=(299, 299, 3)
    )
    weights = str(tmp_path / "inception.weights.h5")
    model.save_weights(weights)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 48, 3)).astype(np.uint8) for _ in range(3)]
    same = fid.frechet_inception_distance(images, images, weights)
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert "below 2048 per set" in same["fid_note"]
    different = fid.frechet_inception_distance(images, [255 - image for image in images], weights)
    assert different["fid"] > 0.0
