"""`tfpix2pix app`'s API through gradio_client: the upload and canvas endpoints, and errors as errors."""

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from tfpix2pix.data import datasets  # noqa: E402

pytestmark = pytest.mark.slow  # the app runs as a subprocess


@pytest.fixture
def client(served_app, tmp_path):
    return gradio_client.Client(served_app.url, verbose=False, download_files=str(tmp_path / "downloads"))


def test_the_translate_endpoint_returns_an_image_of_the_input_size(client, tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    output_path, latency = client.predict(gradio_client.handle_file(str(tmp_path / "photo.png")), api_name="/translate")
    with Image.open(output_path) as output:
        assert output.format == "PNG" and output.size == (56, 40)
        assert np.abs(np.asarray(output.convert("RGB")).astype(int) - pixels).mean() > 10
    assert "56x40 px" in latency and "ms" in latency


def test_the_drawing_endpoint_takes_a_label_map(client, tmp_path):
    label_map = np.zeros((256, 256, 3), np.uint8)
    label_map[:] = datasets.FACADES_PALETTE[0]
    label_map[32:224, 48:208] = datasets.FACADES_PALETTE[1]
    label_map[64:96, 80:112] = datasets.FACADES_PALETTE[2]
    Image.fromarray(label_map).save(tmp_path / "labels.png")
    image = gradio_client.handle_file(str(tmp_path / "labels.png"))
    output_path, latency = client.predict({"background": image, "layers": [], "composite": image, "id": None},
                                          api_name="/translate_drawing")
    with Image.open(output_path) as output:
        assert output.size == (256, 256)
    assert "256x256 px" in latency


def test_bad_files_are_errors_with_the_reason_and_the_app_keeps_serving(client, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("RGB", (40, 8)).save(tmp_path / "thin.png")
    with pytest.raises(gradio_client.exceptions.AppError, match="notes.png is not an image"):
        client.predict(gradio_client.handle_file(str(tmp_path / "notes.png")), api_name="/translate")
    with pytest.raises(gradio_client.exceptions.AppError, match="thin.png is 40x8: .* at least 12x12 .*larger image"):
        client.predict(gradio_client.handle_file(str(tmp_path / "thin.png")), api_name="/translate")
    Image.new("RGB", (32, 32), (10, 200, 30)).save(tmp_path / "fine.png")
    output_path, _ = client.predict(gradio_client.handle_file(str(tmp_path / "fine.png")), api_name="/translate")
    with Image.open(output_path) as output:
        assert output.size == (32, 32)
