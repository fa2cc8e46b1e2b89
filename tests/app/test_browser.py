"""`tfpix2pix app` in headless Chromium: draw on the label canvas, upload through the page, see the outputs.

The app runs as the real command in a subprocess (conftest.served_app) on a free 127.0.0.1 port; the
browser is driven over plain WebDriver HTTP (tests/webdriver.py). Screenshots go to test-artifacts/.
"""

import base64
import io
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.paths import ARTIFACTS
from tests.webdriver import WebDriver, needs_browser
from tfpix2pix.data import datasets

pytest.importorskip("gradio")
pytestmark = [pytest.mark.slow, needs_browser]  # a real headless browser and a served app

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver key of an element reference
OUTPUT_STATE = """
const image = document.querySelector(arguments[0] + ' img');
return image && image.complete && image.naturalWidth
  ? {src: image.src, width: image.naturalWidth, height: image.naturalHeight} : null;
"""
TOASTS = "return Array.from(document.querySelectorAll('.toast-body')).map(toast => toast.innerText);"
RESOURCES = "return performance.getEntriesByType('resource').map(entry => entry.name);"


def script(driver, source, *args):
    return driver.session_call("POST", "/execute/sync", {"script": source, "args": list(args)}, timeout=20)


def find(driver, css, *, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        found = driver.session_call("POST", "/elements", {"using": "css selector", "value": css})
        if found:
            return [element[ELEMENT] for element in found]
        if time.monotonic() > deadline:
            raise AssertionError(f"no element {css!r} in the page after {timeout} s")
        time.sleep(0.25)


def wait_for(check, what, *, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.25)


def fetch_image(url) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=10) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


def screenshot(driver, name) -> bytes:
    picture = base64.b64decode(driver.session_call("GET", "/screenshot", timeout=30))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(picture)
    return picture


