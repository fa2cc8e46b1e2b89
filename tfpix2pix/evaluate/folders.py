"""Metrics between a folder of generated images and a folder of targets, matched by file stem."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from PIL import Image

from tfpix2pix import files
from tfpix2pix.errors import UsageError
from tfpix2pix.evaluate import metrics
from tfpix2pix.evaluate.fid import frechet_inception_distance

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

@dataclass(frozen=True)
class FolderEvaluation:
    """The result of `evaluate_folders`.

    Attributes:
        per_image: one dict per pair: name, file names and metric values.
        mean: metric name -> mean over the pairs (and `count`).
        fid: the Frechet Inception Distance, or None when it was not computed.
        fid_note: why FID is None, else None.
        problems: unmatched, ambiguous and unreadable files, which were skipped.
        ignored: files without an image suffix.
    """

    per_image: tuple[dict, ...]
    mean: dict
    fid: float | None
    fid_note: str | None
    problems: tuple[str, ...]
    ignored: tuple[str, ...]

    def extra(self) -> dict:
        """The fields a metrics JSON holds besides `per_image` and `mean`."""
        return {"fid": self.fid, "fid_note": self.fid_note, "problems": list(self.problems),
                "ignored": list(self.ignored)}


def check_output_file(path: str, flag: str, folders: tuple[str, ...], *, overwrite: bool) -> None:
    """Refuses, before anything is read or written, an output file that is one of the images compared
    (an image in `folders`) and, without `overwrite`, one that exists."""
    if os.path.dirname(files.realpath(path)) in {files.realpath(folder) for folder in folders} and \
            os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES:
        raise UsageError(f"{flag} {path} is an image of the folders compared; choose another file")
    if files.lexists(path) and not overwrite:
        raise UsageError(f"{flag} {path} exists; nothing was written: pass --overwrite to replace it")


def read_rgb(path: str) -> np.ndarray:
    """Reads an image file as a uint8 RGB array (height, width, 3); alpha is dropped.

    Raises:
        UsageError: naming the file when it cannot be read as an image.
    """
    try:
        with files.open_file(path, "rb") as file, Image.open(file) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError, tf.errors.OpError) as error:
        raise UsageError(f"cannot read image {path}: {error}") from error


def _images_by_stem(directory: str, problems: list[str], ignored: list[str]) -> dict[str, str]:
    if not files.isdir(directory):
        raise UsageError(f"not a directory: {directory}")
    by_stem: dict[str, list[str]] = {}
    for name in sorted(files.listdir(directory)):
        path = os.path.join(directory, name)
        stem, suffix = os.path.splitext(name)
        if name.startswith(".") or not files.isfile(path):
            continue
        if suffix.lower() not in IMAGE_SUFFIXES:
            ignored.append(path)
            continue
        by_stem.setdefault(stem, []).append(name)
    for stem, names in by_stem.items():
        if len(names) > 1:
            problems.append(f"ambiguous name {stem!r} in {directory}: {', '.join(names)} (skipped)")
    return {stem: os.path.join(directory, names[0]) for stem, names in by_stem.items() if len(names) == 1}


def evaluate_folders(
    generated_dir: str,
    target_dir: str,
    *,
    palette: metrics.Palette | None = None,
    fid_weights: str | None = None,
) -> FolderEvaluation:
    """Metrics between two folders of images matched by file stem (`x.png` vs `x.jpg`).

    Nothing is resized: images of a matched pair must have the same size.

    Args:
        generated_dir: folder of generated images.
        target_dir: folder of target images.
        palette: RGB triples of the label classes; when given, label metrics are added.
        fid_weights: local InceptionV3 no-top weights file; when None, FID is reported as skipped.

    Returns:
        Each per-image entry has `name`, `generated`, `target` and the metrics. `mean` holds
        `metrics.summarize(per_image)`, except that the label metrics in it come from the confusion
        matrix summed over the set (the paper's numbers). `problems` lists unmatched, ambiguous and
        unreadable files, which were skipped; `ignored` lists files without an image suffix.

    Raises:
        UsageError: if a folder is missing, no pair could be evaluated (the message lists the
            problems), or a matched pair differs in size.
    """
    files.check(generated_dir, "--generated")
    files.check(target_dir, "--target")
    problems: list[str] = []
    ignored: list[str] = []
    generated_paths = _images_by_stem(generated_dir, problems, ignored)
    target_paths = _images_by_stem(target_dir, problems, ignored)
    for stem in sorted(generated_paths.keys() - target_paths.keys()):
        problems.append(f"no target for {generated_paths[stem]} (no {stem}.* in {target_dir})")
    for stem in sorted(target_paths.keys() - generated_paths.keys()):
        problems.append(f"no generated image for {target_paths[stem]} (no {stem}.* in {generated_dir})")

    dataset_confusion = metrics.ConfusionMatrix(len(palette)) if palette is not None else None
    per_image: list[dict] = []
    kept_generated: list[np.ndarray] = []
    kept_targets: list[np.ndarray] = []
    for stem in sorted(generated_paths.keys() & target_paths.keys()):
        generated_path, target_path = generated_paths[stem], target_paths[stem]
        try:
            generated, target = read_rgb(generated_path), read_rgb(target_path)
        except UsageError as error:
            problems.append(f"{error} (skipped)")
            continue
        if generated.shape != target.shape:
            raise UsageError(
                f"size mismatch: {generated_path} is {generated.shape[1]}x{generated.shape[0]}, "
                f"{target_path} is {target.shape[1]}x{target.shape[0]} (nothing is resized)"
            )
        try:
            entry = {"name": stem, "generated": os.path.basename(generated_path),
                     "target": os.path.basename(target_path), **metrics.image_metrics(generated, target)}
        except ValueError as error:
            raise UsageError(f"{generated_path} vs {target_path}: {error}") from error
        if palette is not None:
            target_labels = metrics.nearest_palette_labels(target, palette)
            generated_labels = metrics.nearest_palette_labels(generated, palette)
            image_confusion = metrics.ConfusionMatrix(len(palette))
            image_confusion.update(target_labels, generated_labels)
            dataset_confusion.update(target_labels, generated_labels)
            entry.update(image_confusion.result())
        per_image.append(entry)
        if fid_weights is not None:
            kept_generated.append(generated)
            kept_targets.append(target)

    if not per_image:
        listed = "; ".join(problems) or "both folders hold no images"
        raise UsageError(f"no image pairs to evaluate in {generated_dir} and {target_dir}: {listed}")
    mean = metrics.summarize(per_image)
    if dataset_confusion is not None:
        mean.update(dataset_confusion.result())
    fid = frechet_inception_distance(kept_generated, kept_targets, fid_weights)
    return FolderEvaluation(per_image=tuple(per_image), mean=mean, fid=fid["fid"], fid_note=fid["fid_note"],
                            problems=tuple(problems), ignored=tuple(ignored))
