"""The results page rendered in headless Chromium, driven over plain W3C WebDriver HTTP.

No selenium: chromedriver speaks JSON over HTTP, and urllib is enough for the five calls needed.
Every call has a timeout and the driver's process group is killed at the end, so a broken
browser fails the test instead of hanging it. Skipped only when chromium or chromedriver is
not installed (Debian packages `chromium` and `chromium-driver`; CI installs them).
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.paths import REPO
from tfpix2pix.evaluate import report

pytestmark = pytest.mark.slow  # a real headless browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1000,800",
]

# Runs in the page: every image, whether it decoded, the results rows, and any non-file fetch.
PAGE_CHECK_SCRIPT = """
return {
  images: Array.from(document.images).map(image => ({
    src: image.getAttribute('src'), complete: image.complete, naturalWidth: image.naturalWidth})),
  rows: document.querySelectorAll('table.results tbody tr').length,
  resources: performance.getEntriesByType('resource').map(entry => entry.name),
};
"""


class WebDriver:
    """A chromedriver process and one browser session, as a context manager."""

    def __init__(self, profile_dir: Path, log_path: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_file = open(log_path, "w")
        # A new session makes the driver a process-group leader, so chromium dies with it.
        self.process = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"], stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.session_id = None
        self.profile_dir = profile_dir

    def call(self, method: str, path: str, body=None, timeout: float = 30.0):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"WebDriver {method} {path} failed: {error.read()[:500]!r}") from error

    def session_call(self, method: str, path: str, body=None, timeout: float = 30.0):
        return self.call(method, f"/session/{self.session_id}{path}", body, timeout)

    def __enter__(self):
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.call("GET", "/status", timeout=2)["ready"]:
                    break
            except (OSError, RuntimeError):
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"chromedriver did not start; see {self.log_file.name}")
            time.sleep(0.2)
        options = {"binary": CHROMIUM, "args": [*CHROMIUM_FLAGS, f"--user-data-dir={self.profile_dir}"]}
        try:
            session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": options,
                "timeouts": {"pageLoad": 30000, "script": 10000},
            }}}, timeout=60)
        except BaseException:
            self.close()
            raise
        self.session_id = session["sessionId"]
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        if self.session_id is not None:
            try:
                self.call("DELETE", f"/session/{self.session_id}", timeout=15)
            except (OSError, RuntimeError):
                pass  # the process group is killed below either way
            self.session_id = None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log_file.close()


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


@pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install -y chromium chromium-driver)",
)
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
