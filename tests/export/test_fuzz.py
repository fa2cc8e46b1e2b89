"""Fuzzed requests to the SavedModel's `serving_default` and fuzzed files to `tfpix2pix predict` .

Random bytes, empty strings, truncated and byte-flipped PNGs and JPEGs, headers that declare huge or
degenerate sizes, and batches that mix them with valid images. Serving must answer each request
with one PNG per input, of the input's size, or refuse it with InvalidArgumentError, and nothing
else; memory stays bounded. Predict must write the valid files, name every bad one and exit 1.

Hypothesis runs derandomized (the same examples on every run) and without its example database,
so CI sees exactly what a developer sees. The model is the tiny one trained by tests/export/conftest.py.
"""

import io
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, example, given, settings, strategies as st
from PIL import Image

from tests import image_files
from tests.cli_run import run_cli
from tfpix2pix import cli
from tfpix2pix.inference import formats, predict, runners, translation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
MEMORY_BOUND_MB = 1024  # above the ~600 MB of the largest image allowed (4096x4096, tiny model)
FUZZ = settings(
    max_examples=100, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def model(exported):
    """(serving_default, multiple, max_side) of the exported SavedModel."""
    facts = formats.read_metadata(exported.result.saved_model)
    serving = tf.saved_model.load(exported.result.saved_model).signatures["serving_default"]
    return serving, facts["multiple"], facts["max_side"]


# Inputs ----------------------------------------------------------------------------------------


def encode(pixels: np.ndarray, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format, **options)
    return buffer.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small baseline JPEG whose frame header claims `width` x `height` (the data stays 40x36)."""
    contents = bytearray(encode(image_files.pixels(40, 36), "JPEG", quality=90))
    start = contents.index(b"\xff\xc0")  # Baseline frame header: length, precision, height, width.
    contents[start + 5 : start + 9] = struct.pack(">HH", height, width)
    return bytes(contents)


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose IHDR claims `width` x `height` (the data stays 8x8)."""
    return image_files.png_bytes(image_files.pixels(8, 8), declared_size=(width, height))


# Valid images of the kinds users send, all small: the minimum side for multiple 32 is 12.
VALID_IMAGES = [
    encode(image_files.pixels(40, 36, seed=1), "PNG"),
    encode(image_files.pixels(33, 50, seed=2), "JPEG", quality=90),
    encode(image_files.pixels(12, 12, seed=3)[..., 0], "PNG"),  # grayscale, the smallest accepted side
    encode(image_files.pixels(32, 32, seed=4), "JPEG", quality=90, progressive=True),
    encode(image_files.pixels(64, 20, channels=4, seed=5), "PNG"),  # RGBA
    image_files.png_bytes(image_files.pixels(16, 16, seed=6).astype(np.uint16) * 257, bit_depth=16),
]


def truncated(valid: st.SearchStrategy) -> st.SearchStrategy:
    return valid.flatmap(lambda contents: st.integers(0, len(contents) - 1).map(lambda length: contents[:length]))


def flipped(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Valid images with 1-8 bytes overwritten anywhere (headers, chunk lengths, scan data)."""

    def overwrite(contents: bytes, changes: list[tuple[int, int]]) -> bytes:
        result = bytearray(contents)
        for position, value in changes:
            result[position % len(result)] = value
        return bytes(result)

    changes = st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=8)
    return st.builds(overwrite, valid, changes)


def huge_or_degenerate_sides(max_side: int, smallest: int) -> st.SearchStrategy:
    """(width, height) with at least one side over `max_side` or under `smallest`."""
    any_side = st.integers(0, 65535)
    bad_side = st.one_of(st.integers(max_side + 1, 65535), st.integers(0, smallest - 1))
    return st.one_of(st.tuples(bad_side, any_side), st.tuples(any_side, bad_side))


def requests(max_side: int, smallest: int) -> st.SearchStrategy:
    valid = st.sampled_from(VALID_IMAGES)
    sides = huge_or_degenerate_sides(max_side, smallest)
    one_input = st.one_of(
        valid,
        st.just(b""),
        st.binary(max_size=512),
        st.builds(lambda prefix, rest: prefix + rest,
                  st.sampled_from([PNG_SIGNATURE, JPEG_SIGNATURE, b"GIF89a", b"BM", b"RIFF"]), st.binary(max_size=256)),
        truncated(valid),
        flipped(valid),
        sides.map(lambda size: png_declaring(*size)),
        sides.map(lambda size: jpeg_declaring(*size)),
        st.tuples(st.integers(2**16, 2**32 - 1), st.integers(2**16, 2**32 - 1)).map(lambda size: png_declaring(*size)),
    )
    return st.lists(one_input, max_size=4)


def expected_size(contents: bytes, *, max_side: int, smallest: int) -> tuple[int, int] | None:
    """(height, width) that serving must return for `contents`, or None if it must refuse it.

    The documented contract: a JPEG or PNG whose header size is within [smallest, max_side] and
    that TensorFlow decodes. The header is read first so that a huge claim is never decoded here.
    """
    if contents[:8] == PNG_SIGNATURE and len(contents) >= 24:
        width, height = struct.unpack(">II", contents[16:24])
    elif contents[:3] == JPEG_SIGNATURE:
        try:
            height, width = tf.image.extract_jpeg_shape(contents).numpy()[:2]
        except tf.errors.InvalidArgumentError:
            return None
    else:
        return None
    if not (smallest <= height <= max_side and smallest <= width <= max_side):
        return None
    try:
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError:
        return None
    return tuple(image.shape[:2])


# Memory ----------------------------------------------------------------------------------------


def memory_mb() -> dict[str, int]:
    """Resident set size now (VmRSS) and its peak (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {name: int(fields[name].split()[0]) // 1024 for name in ("VmRSS", "VmHWM")}


def reset_peak_memory() -> None:
    """Restarts VmHWM at the current RSS (Linux 4.0+), so the peak measured is this test's own."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass  # The lifetime peak then stands in: a stricter bound, never a looser one.


# Serving ---------------------------------------------------------------------------------------


def check_request(serving, batch: list[bytes], *, max_side: int, smallest: int) -> None:
    expected = [expected_size(contents, max_side=max_side, smallest=smallest) for contents in batch]
    try:
        outputs = serving(image_bytes=tf.constant(batch, tf.string))["image_bytes"].numpy()
    except tf.errors.InvalidArgumentError:
        assert not batch or None in expected, f"refused a request of valid images of sizes {expected}"
        return
    assert batch and None not in expected, f"accepted a request it must refuse (expected sizes {expected})"
    assert len(outputs) == len(batch)
    for output, size in zip(outputs, expected):
        assert output.startswith(PNG_SIGNATURE)
        assert tuple(tf.io.decode_png(output).shape) == (*size, 3)


def test_serving_default_answers_fuzzed_requests_with_pngs_or_invalid_argument(model):
    serving, multiple, max_side = model
    smallest = translation.minimum_side(multiple)
    check_request(serving, [VALID_IMAGES[0]], max_side=max_side, smallest=smallest)  # warm: graphs traced
    start = memory_mb()["VmRSS"]
    reset_peak_memory()

    @FUZZ
    @given(batch=requests(max_side, smallest))
    @example(batch=[])
    @example(batch=[b""])
    @example(batch=[png_declaring(20000, 20000)])
    @example(batch=[jpeg_declaring(20000, 20000)])
    @example(batch=[png_declaring(60000, 1)])
    @example(batch=[jpeg_declaring(1, 60000)])
    @example(batch=[png_declaring(2**32 - 1, 2**32 - 1)])
    @example(batch=[VALID_IMAGES[0][:100], VALID_IMAGES[1][:200]])
    @example(batch=[VALID_IMAGES[0], b"garbage", VALID_IMAGES[1]])
    @example(batch=VALID_IMAGES[:4])
    def fuzz(batch):
        check_request(serving, batch, max_side=max_side, smallest=smallest)

    fuzz()
    # A huge claim is refused from the header, before any pixel is decoded: neither the peak nor
    # what stays resident may grow by much (a decoded 20000x20000 image alone would be 1.2 GB).
    memory = memory_mb()
    assert memory["VmHWM"] - start < MEMORY_BOUND_MB, (start, memory)
    assert memory["VmRSS"] - start < MEMORY_BOUND_MB, (start, memory)
    check_request(serving, VALID_IMAGES, max_side=max_side, smallest=smallest)  # still serving


# predict ---------------------------------------------------------------------------------------


def write_bad_files(folder: Path) -> dict[str, Path]:
    """One file (or entry) of each kind that predict must skip, by name."""
    random_bytes = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    contents = {
        "random.png": random_bytes,
        "random.jpg": random_bytes[::-1],
        "zero.png": b"",
        "zero.jpg": b"",
        "truncated.png": VALID_IMAGES[0][: len(VALID_IMAGES[0]) // 2],
        "truncated.jpg": VALID_IMAGES[1][: len(VALID_IMAGES[1]) // 2],
        "huge.png": png_declaring(20000, 20000),
        "huge.jpg": jpeg_declaring(20000, 20000),
        "thin.png": png_declaring(60000, 1),
        "text.jpg": b"hello, not an image\n",
        "small.png": encode(image_files.pixels(8, 40), "PNG"),  # below the 12 px reflect padding can grow to 32
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    paths["folder.png"] = folder / "folder.png"
    paths["folder.png"].mkdir()
    return paths


def write_good_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Valid images, by name, with their (height, width)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "photo.jpg").write_bytes(encode(image_files.pixels(40, 36, seed=7), "JPEG", quality=90))
    (folder / "labels.png").write_bytes(encode(image_files.pixels(47, 33, seed=8), "PNG"))
    return {"photo.jpg": (36, 40), "labels.png": (33, 47)}


def output_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size[1], image.size[0]


def test_predict_writes_valid_files_and_names_every_fuzzed_one(exported):
    runner = runners.load_runner(exported.out)
    smallest = translation.minimum_side(runner.multiple)  # predict pads like serving_default
    file_contents = st.one_of(
        st.binary(max_size=300),
        truncated(st.sampled_from(VALID_IMAGES[:2])),
        flipped(st.sampled_from(VALID_IMAGES[:2])),
        huge_or_degenerate_sides(4096, smallest).map(lambda size: png_declaring(*size)),
        huge_or_degenerate_sides(4096, smallest).map(lambda size: jpeg_declaring(*size)),
    )
    fuzzed_files = st.lists(st.tuples(file_contents, st.sampled_from([".png", ".jpg"])), min_size=1, max_size=5)

    @settings(FUZZ, max_examples=25)
    @given(files=fuzzed_files)
    def fuzz(files):
        with tempfile.TemporaryDirectory() as root:
            folder, out = Path(root, "in"), Path(root, "out")
            good = write_good_files(folder)
            for index, (contents, suffix) in enumerate(files):
                (folder / f"fuzzed{index}{suffix}").write_bytes(contents)
            written, problems = predict.predict(runner, [str(folder)], str(out), log=lambda *_: None)
            for name, size in good.items():
                assert output_size(out / (Path(name).stem + ".png")) == size
            # Every fuzzed file is written (it was a valid image after all) or named in one problem.
            for index, (contents, suffix) in enumerate(files):
                path = folder / f"fuzzed{index}{suffix}"
                named = [problem for problem in problems if problem.startswith(f"{path}: ")]
                output = out / f"fuzzed{index}.png"
                assert len(named) + output.exists() == 1, (path, problems)
                if output.exists():
                    size = expected_size(contents, max_side=4096, smallest=smallest)
                    assert size is not None and output_size(output) == size
            assert len(written) + len(problems) == len(good) + len(files)

    fuzz()


def test_predict_command_skips_bad_files_by_name_and_exits_1(exported, tmp_path, capsys):
    bad = write_bad_files(tmp_path / "in")
    good = write_good_files(tmp_path / "in")
    out = tmp_path / "out"
    assert cli.main(["predict", "--model", exported.out, str(tmp_path / "in"), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    skipped = [line for line in captured.err.splitlines() if line.startswith("skipped: ")]
    reasons = {}
    for name, path in bad.items():
        (reasons[name],) = [line for line in skipped if line.startswith(f"skipped: {path}: ")]
    assert len(skipped) == len(bad)
    assert "is empty (0 bytes)" in reasons["zero.png"] and "is empty (0 bytes)" in reasons["zero.jpg"]
    assert "cannot be decoded" in reasons["truncated.png"] and "cannot be decoded" in reasons["truncated.jpg"]
    assert "is 20000x20000, over the 4096-pixel limit" in reasons["huge.png"]
    assert "is 20000x20000, over the 4096-pixel limit" in reasons["huge.jpg"]
    assert "is 60000x1, over the 4096-pixel limit" in reasons["thin.png"]
    assert "is not an image" in reasons["text.jpg"] and "is a directory" in reasons["folder.png"]
    assert "smaller than 12x12" in reasons["small.png"] and "at least 12 px" in reasons["small.png"]
    assert f"wrote 2 image(s) to {out}; skipped {len(bad)}" in captured.out
    assert sorted(os.listdir(out)) == ["labels.png", "photo.png"]
    for name, size in good.items():
        assert output_size(out / (Path(name).stem + ".png")) == size


@pytest.mark.slow  # the real command in a subprocess
def test_predict_process_survives_bad_files_without_a_traceback(exported, tmp_path):
    bad = write_bad_files(tmp_path / "in")
    write_good_files(tmp_path / "in")
    result = run_cli("predict", "--model", exported.out, tmp_path / "in", "--out", tmp_path / "out", timeout=240)
    assert result.returncode == 1, result.stderr[-2000:]  # not killed by a signal, not a crash
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for path in bad.values():
        assert f"skipped: {path}: " in result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["labels.png", "photo.png"]
