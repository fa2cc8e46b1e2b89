"""Fréchet Inception Distance from a local InceptionV3 weights file; nothing is downloaded.

FID is optional: without a weights file the result says why it is missing instead of failing.
The weights are the Keras "no top" InceptionV3 file
(`inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`), or any file that
`keras.applications.InceptionV3(weights=path, include_top=False, pooling="avg")` loads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfpix2pix import files
from tfpix2pix.errors import UsageError

INCEPTION_SIZE = 299
FEATURE_BATCH_SIZE = 16
# With fewer images than feature dimensions (2048) the covariance is singular and FID is biased
# upwards; the numbers are only comparable between runs on the same number of images.
FEATURE_DIMENSIONS = 2048
NO_WEIGHTS_NOTE = (
    "FID not computed: no InceptionV3 weights file given (pass a local "
    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5; nothing is downloaded)"
)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    d² = |μa − μb|² + tr(Ca) + tr(Cb) − 2 tr((Ca Cb)^½). The last trace is computed as the sum of
    square roots of the eigenvalues of Ca^½ Cb Ca^½, which is symmetric positive semi-definite,
    so no general matrix square root (scipy) is needed.
    """
    features_a = np.asarray(features_a, dtype=np.float64)
    features_b = np.asarray(features_b, dtype=np.float64)
    if features_a.ndim != 2 or features_b.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"features must be (samples, dimensions) with equal dimensions, "
            f"got {features_a.shape} and {features_b.shape}"
        )
    if min(len(features_a), len(features_b)) < 2:
        raise ValueError(
            f"need at least 2 samples per set, got {len(features_a)} and {len(features_b)}"
        )
    covariance_a = np.cov(features_a, rowvar=False)
    covariance_b = np.cov(features_b, rowvar=False)
    root_a = _symmetric_sqrt(covariance_a)
    product_eigenvalues = np.linalg.eigvalsh(root_a @ covariance_b @ root_a)
    trace_root_product = np.sum(np.sqrt(np.clip(product_eigenvalues, 0.0, None)))
    mean_difference = features_a.mean(axis=0) - features_b.mean(axis=0)
    distance = (
        mean_difference @ mean_difference
        + np.trace(covariance_a)
        + np.trace(covariance_b)
        - 2.0 * trace_root_product
    )
    return float(max(distance, 0.0))  # Rounding can leave -1e-12 for identical sets.


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def inception_features(images: Sequence[np.ndarray], model) -> np.ndarray:
    """Pooled InceptionV3 features (samples, 2048) of uint8 RGB images of any sizes."""
    import keras

    features = []
    for start in range(0, len(images), FEATURE_BATCH_SIZE):
        batch = tf.stack([
            tf.image.resize(tf.constant(image, tf.float32), (INCEPTION_SIZE, INCEPTION_SIZE))
            for image in images[start:start + FEATURE_BATCH_SIZE]
        ])
        batch = keras.applications.inception_v3.preprocess_input(batch)  # 0..255 -> -1..1
        features.append(np.asarray(model(batch, training=False), dtype=np.float64))
    return np.concatenate(features)


def frechet_inception_distance(
    generated_images: Sequence[np.ndarray],
    target_images: Sequence[np.ndarray],
    weights_path: str | None,
) -> dict:
    """FID between two image sets, or the reason it was not computed.

    Args:
        generated_images: uint8 RGB arrays (height, width, 3), any sizes.
        target_images: the same for the targets.
        weights_path: local InceptionV3 no-top weights; None skips FID.

    Returns:
        `{"fid": float | None, "fid_note": str | None}`: the note says why FID is missing, or that
        it was computed on fewer than 2048 images per set (biased upwards).

    Raises:
        UsageError: if `weights_path` is given but is not a file InceptionV3 can load.
    """
    if weights_path is None:
        return {"fid": None, "fid_note": NO_WEIGHTS_NOTE}
    if not files.isfile(files.check(weights_path, "--fid-weights")):
        raise UsageError(f"Inception weights file not found: {weights_path}")
    if min(len(generated_images), len(target_images)) < 2:
        return {
            "fid": None,
            "fid_note": f"FID not computed: needs at least 2 images per set, got "
            f"{len(generated_images)} generated and {len(target_images)} target",
        }
    import keras

    try:
        with tempfile.TemporaryDirectory(prefix="tfpix2pix-fid-") as scratch:
            local = weights_path
            if files.is_remote(weights_path):  # h5py reads local files only
                local = os.path.join(scratch, os.path.basename(weights_path))
                files.copy(weights_path, local)
            model = keras.applications.InceptionV3(
                weights=local,
                include_top=False,
                pooling="avg",
                input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
            )
    except (ValueError, OSError) as error:
        raise UsageError(f"cannot load InceptionV3 weights from {weights_path}: {error}") from error
    fid = frechet_distance(
        inception_features(generated_images, model), inception_features(target_images, model)
    )
    count = min(len(generated_images), len(target_images))
    note = None
    if count < FEATURE_DIMENSIONS:
        note = (
            f"computed on {len(generated_images)} generated and {len(target_images)} target "
            f"images; below {FEATURE_DIMENSIONS} per set FID is biased upwards, so compare only "
            f"runs on the same images"
        )
    return {"fid": fid, "fid_note": note}
