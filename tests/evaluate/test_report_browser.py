"""The results page rendered in headless Chromium, driven over plain W3C WebDriver HTTP (tests/webdriver.py).

No selenium: chromedriver speaks JSON over HTTP, and urllib is enough for the five calls needed.
Skipped only when chromium or chromedriver is not installed (Debian packages `chromium` and
`chromium-driver`; CI installs them).
"""

import base64
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.paths import ARTIFACTS
from tests.webdriver import WebDriver, needs_browser
from tfpix2pix.evaluate import report

pytestmark = pytest.mark.slow  # a real headless browser

# Runs in the page: every image, whether it decoded, the results rows, and any non-file fetch.
PAGE_CHECK_SCRIPT = """
return {
  images: Array.from(document.images).map(image => ({
    src: image.getAttribute('src'), complete: image.complete, naturalWidth: image.naturalWidth})),
  rows: document.querySelectorAll('table.results tbody tr').length,
  resources: performance.getEntriesByType('resource').map(entry => entry.name),
};
"""


def write_page(out_dir: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        name = f"image {index}"  # a space exercises the URL quoting of file:// links
        for kind in ("input", "generated", "target"):
            image = rng.integers(0, 256, (32, 48, 3)).astype(np.uint8)
            Image.fromarray(image).save(out_dir / f"{name}_{kind}.png")
        rows.append(report.ResultRow(
            name=name, input_path=f"{name}_input.png", generated_path=f"{name}_generated.png",
            target_path=f"{name}_target.png",
            metrics={"l1": 12.5 + index, "psnr": 21.0, "ssim": 0.61},
        ))
    return Path(report.write_results_page(
        str(out_dir), rows, title="browser check", summary={"count": count, "l1": 13.5}
    ))


@needs_browser
def test_results_page_renders_from_disk_with_every_image_loaded(tmp_path):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    page = write_page(out_dir, count=3)
    profile_dir = tmp_path / "chromium-profile"
    profile_dir.mkdir()
    with WebDriver(profile_dir, tmp_path / "chromedriver.log") as driver:
        driver.session_call("POST", "/url", {"url": page.as_uri()}, timeout=45)
        state = driver.session_call(
            "POST", "/execute/sync", {"script": PAGE_CHECK_SCRIPT, "args": []}, timeout=20
        )
        screenshot = base64.b64decode(driver.session_call("GET", "/screenshot", timeout=30))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "results_page.png").write_bytes(screenshot)

    assert state["rows"] == 3
    assert len(state["images"]) == 9
    for image in state["images"]:
        assert image["complete"] and image["naturalWidth"] == 48, image
    assert all(name.startswith("file://") for name in state["resources"]), state["resources"]
    assert screenshot.startswith(b"\x89PNG")
