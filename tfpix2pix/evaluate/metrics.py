"""Image quality and label-map metrics, per image and over a whole set.

Images are uint8 arrays of shape (height, width, 3) on the 0-255 scale.

- `image_metrics`: L1 (mean absolute difference, 0-255), PSNR and SSIM (`tf.image`, max value 255).
  Identical images have PSNR `inf`; `summarize` averages PSNR over the finite values and counts
  the others, and `tfpix2pix.evaluate.report.write_metrics_json` writes `inf` as the JSON string "inf".
- `label_metrics` / `ConfusionMatrix`: the paper's photo -> labels scores (Table 6): every pixel of
  the output and of the target is mapped to the nearest palette color, then per-pixel accuracy,
  per-class accuracy and class IoU. Over a set, confusion is summed first and the scores computed
  once, as in the paper; class averages cover the classes present in the targets.
- FID (`fid.py`) and whole folders compared (`folders.py`) build on these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

SSIM_FILTER_SIZE = 11  # tf.image.ssim's default Gaussian window; images must be at least this big.

Palette = Sequence[Sequence[int]]


def image_metrics(generated: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """L1, PSNR and SSIM between two images of the same shape.

    Args:
        generated: uint8 array (height, width, channels), values 0-255.
        target: array of the same shape.

    Returns:
        `{"l1": ..., "psnr": ..., "ssim": ...}`. `l1` is the mean absolute difference on the 0-255
        scale; `psnr` is in dB and is `float("inf")` for identical images.

    Raises:
        ValueError: if the shapes differ, are not (height, width, channels), or a side is smaller
            than the 11-pixel SSIM window.
    """
    generated = np.asarray(generated)
    target = np.asarray(target)
    if generated.shape != target.shape or generated.ndim != 3:
        raise ValueError(
            f"images must share one (height, width, channels) shape, "
            f"got generated {generated.shape} and target {target.shape}"
        )
    height, width = generated.shape[:2]
    if min(height, width) < SSIM_FILTER_SIZE:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_FILTER_SIZE}x{SSIM_FILTER_SIZE}, "
            f"got {height}x{width}"
        )
    psnr, ssim = _psnr_and_ssim(tf.constant(generated, dtype=tf.float32), tf.constant(target, dtype=tf.float32))
    return {
        "l1": float(np.mean(np.abs(generated.astype(np.float64) - target.astype(np.float64)))),
        "psnr": float(psnr),  # tf.image.psnr gives +inf when the mean squared error is 0
        "ssim": float(ssim),
    }


# One graph for any image size: eager SSIM took longer than the generator at 256x256 (0.19 s an image).
@tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32)] * 2)
def _psnr_and_ssim(generated, target):
    return tf.image.psnr(generated, target, max_val=255.0), tf.image.ssim(generated, target, max_val=255.0)


def _palette_array(palette: Palette) -> np.ndarray:
    colors = np.asarray(palette)
    if colors.ndim != 2 or colors.shape[0] < 1 or colors.shape[1] != 3:
        raise ValueError(f"palette must be a sequence of RGB triples, got shape {colors.shape}")
    if colors.min() < 0 or colors.max() > 255:
        raise ValueError(f"palette colors must lie in 0-255, got values {colors.min()}..{colors.max()}")
    return colors.astype(np.int32)


def nearest_palette_labels(image: np.ndarray, palette: Palette) -> np.ndarray:
    """Maps every pixel to the index of the nearest palette color (squared RGB distance).

    Generated label maps and JPEG-compressed targets are never exactly the palette colors, so
    both sides go through this mapping (Table 6: "output colors mapped to the nearest class").
    Ties go to the lower index.

    Args:
        image: array (height, width, 3).
        palette: K RGB triples, e.g. `((128, 64, 128), (244, 35, 232), ...)`.

    Returns:
        int32 array (height, width) of class indices in [0, K).
    """
    colors = _palette_array(palette)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"label image must have shape (height, width, 3), got {image.shape}")
    difference = image.astype(np.int32)[:, :, None, :] - colors[None, None, :, :]
    distance = np.einsum("hwkc,hwkc->hwk", difference, difference)  # (height, width, K)
    return np.argmin(distance, axis=-1).astype(np.int32)


class ConfusionMatrix:
    """Accumulates a K x K confusion matrix (rows: target class, columns: predicted class).

    Summing over a whole set before computing scores is how the paper reports Table 6; averaging
    per-image scores would weight small images and rare classes differently.
    """

    def __init__(self, num_classes: int):
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.counts = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, target_labels: np.ndarray, predicted_labels: np.ndarray) -> None:
        """Adds one pair of label maps of the same shape."""
        target_labels = np.asarray(target_labels)
        predicted_labels = np.asarray(predicted_labels)
        if target_labels.shape != predicted_labels.shape:
            raise ValueError(
                f"label maps differ in shape: target {target_labels.shape}, "
                f"predicted {predicted_labels.shape}"
            )
        flat = target_labels.astype(np.int64).ravel() * self.num_classes + predicted_labels.ravel()
        self.counts += np.bincount(flat, minlength=self.num_classes**2).reshape(self.counts.shape)

    def result(self) -> dict[str, float]:
        """Per-pixel accuracy, per-class accuracy and class IoU.

        The two class averages run over the classes that occur in the targets.
        """
        total = self.counts.sum()
        if total == 0:
            raise ValueError("confusion matrix is empty: no pixels were added")
        correct = np.diag(self.counts).astype(np.float64)
        target_totals = self.counts.sum(axis=1)
        predicted_totals = self.counts.sum(axis=0)
        present = target_totals > 0
        union = target_totals + predicted_totals - correct
        return {
            "pixel_accuracy": float(correct.sum() / total),
            "class_accuracy": float(np.mean(correct[present] / target_totals[present])),
            "class_iou": float(np.mean(correct[present] / union[present])),
        }


def label_metrics(generated: np.ndarray, target: np.ndarray, palette: Palette) -> dict[str, float]:
    """The paper's label-map scores for one image pair; see `ConfusionMatrix.result`."""
    confusion = ConfusionMatrix(len(palette))
    confusion.update(nearest_palette_labels(target, palette), nearest_palette_labels(generated, palette))
    return confusion.result()


