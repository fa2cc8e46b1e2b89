"""The label canvas: which models draw label maps, the exact palette brushes, names, blank canvas, snapping."""

import numpy as np
import pytest

from tfpix2pix.app import canvas
from tfpix2pix.data import datasets


def test_label_map_inputs_get_a_canvas_with_the_dataset_palette_exactly():
    facades = canvas.label_canvas("facades", "BtoA")
    assert facades.colors == datasets.FACADES_PALETTE and len(facades.classes) == 12
    assert facades.hex_colors[:3] == ["#0000df", "#0030ff", "#0080ff"] and facades.hex_colors[-1] == "#af0000"
    assert facades.classes[0] == facades.classes[facades.background] == "background"
    assert canvas.label_canvas(datasets.SAMPLE_NAME, "BtoA").colors == datasets.FACADES_PALETTE
    cityscapes = canvas.label_canvas("cityscapes", "BtoA")
    assert cityscapes.colors == datasets.CITYSCAPES_PALETTE and len(cityscapes.classes) == 20
    assert cityscapes.hex_colors[0] == "#804080" and cityscapes.classes[13] == "car"
    assert cityscapes.background_color == (0, 0, 0) and cityscapes.classes[cityscapes.background] == "void"


@pytest.mark.parametrize("dataset, direction", [
    ("facades", "AtoB"),  # photo -> labels: the input is a photo
    ("cityscapes", "AtoB"), ("maps", "AtoB"), ("maps", "BtoA"), ("edges2shoes", "AtoB"),
    (None, "AtoB"),  # the user's own data
    ("facades", None), ("not-a-dataset", "BtoA"),
])
def test_other_inputs_get_the_plain_upload_view(dataset, direction):
    assert canvas.label_canvas(dataset, direction) is None


def test_blank_canvas_is_the_background_color_everywhere():
    for name in ("facades", "cityscapes"):
        label_canvas = canvas.label_canvas(name, "BtoA")
        blank = label_canvas.blank(40, 24)
        assert blank.shape == (24, 40, 3) and blank.dtype == np.uint8 and blank.flags.writeable
        assert (blank == np.array(label_canvas.background_color, np.uint8)).all()


def test_drawings_snap_to_exact_palette_colors_and_transparency_is_background():
    label_canvas = canvas.label_canvas("facades", "BtoA")
    palette = np.array(datasets.FACADES_PALETTE, np.uint8)
    drawing = np.zeros((2, 3, 4), np.uint8)
    drawing[..., 3] = 255
    drawing[0, 0, :3] = palette[2]  # exact
    drawing[0, 1, :3] = palette[10] // 2 + palette[0] // 2 + np.array([60, 0, 0], np.uint8)  # blended stroke edge
    drawing[0, 2, :3] = (250, 5, 3)  # nearly pillar
    drawing[1, :, 3] = 0  # erased / never drawn
    snapped = label_canvas.snap(drawing)
    assert snapped.shape == (2, 3, 3) and snapped.dtype == np.uint8
    assert snapped[0, 0].tolist() == list(palette[2]) and snapped[0, 2].tolist() == list(palette[10])
    assert tuple(snapped[0, 1]) in {tuple(color) for color in palette}
    assert (snapped[1] == palette[0]).all()
    assert {tuple(pixel) for pixel in snapped.reshape(-1, 3)} <= set(datasets.FACADES_PALETTE)
    assert (label_canvas.snap(label_canvas.blank(5, 4)) == label_canvas.blank(5, 4)).all()
    with pytest.raises(ValueError, match="RGB or RGBA"):
        label_canvas.snap(np.zeros((4, 4), np.uint8))


def test_legend_names_every_class_in_brush_order_with_its_color():
    label_canvas = canvas.label_canvas("cityscapes", "BtoA")
    legend = label_canvas.legend_html()
    positions = [legend.index(f">{name}</span>") for name in label_canvas.classes]
    assert positions == sorted(positions) and legend.count('class="tfpix2pix-class"') == 20
    for color in label_canvas.hex_colors:
        assert f"background:{color}" in legend


def test_hex_colors_input_sides_and_canvas_sides():
    assert canvas.hex_color((0, 48, 255)) == "#0030ff"
    with pytest.raises(ValueError):
        canvas.hex_color((256, 0, 0))
    assert canvas.input_side("AtoB") == "A" and canvas.input_side("BtoA") == "B"
    with pytest.raises(ValueError):
        canvas.input_side("sideways")
    assert canvas.canvas_side(256, 256) == 256 and canvas.canvas_side(512, 256) == 512
    assert canvas.canvas_side(32, 32) == 256 and canvas.canvas_side(128, 128) == 256 and canvas.canvas_side(96, 32) == 256
    assert canvas.canvas_side(100, 64) == 256 and canvas.canvas_side(64, 48) == 288
