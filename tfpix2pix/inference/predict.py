"""`tfpix2pix predict`: input-only images of any size -> generated PNGs of the same size."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import tensorflow as tf

from tfpix2pix import files
from tfpix2pix.data import images, pipeline, validate
from tfpix2pix.errors import UsageError
from tfpix2pix.inference import memory, translation


def expand_inputs(patterns: list[str]) -> tuple[list[str], list[str]]:
    """Files, folders (their images) and globs -> (image paths in order, problems)."""
    paths, problems = [], []
    for pattern in patterns:
        files.check(pattern, "input")
        if files.isdir(pattern):
            found, _ = validate.list_split(pattern)
        elif any(char in pattern for char in "*?["):
            found = files.glob(pattern)
            if not found:
                problems.append(f"{pattern}: no file matches")
        elif files.lexists(pattern):
            found = [pattern]
        else:
            problems.append(f"{pattern}: no such file or folder")
            found = []
        paths.extend(path for path in found if path not in paths)
    return paths, problems


def output_path(out_dir: str, input_path: str) -> str:
    """Where the output of `input_path` goes: `<out_dir>/<input name>.png`."""
    return os.path.join(out_dir, os.path.splitext(os.path.basename(input_path))[0] + ".png")


def check_outputs(paths: list[str], out_dir: str, *, overwrite: bool) -> None:
    """Refuses, before anything is written, outputs that would replace an input of this call, and
    (without `overwrite`) outputs that would replace existing files.

    An --out inside or equal to an input folder is fine as long as no output has an input's path:
    outputs are named `<input name>.png`, so `photos/a.jpg` -> `photos/a.png` is allowed, while
    `photos/a.png` -> `photos/a.png` is not.
    """
    inputs = {files.realpath(path) for path in paths}
    clashes = [path for path in paths if files.realpath(output_path(out_dir, path)) in inputs]
    if clashes:
        shown = ", ".join(clashes[:3]) + (f" and {len(clashes) - 3} more" if len(clashes) > 3 else "")
        raise UsageError(f"--out {out_dir} would write over input images of this call ({shown}: outputs are named "
                         "<input name>.png); nothing was written: choose an --out that holds none of the inputs")
    existing = [output_path(out_dir, path) for path in paths if files.lexists(output_path(out_dir, path))]
    if existing and not overwrite:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise UsageError(f"--out {out_dir} already holds {len(existing)} of the outputs ({shown}); nothing was "
                         "written: pass --overwrite to replace them, or choose another --out")


def load_image(path: str, *, min_side: int, max_side: int) -> tuple[np.ndarray | None, str | None]:
    """(uint8 RGB pixels, None), or (None, why not): the file is checked before it is decoded."""
    reason = validate.check_image(path, paired=False, min_size=min_side, max_side=max_side)
    if reason is not None:
        return None, reason
    return pipeline.decode(tf.io.read_file(path)).numpy(), None


def batch_that_fits(runner, height: int, width: int, batch_size: int, *, resize: bool) -> tuple[int, int, int]:
    """The largest batch of at most `batch_size` height x width images whose estimated peak memory
    fits in what is available now.

    Returns:
        (images, estimated bytes of one image, available bytes): 0 images when one alone does not fit.
    """
    available = memory.available_bytes()

    def needed(count: int) -> int:
        return memory.estimate_peak_bytes(
            runner.memory_bytes_per_pixel, height, width, count, multiple=runner.multiple,
            model_size=(runner.image_size, runner.image_size) if resize else None, images_per_call=runner.images_per_call,
        )

    count = batch_size
    while count > 0 and needed(count) > available:
        count -= 1
    return count, needed(1), available


def predict(
    runner,
    inputs: list[str],
    out_dir: str,
    *,
    resize: bool = False,
    stochastic: bool = False,
    seed: int = 0,
    batch_size: int = 4,
    max_side: int = 4096,
    overwrite: bool = False,
    log=print,
) -> tuple[list[str], list[str]]:
    """Translates every input image and writes `<out_dir>/<input name>.png`.

    Without `resize`, sides that are not multiples of `runner.multiple` are reflect-padded and the
    output cropped back (any size and aspect ratio); with `resize`, images are resized to the
    training size and the output back to the input size. Images of the same size share batches.

    Before each batch its peak memory is estimated (`memory.estimate_peak_bytes`): a batch that
    would not fit in the available memory is made smaller, down to one image, and images too big
    to translate alone are skipped with a problem naming the estimate.

    No output replaces an input of the call; existing outputs are replaced only with `overwrite`.

    Returns:
        (written paths, problems): problems name each skipped input and why.
    """
    paths, problems = expand_inputs(inputs)
    if not paths and not problems:
        raise UsageError("no input images given")
    # Reflect padding grows any side from minimum_side up to the model's multiple (§ any-size inference).
    min_side = 1 if resize else translation.minimum_side(runner.multiple)
    by_size: dict[tuple[int, int], list[tuple[str, np.ndarray]]] = defaultdict(list)
    names: dict[str, str] = {}
    for path in paths:
        name = os.path.basename(output_path(out_dir, path))
        if name in names:
            problems.append(f"{path}: same output name {name} as {names[name]} (skipped)")
            continue
        pixels, reason = load_image(path, min_side=min_side, max_side=max_side)
        if reason is not None:
            if "smaller than" in reason:
                reason += f" (the model pads sides of at least {min_side} px to a multiple of {runner.multiple}; " \
                          "or use --resize)"
            problems.append(f"{validate.display(path)}: {reason}")
            continue
        names[name] = path
        by_size[pixels.shape[:2]].append((path, pixels))
    check_outputs(list(names.values()), out_dir, overwrite=overwrite)  # before anything is written
    written = []
    for (height, width), group in by_size.items():
        start = 0
        while start < len(group):
            count, needed, available = batch_that_fits(runner, height, width, min(batch_size, len(group) - start),
                                                        resize=resize)
            if count == 0:  # Every image of this size needs as much: skip them all, each by name.
                advice = "lower --max-side to refuse such images up front" + ("" if resize else ", or use --resize")
                problems.extend(f"{validate.display(path)}: {width}x{height} needs about {memory.readable_size(needed)} to translate, "
                                f"{memory.readable_size(available)} are available ({advice})" for path, _ in group[start:])
                break
            if count < min(batch_size, len(group) - start):
                log(f"{width}x{height} images: {memory.readable_size(available)} available, translating {count} at a time")
            chunk = group[start : start + count]
            start += count
            batch = pipeline.to_float(np.stack([pixels for _, pixels in chunk]))
            if resize:
                batch = tf.image.resize(batch, [runner.image_size, runner.image_size], method="bicubic")
            generated = runner.run(batch, stochastic=stochastic, seed=seed)
            if resize:
                generated = tf.image.resize(generated, [height, width], method="bicubic")
            for (path, _), picture in zip(chunk, pipeline.to_uint8(generated).numpy()):
                target = output_path(out_dir, path)
                images.save_png(target, picture)
                written.append(target)
                log(f"{path} -> {target}")
    return written, problems
