"""Checks training images before training starts, so bad files stop the run with a full list.

The pipeline decodes every file with ``tf.io.decode_image(contents, channels=3,
expand_animations=False)``, and `check_image` runs exactly that call as its last step: Pillow
accepts some corrupt files that TensorFlow refuses (a JPEG without its end marker or with a bogus
marker inside a scan, a PNG with a damaged IEND chunk), so only TensorFlow's own decoder can
promise that training will not stop on a file that passed. Pillow reads the header first, so a
huge image is refused before anything is decoded.

Measured with TensorFlow 2.21 and Pillow 13 (tests/test_validate.py), that call gives the same
RGB as Pillow's convert("RGB") for grayscale, gray+alpha, RGBA, palette (with or without
transparency) and 1-bit PNGs, exactly, and for grayscale, CMYK and progressive JPEGs up to its fast
IDCT (about one level on average). For 16-bit PNGs it keeps the high byte (``value >> 8``), where
Pillow's convert("RGB") clips 16-bit grayscale to 255. So a file that passes needs no conversion. Truncated JPEG and PNG data make TensorFlow raise, never return a gray image.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import tensorflow as tf
from PIL import Image, JpegImagePlugin, PngImagePlugin

from tfpix2pix import files
from tfpix2pix.errors import UsageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
MAX_LISTED_NAMES = 20

_JPEG_SIGNATURE = b"\xff\xd8\xff"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow modes of the JPEG and PNG files whose colours tf.io.decode_image(channels=3) was checked
# to get right ("I" and "I;16" are 16-bit grayscale, "1" is 1-bit). Others are refused.
_EXIF_ORIENTATION = 0x0112
_DECODABLE_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16", "CMYK"})


@dataclass(frozen=True)
class BadFile:
    """A file that cannot be trained on, and why."""

    path: str
    reason: str


def _natural_key(name: str) -> list:
    # re.split with a capturing group alternates text and digits, so equal positions hold equal
    # types and the lists compare without mixing str and int: "2.jpg" sorts before "10.jpg".
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def display(path: str) -> str:
    """`path` as it can be printed: bytes of a name that is not valid UTF-8 shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _list_names(names: Sequence[str], limit: int = MAX_LISTED_NAMES) -> str:
    shown = ", ".join(map(display, names[:limit]))
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def list_split(folder: str) -> tuple[list[str], list[str]]:
    """Lists a folder's image files and its other entries, in natural order.

    An entry is an image if its name ends with one of `IMAGE_EXTENSIONS` (any case), even when it
    turns out to be a directory or a broken link: `check_image` then says what is wrong with it.
    Hidden entries (".DS_Store", macOS "._name.jpg" metadata) count as other entries.

    Args:
        folder: The folder to list.

    Returns:
        `(images, others)`: paths joined onto `folder`, sorted so that "2.jpg" comes before "10.jpg".

    Raises:
        UsageError: If `folder` does not exist, is not a directory, or cannot be listed.
    """
    if not files.exists(folder):
        raise UsageError(f"data folder {folder} does not exist")
    if not files.isdir(folder):
        raise UsageError(f"data folder {folder} is not a directory")
    try:
        names = sorted(files.listdir(folder), key=lambda name: (_natural_key(name), name))
    except Exception as error:  # OSError locally, TensorFlow's errors on other filesystems
        reason = error.strerror if isinstance(error, OSError) else str(error).splitlines()[0]
        raise UsageError(f"cannot list data folder {folder}: {reason}") from None
    images, others = [], []
    for name in names:
        is_image = not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)
        (images if is_image else others).append(os.path.join(folder, name))
    return images, others


def _size_problem(width: int, height: int, *, paired: bool, min_size: int, max_side: int) -> str | None:
    if width > max_side or height > max_side:
        return f"is {width}x{height}, over the {max_side}-pixel limit per side: downscale it"
    if paired:
        if width % 2:
            return f"is {width}x{height}: an odd width cannot be split into equal A|B halves"
        if width // 2 < min_size or height < min_size:
            return f"is {width}x{height}: each A|B half is {width // 2}x{height}, smaller than {min_size}x{min_size}"
    elif width < min_size or height < min_size:
        return f"is {width}x{height}, smaller than {min_size}x{min_size}"
    return None


def _other_format(file) -> str | None:
    file.seek(0)
    try:
        with Image.open(file) as image:
            return image.format
    except Exception:  # Anything Pillow cannot identify is simply "not an image" here.
        return None


def _decode_problem(contents: bytes, *, width: int, height: int) -> str | None:
    try:
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    except tf.errors.OpError as error:
        # Keep the decoder's words, without TensorFlow's "{{function_node ...}}" and "[Op:...]".
        message = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", error.message).strip()
        return f"cannot be decoded, it is truncated or corrupt ({message})"
    if tuple(image.shape) != (height, width, 3):
        return f"decodes to shape {tuple(image.shape)}, not the {width}x{height} its header declares"
    return None


