"""`tfpix2pix curves`: the PNG of a run's training, the best step, and the picture atop `test`'s results page."""

import base64
import os

import pytest
import tensorflow as tf
from PIL import Image

from tests.cli_run import run_cli
from tests.paths import ARTIFACTS
from tests.webdriver import WebDriver, needs_browser
from tfpix2pix import workdir as workdir_lib
from tfpix2pix.evaluate import curves, results
from tfpix2pix.train import history


def test_curves_draw_a_png_in_the_work_dir_and_name_the_best_step(validated_run):
    workdir, _, _ = validated_run
    completed = run_cli("curves", "--workdir", workdir, check=True)
    path = os.path.join(workdir, workdir_lib.CURVES_FILE)
    best = min(history.read(workdir_lib.metrics_path(workdir)), key=lambda line: line["l1"])
    assert f"curves: {path} (steps up to 30)" in completed.stdout
    assert f"best val l1 {best['l1']:.4g} at step {best['step']}" in completed.stdout
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.size == (1000, 1040)  # four panels of 10 x 2.6 inches


def test_the_training_scalars_of_a_resumed_run_appear_once_per_step(tmp_path):
    folder = str(tmp_path / "logs")
    for start, offset in ((0, 0.0), (20, 100.0)):  # the first file reached step 40, the resume restarted at 20
        writer = tf.summary.create_file_writer(folder, filename_suffix=f".{start}")
        with writer.as_default():
            for step in range(start + 10, 50 if start else 41, 10):
                tf.summary.scalar("loss/g_l1", step + offset, step=step)
        writer.close()
    scalars, _ = curves.read_logs(folder)
    assert scalars["loss/g_l1"] == {10: 10.0, 20: 20.0, 30: 130.0, 40: 140.0}


def test_curves_of_a_work_dir_without_training_is_one_usage_error(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text("{}")
    completed = run_cli("curves", "--workdir", workdir)
    assert completed.returncode == 2
    assert "has no training logs yet" in completed.stderr and "Traceback" not in completed.stderr
    assert not (workdir / "curves.png").exists()


@pytest.mark.slow  # a real headless browser
@needs_browser
def test_the_results_page_shows_the_curves_at_the_top_and_the_picture_loads(validated_run, tmp_path):
    workdir, _, _ = validated_run
    curves.write_curves(workdir)
    tested = results.run_test(workdir, out_dir=str(tmp_path / "results"), log=lambda *_: None)
    profile = tmp_path / "profile"
    profile.mkdir()
    with WebDriver(profile, tmp_path / "chromedriver.log") as driver:
        driver.session_call("POST", "/url", {"url": f"file://{tested.page}"}, timeout=45)
        state = driver.session_call("POST", "/execute/sync", {"script": """
            const figure = document.querySelector('figure.curves');
            const image = figure && figure.querySelector('img');
            return {first: document.body.children[1] === figure, complete: image && image.complete,
                    width: image && image.naturalWidth, src: image && image.getAttribute('src')};""", "args": []},
            timeout=20)
        screenshot = base64.b64decode(driver.session_call("GET", "/screenshot", timeout=30))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "results_page_curves.png").write_bytes(screenshot)
    assert state == {"first": True, "complete": True, "width": 1000, "src": "curves.png"}