def strokes(driver, element, lines):
    """For each line of points (offsets from the element's centre): pointer down at its first, through the others, up.

    One WebDriver action chain for all of them: a chain per stroke cost about 0.25 s more a stroke.
    """
    actions = []
    for points in lines:
        moves = [{"type": "pointerMove", "duration": 50, "origin": {ELEMENT: element}, "x": x, "y": y}
                 for x, y in points]
        actions += [moves[0], {"type": "pointerDown", "button": 0}, *moves[1:], {"type": "pointerUp", "button": 0}]
    driver.session_call("POST", "/actions", {"actions": [
        {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]})
    driver.session_call("DELETE", "/actions")


@pytest.fixture
def driver(tmp_path):
    (tmp_path / "profile").mkdir()
    with WebDriver(tmp_path / "profile", tmp_path / "chromedriver.log") as session:
        session.session_call("POST", "/window/rect", {"width": 1200, "height": 1100})
        yield session


def pick_color(driver, index):
    """Opens the brush's color menu and picks the `index`-th swatch; returns every swatch's CSS color."""
    (button,) = find(driver, "#label-canvas button[aria-label='Color']")
    driver.session_call("POST", f"/element/{button}/click", {})
    swatches = find(driver, "#label-canvas button.color")
    colors = [script(driver, "return getComputedStyle(arguments[0]).backgroundColor;", {ELEMENT: swatch})
              for swatch in swatches]
    driver.session_call("POST", f"/element/{swatches[index]}/click", {})
    return colors


def draw_facade(driver, canvas):
    """A facade (class 1) filling most of the canvas, a cornice (4), three rows of windows (2) and a door (3).

    Offsets are CSS pixels from the canvas element's centre; the 256 px label map shows about 290 px wide.
    """
    pick_color(driver, 1)
    strokes(driver, canvas, [[(-95, y), (95, y)] for y in range(-105, 125, 10)])
    pick_color(driver, 4)
    strokes(driver, canvas, [[(-100, -112), (100, -112)]])
    pick_color(driver, 2)
    strokes(driver, canvas, [[(x, y), (x, y + 22)] for y in (-80, -30, 20) for x in (-70, -25, 20, 65)])
    pick_color(driver, 3)
    strokes(driver, canvas, [[(x, 75), (x, 118)] for x in (-8, 0, 8)])


def settled_output(driver, css, *, differs_from=None, timeout=90.0):
    """The output image once it has stopped changing for 2 s (and, if given, differs from `differs_from`)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        state = script(driver, OUTPUT_STATE, css)
        if state != last:
            last, since = state, time.monotonic()
        elif state and time.monotonic() - since > 2:
            if differs_from is None or np.abs(fetch_image(state["src"]).astype(int) - differs_from).max() > 8:
                return state
        time.sleep(0.25)
    raise AssertionError(f"no settled output in {css} within {timeout} s (last: {last})")


def blank_output(workdir, side=256):
    """What the model makes of the blank canvas (background class only)."""
    from tfpix2pix.app.canvas import label_canvas
    from tfpix2pix.data import pipeline
    from tfpix2pix.inference import runners

    blank = label_canvas("facades-sample", "BtoA").blank(side, side)
    return pipeline.to_uint8(runners.load_runner(workdir).run(pipeline.to_float(blank[np.newaxis])))[0].numpy()


def test_drawing_on_the_label_canvas_translates_it(served_app, tiny_workdir, driver):
    driver.session_call("POST", "/url", {"url": served_app.url}, timeout=45)
    canvas = find(driver, "#label-canvas canvas")[-1]  # the top layer receives the pointer
    legend = script(driver, "return document.querySelector('#class-legend').innerText;")
    assert [line.strip() for line in legend.split()] == list(datasets.FACADES_CLASSES)
    time.sleep(2)  # the blank label map loads into the editor
    swatches = pick_color(driver, 1)
    assert swatches == [f"rgb({r}, {g}, {b})" for r, g, b in datasets.FACADES_PALETTE]  # the brushes: the palette
    draw_facade(driver, canvas)
    state = settled_output(driver, "#drawn-output", differs_from=blank_output(tiny_workdir))
    picture = screenshot(driver, "app_canvas.png")
    assert (state["width"], state["height"]) == (256, 256)  # the canvas of a 32x32 model: 256x256
    latency = script(driver, "return document.querySelector('#drawing-latency').innerText;")
    assert "256x256 px" in latency and "ms" in latency
    assert picture.startswith(b"\x89PNG")
    assert all(name.startswith(served_app.url) for name in script(driver, RESOURCES))  # no network needed


def open_upload_view(driver, url: str) -> str:
    """Loads the page, opens its Upload tab and returns the element id of its file input."""
    driver.session_call("POST", "/url", {"url": url}, timeout=45)
    (tab,) = [element for element in find(driver, "button[role=tab]")
              if "Upload" in driver.session_call("GET", f"/element/{element}/text")]
    driver.session_call("POST", f"/element/{tab}/click", {})
    return find(driver, "#input-image input[type=file]")[0]


def test_an_upload_through_the_page_is_translated_at_its_size(served_app, driver, tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (48, 72, 3), dtype=np.uint8)  # not a multiple of 32
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    (tmp_path / "notes.png").write_text("not an image at all")
    # A file that is not an image: a message in the page, and the app keeps serving.
    file_input = open_upload_view(driver, served_app.url)
    driver.session_call("POST", f"/element/{file_input}/value", {"text": str(tmp_path / "notes.png")})
    toasts = wait_for(lambda: script(driver, TOASTS), "a message about the bad file", timeout=30)
    assert any("notes.png is not an image" in toast for toast in toasts), toasts
    screenshot(driver, "app_bad_upload.png")

    file_input = open_upload_view(driver, served_app.url)
    driver.session_call("POST", f"/element/{file_input}/value", {"text": str(tmp_path / "photo.png")})
    state = wait_for(lambda: script(driver, OUTPUT_STATE, "#output-image"), "the translated upload")
    wait_for(lambda: "ms" in script(driver, "return document.querySelector('#latency').innerText;"), "the latency")
    screenshot(driver, "app_upload.png")
    assert (state["width"], state["height"]) == (72, 48)
    output = fetch_image(state["src"])
    assert output.shape == pixels.shape and np.abs(output.astype(int) - pixels).mean() > 10
    assert "72x48 px" in script(driver, "return document.querySelector('#latency').innerText;")

    # One click on an example (a val label map of the sample, 256x256) translates it.
    examples = find(driver, "button.gallery-item")
    assert len(examples) == 4
    driver.session_call("POST", f"/element/{examples[0]}/click", {})
    example = wait_for(lambda: (now := script(driver, OUTPUT_STATE, "#output-image")) and now["src"] != state["src"]
                       and now, "the translated example")
    assert (example["width"], example["height"]) == (256, 256)
    assert all(name.startswith(served_app.url) for name in script(driver, RESOURCES))
