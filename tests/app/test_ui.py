"""The page's logic without a server: views chosen from the model's facts, checks before decoding, messages."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from tfpix2pix.app import ui  # noqa: E402
from tfpix2pix.data import datasets  # noqa: E402
from tfpix2pix.errors import UsageError  # noqa: E402


class FakeRunner:
    """Negates its input (a visible, exact change) and records what it was given; a 32-multiple U-Net's facts."""

    multiple = 32
    image_size = 32
    description = "fake runner"

    def __init__(self, dataset="facades", direction="BtoA"):
        self.dataset, self.direction = dataset, direction
        self.inputs = []

    def run(self, images, **_):
        images = np.asarray(images)
        self.inputs.append(images)
        return -images


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height and which holds no pixels at all."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def upload(path, name=None):
    """What Gradio hands a preprocess=False handler for an uploaded file."""
    return {"path": str(path), "orig_name": name or path.name, "meta": {"_type": "gradio.FileData"}}


def message(error_info) -> str:
    return error_info.value.message


def test_an_upload_is_translated_at_its_own_size(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    runner = FakeRunner()
    output, latency = ui.Translator(runner).translate_file(upload(tmp_path / "photo.png"))
    assert output.shape == (50, 40, 3) and output.dtype == np.uint8
    assert np.abs(output.astype(int) - (255 - pixels.astype(int))).max() <= 1  # the runner's output, exactly
    assert runner.inputs[0].shape == (1, 50, 40, 3)  # the runner pads and crops, as for predict
    assert "40x50 px" in latency and "ms" in latency
    assert ui.Translator(runner).translate_file(None) == (None, "")


@pytest.mark.parametrize("contents, fragment", [
    (b"hello, not an image", "is not an image"),
    (b"", "is empty"),
    (png_header(100_000, 100_000), "100000x100000, over the 4096-pixel limit per side"),  # refused from the header
    (png_header(64, 64), "cannot be decoded"),  # a header without pixels
])
def test_bad_uploads_are_one_clear_message(tmp_path, contents, fragment):
    (tmp_path / "upload.png").write_bytes(contents)
    runner = FakeRunner()
    with pytest.raises(gr.Error) as error_info:
        ui.Translator(runner).translate_file(upload(tmp_path / "upload.png", "mine.png"))
    assert message(error_info).startswith("mine.png ") and fragment in message(error_info)
    assert runner.inputs == []


def test_max_side_is_the_limit_and_too_small_images_suggest_a_larger_one(tmp_path):
    Image.new("RGB", (300, 20)).save(tmp_path / "wide.png")
    with pytest.raises(gr.Error) as error_info:
        ui.Translator(FakeRunner(), max_side=256).translate_file(upload(tmp_path / "wide.png"))
    assert "over the 256-pixel limit" in message(error_info)
    Image.new("RGB", (40, 11)).save(tmp_path / "small.png")
    with pytest.raises(gr.Error) as error_info:
        ui.Translator(FakeRunner()).translate_file(upload(tmp_path / "small.png"))
    assert message(error_info) == ("small.png is 40x11: this model needs images of at least 12x12 (it pads their "
                                   "sides to a multiple of 32); try a larger image")


def test_runner_errors_become_page_messages(tmp_path):
    class Refusing(FakeRunner):
        def run(self, images, **_):
            raise UsageError("this runtime cannot resize the model")

    Image.new("RGB", (40, 40)).save(tmp_path / "photo.png")
    with pytest.raises(gr.Error, match="cannot resize"):
        ui.Translator(Refusing()).translate_file(upload(tmp_path / "photo.png"))


def test_a_drawing_is_snapped_to_the_palette_and_translated():
    runner = FakeRunner()
    translator = ui.Translator(runner, label_canvas=ui.canvas_lib.label_canvas("facades", "BtoA"))
    drawing = np.zeros((64, 48, 4), np.uint8)
    drawing[..., :3] = datasets.FACADES_PALETTE[0]
    drawing[..., 3] = 255
    drawing[10:20, 10:20, :3] = (250, 10, 5)  # near pillar
    output, latency = translator.translate_drawing({"background": None, "layers": [], "composite": drawing})
    assert output.shape == (64, 48, 3) and "48x64 px" in latency
    given = np.round((runner.inputs[0][0] + 1) * 127.5).astype(int)
    assert {tuple(pixel) for pixel in given.reshape(-1, 3)} == {datasets.FACADES_PALETTE[0], datasets.FACADES_PALETTE[10]}
    assert translator.translate_drawing({"background": None, "layers": [], "composite": None}) == (None, "")
    with pytest.raises(gr.Error, match="at least 12x12"):
        translator.translate_drawing({"composite": drawing[:8]})


def components(app, kind):
    return [component["props"] for component in app.get_config_file()["components"] if component["type"] == kind]


def test_label_map_models_get_a_fixed_palette_canvas_starting_blank():
    app = ui.build_app(FakeRunner("facades", "BtoA"))
    (editor,) = components(app, "imageeditor")
    assert editor["brush"]["colors"] == ["#%02x%02x%02x" % color for color in datasets.FACADES_PALETTE]
    assert editor["brush"]["color_mode"] == "fixed" and editor["canvas_size"] == [256, 256]
    assert editor["fixed_canvas"] and editor["sources"] == [] and editor["layers"]["disabled"] is True
    legend = "".join(props["value"] for props in components(app, "html"))
    assert all(f">{name}</span>" in legend for name in datasets.FACADES_CLASSES)
    config = app.get_config_file()
    assert config["analytics_enabled"] is False
    public = {dependency["api_name"] for dependency in config["dependencies"] if dependency["api_visibility"] == "public"}
    assert public == {ui.TRANSLATE_API, ui.DRAWING_API}


@pytest.mark.parametrize("dataset, direction", [("facades", "AtoB"), ("maps", "AtoB"), (None, "AtoB"), (None, None)])
def test_other_models_get_the_upload_view_only(dataset, direction):
    app = ui.build_app(FakeRunner(dataset, direction))
    assert components(app, "imageeditor") == []
    (source, _output) = components(app, "image")
    assert set(source["sources"]) == {"upload", "clipboard", "webcam"}
    public = {dependency["api_name"] for dependency in app.get_config_file()["dependencies"]
              if dependency["api_visibility"] == "public"}
    assert public == {ui.TRANSLATE_API}
