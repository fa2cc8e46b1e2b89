"""Tests for tfpix2pix.validate, on fixture files written by tests/image_files.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import image_files
from tests.paths import REPO
from tfpix2pix.data import validate
from tfpix2pix.errors import UsageError

MIN_SIZE = image_files.MIN_SIZE


def decode_like_pipeline(path: Path) -> np.ndarray:
    contents = tf.io.read_file(str(path))
    return tf.io.decode_image(contents, channels=3, expand_animations=False).numpy()


@pytest.mark.parametrize("kind", sorted(image_files.BAD_KINDS))
def test_each_bad_kind_is_refused_with_its_reason(tmp_path, kind):
    path = image_files.write_kind(tmp_path, kind)
    reason = validate.check_image(str(path), paired=True, min_size=MIN_SIZE)
    assert reason is not None and image_files.BAD_KINDS[kind][1] in reason, reason


def test_reasons_name_the_sizes(tmp_path):
    def reason(kind):
        return validate.check_image(str(image_files.write_kind(tmp_path, kind)), paired=True, min_size=MIN_SIZE)

    assert reason("odd_width") == "is 65x32: an odd width cannot be split into equal A|B halves"
    assert reason("tiny") == "is 16x8: each A|B half is 8x8, smaller than 16x16"
    assert reason("huge_png") == "is 20000x10000, over the 8192-pixel limit per side: downscale it"
    assert reason("zero_byte") == "is empty (0 bytes)"
    assert reason("text_named_jpg") == "is not an image (it starts with b'hello, n')"


def test_huge_image_is_refused_from_its_header_before_decoding(tmp_path):
    # The file holds 64x32 pixels under a 20000x10000 header: a decode would fail with a data
    # error (or allocate 600 MB); the size reason proves only the header was read.
    path = image_files.write_kind(tmp_path, "huge_jpeg")
    assert path.stat().st_size < 10_000
    assert "20000x10000" in validate.check_image(str(path), paired=True, min_size=MIN_SIZE)


def test_size_limits_are_inclusive(tmp_path):
    exact = image_files.write_good(tmp_path / "exact.png", width=2 * MIN_SIZE, height=MIN_SIZE)
    assert validate.check_image(str(exact), paired=True, min_size=MIN_SIZE) is None
    assert validate.check_image(str(exact), paired=False, min_size=MIN_SIZE) is None
    assert validate.check_image(str(exact), paired=False, min_size=MIN_SIZE + 1) == "is 32x16, smaller than 17x17"
    assert validate.check_image(str(exact), paired=True, min_size=MIN_SIZE, max_side=32) is None
    assert "over the 31-pixel limit" in validate.check_image(str(exact), paired=True, min_size=1, max_side=31)


def test_odd_width_is_fine_when_not_paired(tmp_path):
    path = image_files.write_kind(tmp_path, "odd_width")
    assert validate.check_image(str(path), paired=False, min_size=MIN_SIZE) is None


@pytest.mark.slow  # a subprocess as another user
def test_unreadable_file_is_reported(tmp_path):
    # Root reads a chmod 000 file anyway, so as root the check runs in a child process that drops
    # to the "nobody" user after its imports (Python's own files may not be readable by nobody).
    if os.geteuid() != 0:
        path = image_files.write_kind(tmp_path, "unreadable")
        assert validate.check_image(str(path), paired=True, min_size=MIN_SIZE).startswith("cannot be read: permission denied")
        return
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # nobody must reach the file to be refused by its own mode.
        path = image_files.write_kind(Path(folder), "unreadable")
        script = textwrap.dedent(
            f"""
            import os, sys
            sys.path.insert(0, {str(REPO)!r})
            from tfpix2pix.data.validate import check_image
            os.setgid(65534)
            os.setuid(65534)
            print(check_image({str(path)!r}, paired=True, min_size=16))
            """
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "cannot be read: permission denied (fix with chmod a+r)"


EXPECTED_MODES = {
    "grayscale_jpeg": "L",
    "grayscale_png": "L",
    "gray_alpha_png": "LA",
    "rgba_png": "RGBA",
    "palette_png": "P",
    "palette_transparent_png": "P",
    "one_bit_png": "1",
    "rgb16_png": "RGB",  # Pillow reads 16-bit RGB as 8-bit RGB (high bytes).
    "gray16_png": "I;16",
    "cmyk_jpeg": "CMYK",
    "progressive_jpeg": "RGB",
}


@pytest.mark.parametrize("kind", sorted(image_files.ODD_KINDS))
def test_odd_formats_pass_and_tensorflow_decodes_them_like_pillow(tmp_path, kind):
    path = image_files.write_kind(tmp_path, kind)
    with Image.open(path) as image:
        assert image.mode == EXPECTED_MODES[kind]  # The fixture is what its name says.
        if kind == "gray16_png":
            # Pillow's convert("RGB") clips 16-bit gray to 255; the faithful 8-bit value is the
            # high byte, which is what TensorFlow returns.
            expected = np.repeat((np.asarray(image) >> 8).astype(np.uint8)[..., None], 3, axis=-1)
        else:
            expected = np.asarray(image.convert("RGB"))
    assert validate.check_image(str(path), paired=True, min_size=MIN_SIZE) is None
    decoded = decode_like_pipeline(path)
    assert decoded.shape == (image_files.HEIGHT, image_files.WIDTH, 3) and decoded.dtype == np.uint8
    difference = np.abs(decoded.astype(int) - expected.astype(int))
    if path.suffix == ".png":
        assert difference.max() == 0
    else:
        # decode_image uses libjpeg's fast integer IDCT, Pillow the accurate one: they differ by
        # about one level on average and by up to ~20 at the sharp edges of this pattern.
        assert difference.mean() < 2.0 and difference.max() <= 24, (difference.mean(), difference.max())


@pytest.mark.parametrize("kind", ["grayscale_jpeg", "cmyk_jpeg", "progressive_jpeg"])
def test_accurate_idct_matches_pillow_exactly(tmp_path, kind):
    # For data.py: decode_jpeg(dct_method="INTEGER_ACCURATE") reproduces Pillow's pixels bit for bit.
    path = image_files.write_kind(tmp_path, kind)
    decoded = tf.io.decode_jpeg(tf.io.read_file(str(path)), channels=3, dct_method="INTEGER_ACCURATE")
    with Image.open(path) as image:
        np.testing.assert_array_equal(decoded.numpy(), np.asarray(image.convert("RGB")))


def test_sixteen_bit_rgb_keeps_the_high_byte(tmp_path):
    path = image_files.write_kind(tmp_path, "rgb16_png")
    np.testing.assert_array_equal(decode_like_pipeline(path), image_files.pixels())  # values were p * 256 + 200


def test_corrupt_files_that_pillow_accepts_are_refused(tmp_path):
    # Pillow decodes both of these without an error; TensorFlow, and so training, would stop.
    jpeg = tmp_path / "good.jpg"
    image_files.write_good(jpeg)
    contents = jpeg.read_bytes()
    no_end_marker = tmp_path / "no_end_marker.jpg"
    no_end_marker.write_bytes(contents[:-2] + b"\x00" * 10)
    png = image_files.png_bytes(image_files.pixels())
    bad_end_chunk = tmp_path / "bad_end_chunk.png"
    bad_end_chunk.write_bytes(png[:-12] + b"\x00\x00\x00\x05" + png[-8:])
    for path in (no_end_marker, bad_end_chunk):
        with Image.open(path) as image:
            image.load()
        assert validate.check_image(str(path), paired=True, min_size=MIN_SIZE).startswith("cannot be decoded")


def test_every_truncated_file_is_refused(tmp_path):
    jpeg = image_files.write_good(tmp_path / "good.jpg")
    sources = {".png": image_files.png_bytes(image_files.pixels()), ".jpg": jpeg.read_bytes()}
    for suffix, data in sources.items():
        path = tmp_path / f"cut{suffix}"
        for length in list(range(0, len(data), max(1, len(data) // 40))) + list(range(len(data) - 16, len(data) + 1)):
            path.write_bytes(data[:length])
            passed = validate.check_image(str(path), paired=True, min_size=MIN_SIZE) is None
            assert passed == (length == len(data)), (suffix, length)


def test_list_split_sorts_naturally_and_separates_other_files(tmp_path):
    for name in ["10.jpg", "2.jpg", "1.PNG", "a10.png", "a9.jpeg", "notes.txt", ".DS_Store", "._2.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "subfolder").mkdir()
    images, others = validate.list_split(str(tmp_path))
    assert [Path(path).name for path in images] == ["1.PNG", "2.jpg", "10.jpg", "a9.jpeg", "a10.png"]
    assert [Path(path).name for path in others] == ["._2.jpg", ".DS_Store", "notes.txt", "subfolder"]


def test_missing_folder_and_file_as_folder_are_named(tmp_path):
    with pytest.raises(UsageError, match=f"data folder {tmp_path / 'nope'} does not exist"):
        validate.scan_pairs(str(tmp_path / "nope"), min_size=MIN_SIZE)
    file = image_files.write_good(tmp_path / "1.jpg")
    with pytest.raises(UsageError, match="is not a directory"):
        validate.list_split(str(file))


def test_empty_split_is_always_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"empty holds no \.jpg, \.jpeg, \.png images \(it is empty\)"):
        validate.scan_pairs(str(tmp_path / "empty"), min_size=MIN_SIZE)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("hi")
    with pytest.raises(UsageError, match=r"holds no .* images \(it holds only: readme.txt\)"):
        validate.scan_pairs(str(tmp_path / "text"), min_size=MIN_SIZE)


def test_mixed_folder_stops_with_the_full_list(tmp_path):
    kinds = sorted(image_files.BAD_KINDS)
    image_files.make_split(tmp_path, good=3, kinds=kinds)
    (tmp_path / "notes.txt").write_text("not an image")
    notes = []
    good, bad = validate.scan_pairs(str(tmp_path), min_size=MIN_SIZE, log=notes.append)
    assert [Path(path).name for path in good] == ["1.jpg", "2.jpg", "3.jpg"]
    assert notes == [f"note: ignoring 1 non-image entries in {tmp_path}: notes.txt"]
    assert sorted(Path(bad_file.path).stem for bad_file in bad) == kinds
    with pytest.raises(UsageError) as raised:
        validate.enforce(bad, skip_bad=False, split_name=str(tmp_path), good_count=len(good))
    message = str(raised.value)
    assert message.startswith(f"{tmp_path} has {len(kinds)} bad image file(s); fix or remove them, or pass --skip-bad")
    for bad_file in bad:
        assert f"\n  {bad_file.path}: {bad_file.reason}" in message


def test_skip_bad_logs_the_skipped_files_and_goes_on(tmp_path):
    image_files.make_split(tmp_path, good=2, kinds=["zero_byte", "odd_width"])
    good, bad = validate.scan_pairs(str(tmp_path), min_size=MIN_SIZE)
    logged = []
    validate.enforce(bad, skip_bad=True, split_name="train", good_count=len(good), log=logged.append)
    assert len(logged) == 1
    assert logged[0].startswith("--skip-bad: skipping 2 bad image file(s) in train, using the other 2:")
    assert "odd_width.jpg: is 65x32" in logged[0] and "zero_byte.jpg: is empty" in logged[0]


def test_all_bad_is_an_error_even_with_skip_bad(tmp_path):
    image_files.make_split(tmp_path, good=0, kinds=["zero_byte"])
    good, bad = validate.scan_pairs(str(tmp_path), min_size=MIN_SIZE)
    with pytest.raises(UsageError, match="train has no usable images: all 1 image files are bad:\n  .*zero_byte.jpg"):
        validate.enforce(bad, skip_bad=True, split_name="train", good_count=len(good))


def test_enforce_without_bad_files_is_silent():
    logged = []
    validate.enforce([], skip_bad=False, split_name="train", good_count=5, log=logged.append)
    assert logged == []


def test_match_folders_pairs_by_name_without_extension(tmp_path):
    for folder, names in (("a", ["10.jpg", "2.png", "1.jpg"]), ("b", ["1.png", "10.jpeg", "2.jpg"])):
        (tmp_path / folder).mkdir()
        for name in names:
            image_files.write_good(tmp_path / folder / name)
    pairs, bad = validate.match_folders(str(tmp_path / "a"), str(tmp_path / "b"), min_size=MIN_SIZE)
    assert bad == []
    assert [(Path(a).name, Path(b).name) for a, b in pairs] == [("1.jpg", "1.png"), ("2.png", "2.jpg"), ("10.jpg", "10.jpeg")]


def test_match_folders_lists_unmatched_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for index in range(25):
        image_files.write_good(tmp_path / "a" / f"{index}.png", width=16, height=16)
    image_files.write_good(tmp_path / "b" / "0.png", width=16, height=16)
    image_files.write_good(tmp_path / "b" / "extra.png", width=16, height=16)
    with pytest.raises(UsageError) as raised:
        validate.match_folders(str(tmp_path / "a"), str(tmp_path / "b"), min_size=MIN_SIZE)
    message = str(raised.value)
    a_only = ", ".join(f"{index}.png" for index in range(1, 21))
    assert f"24 only in {tmp_path / 'a'}: {a_only} and 4 more" in message
    assert f"1 only in {tmp_path / 'b'}: extra.png" in message


def test_match_folders_refuses_ambiguous_names(tmp_path):
    for folder, names in (("a", ["1.jpg", "1.png"]), ("b", ["1.png"])):
        (tmp_path / folder).mkdir()
        for name in names:
            image_files.write_good(tmp_path / folder / name)
    with pytest.raises(UsageError, match="differ only by extension.*1.jpg and 1.png"):
        validate.match_folders(str(tmp_path / "a"), str(tmp_path / "b"), min_size=MIN_SIZE)


def test_match_folders_drops_a_pair_with_a_bad_file(tmp_path):
    image_files.make_split(tmp_path / "a", good=2)
    image_files.make_split(tmp_path / "b", good=1)
    (tmp_path / "b" / "2.jpg").write_bytes(b"")
    # Not paired: an odd width is fine in separate A and B folders.
    image_files.write_kind(tmp_path / "a", "odd_width", name="3.png")
    image_files.write_kind(tmp_path / "b", "odd_width", name="3.png")
    pairs, bad = validate.match_folders(str(tmp_path / "a"), str(tmp_path / "b"), min_size=MIN_SIZE)
    assert [(Path(a).name, Path(b).name) for a, b in pairs] == [("1.jpg", "1.jpg"), ("3.png", "3.png")]
    assert bad == [validate.BadFile(str(tmp_path / "b" / "2.jpg"), "is empty (0 bytes)")]


def non_utf8_name(folder: Path) -> str:
    """Writes a good image under a name that is not valid UTF-8 (Latin-1 'é', as Windows archives give)."""
    raw = os.path.join(os.fsencode(str(folder)), b"caf\xe9.jpg")
    Image.fromarray(image_files.pixels()).save(open(raw, "wb"), format="JPEG")
    return os.fsdecode(raw)


def test_a_name_that_is_not_utf8_is_a_bad_file_shown_with_escapes(tmp_path):
    path = non_utf8_name(tmp_path)
    assert "not valid UTF-8" in validate.check_image(path, paired=True, min_size=image_files.MIN_SIZE)
    image_files.write_good(tmp_path / "1.jpg")
    good, bad = validate.scan_pairs(str(tmp_path), min_size=image_files.MIN_SIZE, log=lambda *_: None)
    assert [os.path.basename(path) for path in good] == ["1.jpg"] and len(bad) == 1
    with pytest.raises(UsageError) as error:
        validate.enforce(bad, skip_bad=False, split_name=str(tmp_path), good_count=1)
    assert "caf\\xe9.jpg: has a file name that is not valid UTF-8" in str(error.value)
    str(error.value).encode("utf-8")  # printable as it is


def test_pairs_of_unequal_sizes_and_exif_rotated_photos_are_named(tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    Image.fromarray(image_files.pixels(32, 32)).save(a_dir / "1.png")
    Image.fromarray(image_files.pixels(48, 32)).save(b_dir / "1.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(image_files.pixels(32, 32)).save(a_dir / "2.jpg", exif=exif)
    Image.fromarray(image_files.pixels(32, 32)).save(b_dir / "2.png")
    notes = []
    pairs, bad = validate.match_folders(str(a_dir), str(b_dir), min_size=16, log=notes.append)
    assert len(pairs) == 2 and not bad
    assert notes == [
        "note: 1 pair(s) have A and B of different sizes; both halves are resized to the same square, so the "
        "aspect of one changes: 1.png (32x32 and 48x32)",
        "note: 1 image(s) carry an EXIF rotation, which training ignores (pixels are used as stored): rotate them "
        f"(e.g. exiftran -ai) if they look sideways: {a_dir / '2.jpg'}",
    ]
