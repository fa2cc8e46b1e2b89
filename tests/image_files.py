"""Writes small good, odd and bad image files into a folder, for tests of data loading.

Use from any test module: ``from tests import image_files`` then
``image_files.write_kind(tmp_path, "truncated_jpeg")`` or ``fixtures.make_split(tmp_path / "train",
good=3, kinds=["zero_byte", "odd_width"])``. Every writer takes the file path.
Sizes default to a 64x32 A|B image (two 32x32 halves); tests use `min_size=16`.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 64, 32
MIN_SIZE = 16


def pixels(width: int = WIDTH, height: int = HEIGHT, channels: int = 3, *, seed: int = 0) -> np.ndarray:
    """A smooth, colourful uint8 image (smooth so JPEG round trips stay close)."""
    rows, columns = np.mgrid[0:height, 0:width]
    planes = [(columns * (3 + channel + seed) + rows * (5 - channel) + 40 * channel) % 256 for channel in range(channels)]
    return np.stack(planes, axis=-1).astype(np.uint8)


def png_bytes(array: np.ndarray, *, bit_depth: int = 8, declared_size: tuple[int, int] | None = None) -> bytes:
    """Encodes an (height, width, channels) array as PNG; Pillow cannot write 16-bit RGB.

    `declared_size` (width, height) overrides the size in the header, to fake a huge image.
    """
    height, width, channels = array.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    dtype = ">u2" if bit_depth == 16 else np.uint8
    rows = b"".join(b"\x00" + row.astype(dtype).tobytes() for row in array)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    declared_width, declared_height = declared_size or (width, height)
    header = struct.pack(">IIBBBBB", declared_width, declared_height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _save(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


def _jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


def write_good(path: Path, *, width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> Path:
    """A good RGB A|B file, JPEG or PNG by the path's extension."""
    return _save(Path(path), Image.fromarray(pixels(width, height, seed=seed)))


def _truncated(path: Path, contents: bytes) -> Path:
    path.write_bytes(contents[: len(contents) // 2])
    return path


def _huge_jpeg(path: Path) -> Path:
    contents = bytearray(_jpeg_bytes(Image.fromarray(pixels())))
    start = contents.index(b"\xff\xc0")  # Baseline frame header: length, precision, height, width.
    contents[start + 5 : start + 9] = struct.pack(">HH", 10000, 20000)
    path.write_bytes(bytes(contents))
    return path


def _unreadable(path: Path) -> Path:
    write_good(path)
    os.chmod(path, 0)
    return path


def _broken_symlink(path: Path) -> Path:
    path.symlink_to(path.parent / "missing-target.jpg")
    return path


# Files that check_image accepts and that tf.io.decode_image(channels=3) decodes to correct RGB.
ODD_KINDS = {
    "grayscale_jpeg": lambda path: _save(path, Image.fromarray(pixels()).convert("L"), quality=95),
    "grayscale_png": lambda path: _save(path, Image.fromarray(pixels()).convert("L")),
    "gray_alpha_png": lambda path: _save(path, Image.fromarray(pixels(channels=4)).convert("LA")),
    "rgba_png": lambda path: _save(path, Image.fromarray(pixels(channels=4))),
    "palette_png": lambda path: _save(path, Image.fromarray(pixels()).quantize(16)),
    "palette_transparent_png": lambda path: _save(path, Image.fromarray(pixels()).quantize(16), transparency=3),
    "one_bit_png": lambda path: _save(path, Image.fromarray(pixels()[..., 0] > 128)),
    "rgb16_png": lambda path: path.write_bytes(png_bytes(pixels().astype(np.uint16) * 256 + 200, bit_depth=16)),
    "gray16_png": lambda path: path.write_bytes(png_bytes(pixels(channels=1).astype(np.uint16) * 250, bit_depth=16)),
    "cmyk_jpeg": lambda path: _save(path, Image.fromarray(pixels()).convert("CMYK"), quality=95),
    "progressive_jpeg": lambda path: _save(path, Image.fromarray(pixels()), quality=95, progressive=True),
}

# Files that check_image refuses, with a word its reason contains.
BAD_KINDS = {
    "zero_byte": (lambda path: path.write_bytes(b""), "empty"),
    "truncated_jpeg": (lambda path: _truncated(path, _jpeg_bytes(Image.fromarray(pixels()))), "truncated"),
    "truncated_progressive_jpeg": (
        lambda path: _truncated(path, _jpeg_bytes(Image.fromarray(pixels()), progressive=True)),
        "truncated",
    ),
    "truncated_png": (lambda path: _truncated(path, png_bytes(pixels())), "truncated"),
    "png_cut_in_end_chunk": (lambda path: path.write_bytes(png_bytes(pixels())[:-2]), "truncated"),
    "text_named_jpg": (lambda path: path.write_text("hello, not an image\n"), "not an image"),
    "gif_named_png": (lambda path: _save(path, Image.fromarray(pixels()), format="GIF"), "GIF"),
    "odd_width": (lambda path: write_good(path, width=WIDTH + 1), "odd width"),
    "tiny": (lambda path: write_good(path, width=16, height=8), "smaller than"),
    "huge_png": (lambda path: path.write_bytes(png_bytes(pixels(), declared_size=(20000, 10000))), "limit"),
    "huge_jpeg": (_huge_jpeg, "limit"),
    "directory_named_jpg": (lambda path: path.mkdir(), "directory"),
    "broken_symlink": (_broken_symlink, "broken symbolic link"),
}

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg"}


def _extension(kind: str) -> str:
    return EXTENSIONS.get(kind.rsplit("_", 1)[-1], ".png" if "png" in kind else ".jpg")


def write_kind(folder: Path, kind: str, name: str | None = None) -> Path:
    """Writes one file of `kind` (a key of ODD_KINDS or BAD_KINDS, or "good", "unreadable").

    "unreadable" is chmod 000, which stops only non-root users. Returns the path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or kind + _extension(kind))
    if kind == "good":
        return write_good(path)
    if kind == "unreadable":
        return _unreadable(path)
    writer = ODD_KINDS[kind] if kind in ODD_KINDS else BAD_KINDS[kind][0]
    writer(path)
    return path


def make_split(folder: Path, *, good: int = 2, kinds: tuple[str, ...] | list[str] = ()) -> dict[str, Path]:
    """Fills a split folder with `good` good A|B files named 1.jpg, 2.jpg, ... and one file per kind.

    Returns a dict from each file's name to its path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_good(folder / f"{index}.jpg", seed=index) for index in range(1, good + 1)]
    paths += [write_kind(folder, kind) for kind in kinds]
    return {path.name: path for path in paths}
