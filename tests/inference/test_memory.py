"""The memory estimate of a batch, its check against a measured peak, and `predict` within a memory limit."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.paths import REPO
from tfpix2pix import cli, config as config_lib, workdir as workdir_lib
from tfpix2pix.export import savedmodel, tflite
from tfpix2pix.inference import memory, runners, translation
from tfpix2pix.models import deconvolution
from tfpix2pix.models.generator import build_generator, build_unet_generator


def test_the_estimate_grows_linearly_with_pixels_and_batch():
    def activations(height, width, batch, **options):
        return memory.estimate_peak_bytes(100.0, height, width, batch, multiple=32, **options) \
            - memory.ALLOCATOR_SLACK_BYTES

    one = activations(64, 64, 1)
    assert one == 64 * 64 * (memory.SAFETY_FACTOR * 100 + memory.IMAGE_COPY_BYTES + memory.MODEL_COPY_BYTES)
    assert activations(128, 128, 1) == 4 * one
    assert activations(64, 192, 1) == 3 * one
    assert activations(64, 64, 3) == 3 * one
    assert activations(128, 64, 4) == 8 * one
    # Sides are padded to the multiple before the model runs: 33 px costs as much model memory as 64.
    assert activations(33, 64, 1) > activations(32, 64, 1)
    # One image at a time (TFLite): the activations stop growing with the batch, the copies do not.
    copies = 64 * 64 * (memory.IMAGE_COPY_BYTES + memory.MODEL_COPY_BYTES)
    assert activations(64, 64, 4, images_per_call=1) == one + 3 * copies


def test_peak_live_bytes_frees_each_tensor_after_its_last_reader():
    # a -> b -> c, and a skip from a to d(b... c): a stays live until d reads it.
    steps = [([], ["a"]), (["a"], ["b"]), (["b"], ["c"]), (["a", "c"], ["d"])]
    sizes = {"a": 10, "b": 100, "c": 1000, "d": 1}
    assert memory.peak_live_bytes(steps, sizes) == 10 + 100 + 1000  # step 2: a, b (read now) and c
    assert memory.peak_live_bytes(steps[:2], sizes) == 110


def test_the_per_pixel_figure_is_symbolic_and_the_same_for_an_export():
    generator = build_unet_generator(image_size=32, base_filters=4)
    model = deconvolution.with_phase_deconvolutions(generator)
    per_pixel = memory.activation_bytes_per_pixel(model, 32)
    # At least the first layer's output (4 float32 channels on a quarter of the pixels), far below all at once.
    assert 4 <= per_pixel < 500
    facts = {"generator": "unet", "image_size": 32, "norm": "instance"}
    assert runners.architecture_bytes_per_pixel(facts, 4, 32) == pytest.approx(per_pixel)
    # Proportional to the filters from 8 up, which lets a SavedModel skip building its real size.
    for filters in (8, 24):
        built = build_generator(kind="unet", image_size=32, base_filters=filters)
        expected = memory.activation_bytes_per_pixel(deconvolution.with_phase_deconvolutions(built), 32)
        assert runners.architecture_bytes_per_pixel(facts, filters, 32) == pytest.approx(expected)


def test_exported_runners_know_their_memory(tmp_path):
    keras.utils.set_random_seed(0)
    generator = build_unet_generator(image_size=32, base_filters=4)
    keras_figure = runners.KerasRunner(generator, multiple=32, image_size=32).memory_bytes_per_pixel
    version_dir = tmp_path / "saved_model" / "1"
    savedmodel.save(generator, str(version_dir), multiple=32, metadata={"image_size": 32}, warmup_image_size=32)
    saved = runners.load_runner(str(tmp_path))
    assert saved.memory_bytes_per_pixel == pytest.approx(keras_figure)  # 4 filters read from the variables
    path = tmp_path / "model.tflite"
    path.write_bytes(tflite.convert(generator, "fp32", image_size=32))
    lite = runners.load_runner(str(path))
    # Its own ops, XNNPACK's indirection buffers and six more float32 copies: more than the Keras graph.
    assert lite.images_per_call == 1 and keras_figure < lite.memory_bytes_per_pixel < 10 * keras_figure + 6 * 12


def test_available_bytes_honours_the_limit_variable(monkeypatch):
    monkeypatch.delenv(memory.LIMIT_VARIABLE, raising=False)
    unlimited = memory.available_bytes()
    assert unlimited > 0
    monkeypatch.setenv(memory.LIMIT_VARIABLE, "100")
    assert memory.available_bytes() == min(unlimited, 100 * 2**20)


def test_the_graph_runner_gives_the_eager_outputs():
    keras.utils.set_random_seed(3)
    runner = runners.KerasRunner(build_unet_generator(image_size=32, base_filters=4), multiple=32, image_size=32)
    images = tf.random.uniform([2, 45, 70, 3], -1, 1, seed=2)
    eager = translation.translate(runner.model, images, multiple=32).numpy()
    np.testing.assert_allclose(runner.run(images), eager, atol=1e-6, rtol=0)
    translation.seed_dropout(runner.generator, 5)
    eager = translation.translate(runner.model, images, multiple=32, training=True).numpy()
    np.testing.assert_allclose(runner.run(images, stochastic=True, seed=5), eager, atol=1e-6, rtol=0)


# Measured by this script on a 2-core AVX2 EPYC (five runs): 444-489 MB peak increase for one
# 2048x2048 image, estimate 733 MB (1.50-1.65x); the 2x bound leaves room for other machines.
MEASURE = """
import json, numpy as np, keras
from tfpix2pix.inference import memory, runners
from tfpix2pix.models.generator import build_unet_generator
keras.utils.set_random_seed(0)
runner = runners.KerasRunner(build_unet_generator(image_size=256, base_filters=16), multiple=256, image_size=256)
estimate = memory.estimate_peak_bytes(runner.memory_bytes_per_pixel, {side}, {side}, 1, multiple=256)
image = np.random.default_rng(0).uniform(-1, 1, (1, {side}, {side}, 3)).astype(np.float32)
def status(key):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))
open("/proc/self/clear_refs", "w").write("5")  # The peak so far (building, tracing) is not this run's.
before = status("VmRSS:")
runner.run(image)
print(json.dumps({{"estimate": estimate, "measured": status("VmHWM:") - before}}))
"""
MAX_OVERESTIMATE = 2.0


@pytest.mark.slow  # a fresh process, so that nothing else shares its peak
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc/self/clear_refs")
def test_the_estimate_is_above_a_measured_peak_and_within_twice_it():
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", MEASURE.format(side=2048)], capture_output=True, text=True,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["measured"] > 100 * 2**20  # it measured a real translation
    assert figures["measured"] <= figures["estimate"] <= MAX_OVERESTIMATE * figures["measured"], figures


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory):
    """A work dir of the tiny preset (32x32, 8 filters) with seeded, untrained weights."""
    workdir = tmp_path_factory.mktemp("memory") / "run"
    config = config_lib.preset("tiny")
    keras.utils.set_random_seed(0)
    generator = build_generator(**config_lib.generator_arguments(config))
    os.makedirs(workdir)
    config_lib.save(config, workdir_lib.config_path(str(workdir)))
    tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator), workdir_lib.checkpoint_dir(str(workdir)),
                               max_to_keep=1).save(checkpoint_number=1)
    return workdir


def test_predict_shrinks_the_batch_and_skips_what_cannot_fit(tiny_workdir, tmp_path, monkeypatch, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(inputs / name)
    Image.fromarray(np.zeros((1500, 2000, 3), np.uint8)).save(inputs / "big.png")
    runner = runners.load_runner(str(tiny_workdir))

    def needed(height, width, batch):
        return memory.estimate_peak_bytes(runner.memory_bytes_per_pixel, height, width, batch, multiple=32)

    # Two of the small images fit, three do not, and the big one alone does not.
    limit = (needed(300, 400, 2) + needed(300, 400, 3)) / 2
    assert needed(1500, 2000, 1) > limit
    monkeypatch.setenv(memory.LIMIT_VARIABLE, str(limit / 2**20))
    out = tmp_path / "out"
    assert cli.main(["predict", "--model", str(tiny_workdir), str(inputs), "--out", str(out), "--batch-size", "4"]) == 1
    captured = capsys.readouterr()
    assert "400x300 images" in captured.out and "translating 2 at a time" in captured.out
    assert sorted(path.name for path in out.iterdir()) == ["a.png", "b.png", "c.png"]
    assert Image.open(out / "a.png").size == (400, 300)
    problem = next(line for line in captured.err.splitlines() if "big.png" in line)
    assert f"2000x1500 needs about {memory.readable_size(needed(1500, 2000, 1))} to translate" in problem
    assert f"{memory.readable_size(int(limit))} are available" in problem and "--max-side" in problem
    assert "--resize" in problem