def check_image(path: str, *, paired: bool, min_size: int, max_side: int = 8192) -> str | None:
    """Checks that one file is a JPEG or PNG that the training pipeline decodes correctly.

    Reads the header with Pillow and refuses an image larger than `max_side` before decoding it;
    then decodes the file once with the training pipeline's own TensorFlow call, so truncated and
    corrupt files are found here, not in the middle of training.

    Args:
        path: The file.
        paired: Whether the file holds an A|B pair side by side (its width must be even).
        min_size: Smallest allowed side of the image (of each half when `paired`).
        max_side: Largest allowed side of the whole image, checked from the header.

    Returns:
        None if the file is good, else the reason it is not (to follow the file's name).
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # os.listdir keeps undecodable bytes as surrogates; TensorFlow cannot open those.
        return "has a file name that is not valid UTF-8, which TensorFlow cannot open: rename it (e.g. with convmv)"
    if not files.exists(path):
        if not files.is_remote(path) and os.path.islink(path):
            return f"is a broken symbolic link (to {os.readlink(path)})"
        return "does not exist"
    if not files.isfile(path):
        return "is a directory, not a file" if files.isdir(path) else "is not a regular file"
    try:
        with files.open_file(path, "rb") as file:
            signature = file.read(len(_PNG_SIGNATURE))
            if not signature:
                return "is empty (0 bytes)"
            if signature.startswith(_JPEG_SIGNATURE):
                image_class = JpegImagePlugin.JpegImageFile
            elif signature == _PNG_SIGNATURE:
                image_class = PngImagePlugin.PngImageFile
            else:
                other = _other_format(file)
                if other:
                    return f"is a {other} image, not JPEG or PNG: convert it to PNG"
                return f"is not an image (it starts with {signature!r})"
            file.seek(0)
            # The format's own class reads only the header, without Image.open's decompression
            # bomb error, so the size check below can name the declared size.
            try:
                header = image_class(file)
            except Exception as error:  # Pillow raises several types for a malformed header.
                return f"has a corrupt {image_class.format} header ({error})"
            problem = _size_problem(*header.size, paired=paired, min_size=min_size, max_side=max_side)
            if problem:
                return problem
            if header.mode not in _DECODABLE_MODES:
                return f"has image mode {header.mode}, which training cannot read: convert it to RGB"
            file.seek(0)
            contents = file.read()
    except PermissionError:
        return "cannot be read: permission denied (fix with chmod a+r)"
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    except tf.errors.OpError as error:  # a file on another filesystem (gs://, ...)
        return f"cannot be read: {error.message.splitlines()[0]}"
    return _decode_problem(contents, width=header.size[0], height=header.size[1])


def _check_all(paths: Sequence[str], *, paired: bool, min_size: int, max_side: int) -> list[str | None]:
    # TensorFlow releases the GIL while decoding, so threads use every core.
    workers = min(8, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
        return list(
            executor.map(lambda path: check_image(path, paired=paired, min_size=min_size, max_side=max_side), paths)
        )


def _images_or_raise(folder: str, log: Callable[[str], None]) -> list[str]:
    images, others = list_split(folder)
    names = [os.path.basename(path) for path in others]
    if not images:
        found = f" (it holds only: {_list_names(names)})" if names else " (it is empty)"
        raise UsageError(f"data folder {folder} holds no {', '.join(IMAGE_EXTENSIONS)} images{found}")
    if names:
        log(f"note: ignoring {len(names)} non-image entries in {folder}: {_list_names(names)}")
    return images


def scan_pairs(
    folder: str, *, min_size: int, max_side: int = 8192, log: Callable[[str], None] = print
) -> tuple[list[str], list[BadFile]]:
    """Checks every A|B side-by-side image in a split folder.

    Args:
        folder: The split folder, e.g. `DIR/train`.
        min_size: Smallest allowed side of each half.
        max_side: Largest allowed side of the whole image.
        log: Receives a note naming ignored non-image entries.

    Returns:
        `(good, bad)`: good paths in natural order, and the bad files with reasons.

    Raises:
        UsageError: If the folder is missing or holds no image files.
    """
    images = _images_or_raise(folder, log)
    reasons = _check_all(images, paired=True, min_size=min_size, max_side=max_side)
    good = [path for path, reason in zip(images, reasons) if reason is None]
    bad = [BadFile(path, reason) for path, reason in zip(images, reasons) if reason is not None]
    return good, bad


def _by_stem(folder: str, images: list[str]) -> dict[str, str]:
    by_stem: dict[str, list[str]] = {}
    for path in images:
        by_stem.setdefault(os.path.splitext(os.path.basename(path))[0], []).append(path)
    clashes = [" and ".join(os.path.basename(path) for path in paths) for paths in by_stem.values() if len(paths) > 1]
    if clashes:
        raise UsageError(
            f"folder {folder} has files that differ only by extension, so their pair is ambiguous: "
            f"{_list_names(clashes)}"
        )
    return {stem: paths[0] for stem, paths in by_stem.items()}


def match_folders(
    a_dir: str, b_dir: str, *, min_size: int, max_side: int = 8192, log: Callable[[str], None] = print
) -> tuple[list[tuple[str, str]], list[BadFile]]:
    """Pairs the images of an A folder and a B folder by file name without extension, and checks them.

    "12.jpg" in `a_dir` pairs with "12.png" in `b_dir`. When one file of a pair is bad, the pair
    is left out and the bad file is reported.

    Args:
        a_dir: Folder of A images.
        b_dir: Folder of B images.
        min_size: Smallest allowed side of each image.
        max_side: Largest allowed side of each image.
        log: Receives a note naming ignored non-image entries.

    Returns:
        `(pairs, bad)`: `(a_path, b_path)` pairs in natural order, and the bad files with reasons.

    Raises:
        UsageError: If a folder is missing or empty, a name has no partner (the message lists the
            names), or two files in one folder differ only by extension.
    """
    a_by_stem = _by_stem(a_dir, _images_or_raise(a_dir, log))
    b_by_stem = _by_stem(b_dir, _images_or_raise(b_dir, log))
    only_a = sorted(a_by_stem.keys() - b_by_stem.keys(), key=_natural_key)
    only_b = sorted(b_by_stem.keys() - a_by_stem.keys(), key=_natural_key)
    if only_a or only_b:
        parts = [
            f"{len(names)} only in {folder}: {_list_names([os.path.basename(by_stem[stem]) for stem in names])}"
            for names, folder, by_stem in ((only_a, a_dir, a_by_stem), (only_b, b_dir, b_by_stem))
            if names
        ]
        raise UsageError(
            f"A folder {a_dir} and B folder {b_dir} must hold the same file names (paired by name "
            f"without extension); unmatched: {'; '.join(parts)}"
        )
    stems = sorted(a_by_stem, key=_natural_key)
    candidates = [(a_by_stem[stem], b_by_stem[stem]) for stem in stems]
    paths = [path for pair in candidates for path in pair]
    reasons = _check_all(paths, paired=False, min_size=min_size, max_side=max_side)
    pairs, bad = [], []
    for index, pair in enumerate(candidates):
        pair_reasons = reasons[2 * index : 2 * index + 2]
        if pair_reasons == [None, None]:
            pairs.append(pair)
        bad.extend(BadFile(path, reason) for path, reason in zip(pair, pair_reasons) if reason is not None)
    _note_pair_oddities(pairs, log)
    return pairs, bad


def _note_pair_oddities(pairs: list[tuple[str, str]], log: Callable[[str], None]) -> None:
    """Says once what training will do with pairs of unequal sizes and with EXIF-rotated photos."""
    unequal, rotated = [], []
    for a_path, b_path in pairs:
        sizes = []
        for path in (a_path, b_path):
            with files.open_file(path, "rb") as file, Image.open(file) as image:  # reads the header only
                sizes.append(image.size)
                if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                    rotated.append(path)
        if sizes[0] != sizes[1]:
            unequal.append(f"{display(os.path.basename(a_path))} ({sizes[0][0]}x{sizes[0][1]} and "
                           f"{sizes[1][0]}x{sizes[1][1]})")
    if unequal:
        log(f"note: {len(unequal)} pair(s) have A and B of different sizes; both halves are resized to the "
            f"same square, so the aspect of one changes: {_list_names(unequal)}")
    if rotated:
        log(f"note: {len(rotated)} image(s) carry an EXIF rotation, which training ignores (pixels are used as "
            f"stored): rotate them (e.g. exiftran -ai) if they look sideways: {_list_names(rotated)}")


def enforce(
    bad: Sequence[BadFile],
    *,
    skip_bad: bool,
    split_name: str,
    good_count: int,
    log: Callable[[str], None] = print,
) -> None:
    """Applies the bad-file policy: stop with the full list, or with `skip_bad` log it and go on.

    Args:
        bad: The bad files found by `scan_pairs` or `match_folders`.
        skip_bad: Train on the good files and log the skipped ones instead of stopping.
        split_name: How to name the split in messages: its folder (or folders) as the user gave it.
        good_count: How many good examples (files or pairs) are left.
        log: Receives the list of skipped files when `skip_bad` is set.

    Raises:
        UsageError: If there are bad files and not `skip_bad` (the message lists each file and its
            reason, one per line), or if no good example is left, whatever `skip_bad` says.
    """
    lines = "".join(f"\n  {display(bad_file.path)}: {bad_file.reason}" for bad_file in bad)
    if good_count == 0:
        detail = f": all {len(bad)} image files are bad:{lines}" if bad else ""
        raise UsageError(f"{split_name} has no usable images{detail}")
    if not bad:
        return
    if not skip_bad:
        raise UsageError(
            f"{split_name} has {len(bad)} bad image file(s); fix or remove them, or pass --skip-bad "
            f"to train on the other {good_count}:{lines}"
        )
    log(f"--skip-bad: skipping {len(bad)} bad image file(s) in {split_name}, using the other {good_count}:{lines}")