def summarize(per_image: Sequence[dict]) -> dict:
    """Means of every numeric field over a list of per-image metric dicts.

    Non-numeric fields (names, paths) are skipped. Non-finite values (PSNR of identical images)
    are left out of the mean and counted in `<field>_nonfinite_count`; if no value is finite the
    mean is `inf` when all are `+inf`, else `nan`. `count` is the number of images.
    """
    summary: dict = {"count": len(per_image)}
    fields = [
        key
        for key in dict.fromkeys(key for entry in per_image for key in entry)
        if all(_is_number(entry[key]) for entry in per_image if key in entry)
    ]
    for key in fields:
        values = [float(entry[key]) for entry in per_image if key in entry]
        finite = [value for value in values if math.isfinite(value)]
        if finite:
            summary[key] = float(np.mean(finite))
        else:
            summary[key] = math.inf if all(value == math.inf for value in values) else math.nan
        if len(finite) < len(values):
            summary[f"{key}_nonfinite_count"] = len(values) - len(finite)
    return summary


class SetScores:
    """The scores of a set of (generated, target) uint8 images, as `test` and validation during training report them.

    Per image: `image_metrics`, plus `label_metrics` when a palette is given. Over the set: the
    per-image means (`summarize`) and, with a palette, the set-level label scores of the summed
    confusion (Table 6), which replace the per-image label means.
    """

    def __init__(self, palette: Palette | None = None):
        self.palette = palette
        self.confusion = ConfusionMatrix(len(palette)) if palette else None
        self.per_image: list[dict] = []

    def add(self, generated: np.ndarray, target: np.ndarray, **fields) -> dict[str, float]:
        """Scores one pair; `fields` (a name) are kept with its entry. Returns the pair's scores."""
        values = image_metrics(generated, target)
        if self.palette:
            values.update(label_metrics(generated, target, self.palette))
            self.confusion.update(nearest_palette_labels(target, self.palette),
                                  nearest_palette_labels(generated, self.palette))
        self.per_image.append({**fields, **values})
        return values

    def mean(self) -> dict:
        """`summarize` of the pairs added, with the set-level label scores."""
        mean = summarize(self.per_image)
        if self.confusion is not None:
            mean.update(self.confusion.result())
        return mean


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def format_mean(mean: dict) -> str:
    """The means as one line: `l1 12.3, psnr 20.1, ssim 0.5, ...` (4 significant digits)."""
    return ", ".join(f"{key} {value:.4g}" for key, value in mean.items() if key != "count" and isinstance(value, float))
