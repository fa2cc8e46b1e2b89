"""The label-map canvas of `tfpix2pix app`: which models take label maps, the brush colors, the legend.

A model whose input is a label map (facades or cityscapes BtoA: the dataset's `palette_side` is the
input side) gets a drawing canvas whose brush colors are exactly the dataset's palette, one per
class, starting blank in the background class. Everything here is plain numpy, testable without
Gradio or TensorFlow.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from tfpix2pix.data import datasets

MIN_CANVAS_SIDE = 256  # smaller training sizes are drawn on a larger canvas (the model takes any multiple)


@dataclass(frozen=True)
class LabelCanvas:
    """The label classes of one dataset as the canvas draws them.

    Attributes:
        dataset: the registry name.
        colors: RGB of each class, the dataset's palette in class order.
        classes: the class names, in the same order.
        background: index of the class a blank canvas is filled with.
    """

    dataset: str
    colors: tuple[tuple[int, int, int], ...]
    classes: tuple[str, ...]
    background: int

    @property
    def hex_colors(self) -> list[str]:
        """The brush colors, `#rrggbb` in class order."""
        return [hex_color(color) for color in self.colors]

    @property
    def background_color(self) -> tuple[int, int, int]:
        return self.colors[self.background]

    def blank(self, width: int, height: int) -> np.ndarray:
        """A uint8 [height, width, 3] label map of the background class only."""
        return np.broadcast_to(np.array(self.background_color, np.uint8), (height, width, 3)).copy()

    def snap(self, image: np.ndarray) -> np.ndarray:
        """Each pixel of a uint8 RGB(A) drawing as its nearest palette color: exact label colors.

        The browser blends stroke edges with what lies below (anti-aliasing); the model was trained
        on label maps of the palette colors only. Transparent parts (RGBA, alpha below 128: erased
        or never drawn) become the background class.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"expected an RGB or RGBA image [height, width, 3 or 4], got shape {image.shape}")
        rgb = image[..., :3].astype(np.int32)
        palette = np.array(self.colors, np.int32)
        # Squared distances with the cross term: [pixels, classes] without a [pixels, classes, 3] array.
        flat = rgb.reshape(-1, 3)
        distances = (palette**2).sum(axis=1)[None, :] - 2 * flat @ palette.T
        labels = distances.argmin(axis=1).reshape(rgb.shape[:2])
        if image.shape[-1] == 4:
            labels = np.where(image[..., 3] < 128, self.background, labels)
        return palette.astype(np.uint8)[labels]

    def legend_html(self) -> str:
        """One swatch per class with its name and color, in palette order (the brush's order)."""
        items = "".join(
            f'<span class="tfpix2pix-class" title="{hex_color(color)}" style="display:inline-flex;'
            f'align-items:center;margin:2px 10px 2px 0"><span style="display:inline-block;width:14px;'
            f'height:14px;margin-right:4px;border:1px solid #888;background:{hex_color(color)}"></span>'
            f"{html.escape(name)}</span>"
            for name, color in zip(self.classes, self.colors)
        )
        return f'<div class="tfpix2pix-legend">{items}</div>'


def hex_color(color: tuple[int, int, int]) -> str:
    """(0, 48, 255) -> '#0030ff'."""
    if len(color) != 3 or not all(isinstance(value, int) and 0 <= value <= 255 for value in color):
        raise ValueError(f"expected an RGB triple of integers 0..255, got {color!r}")
    return "#{:02x}{:02x}{:02x}".format(*color)


def input_side(direction: str) -> str:
    """The half of a pair the model reads: A for AtoB, B for BtoA."""
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
    return direction[0]


def label_canvas(dataset: str | None, direction: str | None) -> LabelCanvas | None:
    """The canvas for a model trained on `dataset` in `direction`, or None when its input is not a
    label map (a photo task, the user's own data, or facts that do not say)."""
    info = datasets.REGISTRY.get(dataset or "")
    if info is None or info.palette is None or direction not in ("AtoB", "BtoA"):
        return None
    if info.palette_side != input_side(direction):
        return None
    return LabelCanvas(dataset=info.name, colors=tuple(info.palette), classes=tuple(info.classes),
                       background=info.background)


def canvas_side(image_size: int, multiple: int) -> int:
    """The canvas's side in pixels: the training size, or the smallest multiple of the model's
    `multiple` that is at least MIN_CANVAS_SIDE when training was smaller (room to draw)."""
    if image_size >= MIN_CANVAS_SIDE:
        return image_size
    return -(-MIN_CANVAS_SIDE // multiple) * multiple
