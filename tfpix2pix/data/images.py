"""Picture files: sample grids (input | generated | target) and PNG writing."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tfpix2pix import files


def grid(rows: list[list[np.ndarray]], *, gap: int = 2) -> np.ndarray:
    """Tiles rows of equally sized uint8 [H, W, 3] images into one uint8 image with white gaps."""
    height, width = rows[0][0].shape[:2]
    columns = max(len(row) for row in rows)
    canvas = np.full(
        (len(rows) * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, dtype=np.uint8
    )
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = r * (height + gap), c * (width + gap)
            canvas[top : top + height, left : left + width] = image
    return canvas


def save_png(path: str, image: np.ndarray) -> None:
    """Writes a uint8 image as PNG; readers see the old file or the new one (`files.write_bytes`)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    files.write_bytes(files.abspath(path), buffer.getvalue())
