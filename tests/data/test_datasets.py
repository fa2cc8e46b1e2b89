"""Tests for tfpix2pix.datasets: the registry, the palettes, local status and ensure_dataset."""

import dataclasses
import glob
import io
import math
import os
import socket

import numpy as np
import pytest
from PIL import Image

from tfpix2pix import config
from tfpix2pix.data import datasets
from tfpix2pix.data.datasets import REGISTRY
from tfpix2pix.errors import UsageError

OFFICIAL = ("facades", "maps", "cityscapes", "edges2shoes", "edges2handbags", "night2day")


def test_registry_holds_the_official_sets_and_the_sample():
    assert tuple(REGISTRY) == OFFICIAL + ("facades-sample",)
    for name in OFFICIAL:
        info = REGISTRY[name]
        assert info.name == name
        assert info.url == f"http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
        assert info.preset == name and name in config.PRESETS
        assert info.splits[0] == "train"
    sample = REGISTRY["facades-sample"]
    assert (sample.url, sample.preset, sample.direction, sample.splits) == (None, "sample", "BtoA", ("train", "val"))
    assert sample.preset in config.PRESETS


def test_directions_follow_the_paper():
    directions = {name: info.direction for name, info in REGISTRY.items()}
    assert directions == {
        "facades": "BtoA",
        "maps": "AtoB",
        "cityscapes": "BtoA",
        "edges2shoes": "AtoB",
        "edges2handbags": "AtoB",
        "night2day": "AtoB",
        "facades-sample": "BtoA",
    }
    # The presets of the same names agree.
    for name in OFFICIAL:
        assert config.PRESETS[name].data.direction == directions[name]


def test_dataset_info_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        REGISTRY["facades"].direction = "AtoB"


def test_bundled_sample_has_24_train_and_8_val_pairs():
    folder = datasets.bundled_sample_dir()
    assert os.path.isabs(folder) and folder.endswith(os.path.join("tfpix2pix", "sample_data", "facades-sample"))
    train = sorted(glob.glob(os.path.join(folder, "train", "*.jpg")))
    val = sorted(glob.glob(os.path.join(folder, "val", "*.jpg")))
    assert (len(train), len(val)) == (24, 8)
    with Image.open(train[0]) as image:
        assert (image.size, image.mode) == ((512, 256), "RGB")


# --- palettes ------------------------------------------------------------------------------------


def matlab_jet(size):
    """MATLAB's jet(size) colormap, following its published definition."""
    n = math.ceil(size / 4)
    ramp = np.r_[np.arange(1, n + 1) / n, np.ones(n - 1), np.arange(n, 0, -1) / n]
    green = math.ceil(n / 2) - (size % 4 == 1) + np.arange(1, len(ramp) + 1)
    colormap = np.zeros((size, 3))
    for channel, rows in enumerate((green + n, green, green - n)):
        keep = (rows >= 1) & (rows <= size)
        colormap[rows[keep] - 1, channel] = ramp[keep]
    return colormap


def test_facades_palette_is_jet64_rows_6_to_61():
    rows = matlab_jet(64)[5:61:5]  # Rows 6, 11, ..., 61 (1-based).
    expected = tuple(tuple(int(value) for value in np.floor(row * 255 + 0.5)) for row in rows)
    assert datasets.FACADES_PALETTE == expected
    assert REGISTRY["facades"].palette == expected and REGISTRY["facades"].palette_side == "B"


def flat_label_pixels(files):
    """Right-half pixels whose 5x5 neighbourhood spans at most 8 per channel: no JPEG edge ringing."""
    pixels = []
    for path in files:
        with Image.open(path) as image:
            labels = np.asarray(image.convert("RGB"), dtype=np.int16)[:, 256:]
        # Per-channel max and min over 5x5 windows, computed separably.
        high, low = labels, labels
        for axis in (0, 1):
            size = high.shape[axis] - 4
            high = np.max([high.take(range(k, k + size), axis=axis) for k in range(5)], axis=0)
            low = np.min([low.take(range(k, k + size), axis=axis) for k in range(5)], axis=0)
        flat = (high - low).max(axis=-1) <= 8
        pixels.append(labels[2:-2, 2:-2][flat])
    return np.concatenate(pixels)


def jpeg_round_trip(color):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, "JPEG", quality=95)
    return np.asarray(Image.open(buffer))[16, 16].astype(int)


def test_facades_palette_matches_the_bundled_label_maps():
    files = sorted(glob.glob(os.path.join(datasets.bundled_sample_dir(), "*", "*.jpg")))
    pixels = flat_label_pixels(files)
    distance = np.stack([np.abs(pixels - color).max(axis=-1) for color in datasets.FACADES_PALETTE], axis=1)
    nearest = distance.argmin(axis=1)
    # Every flat label pixel is a palette color up to JPEG error, and all 12 classes occur.
    palette = np.array(datasets.FACADES_PALETTE)
    separation = np.abs(palette[:, None] - palette[None]).max(axis=-1) + 255 * np.eye(12, dtype=int)
    assert separation.min() == 48
    assert distance.min(axis=1).max() <= 10
    assert np.all(np.bincount(nearest, minlength=12) > 400)
    # Each cluster's median is what the palette color becomes through JPEG, up to 1 per channel.
    for index, color in enumerate(datasets.FACADES_PALETTE):
        median = np.median(pixels[nearest == index], axis=0)
        assert np.abs(median - jpeg_round_trip(color)).max() <= 1, (color, median)


def test_cityscapes_palette():
    info = REGISTRY["cityscapes"]
    assert info.palette_side == "B" and len(info.palette) == 20
    assert info.palette[0] == (128, 64, 128)  # road
    assert info.palette[13] == (0, 0, 142)  # car
    assert info.palette[-1] == (0, 0, 0)  # void
    assert len(set(info.palette)) == 20
    assert REGISTRY["maps"].palette is None and REGISTRY["maps"].palette_side is None


# --- local status --------------------------------------------------------------------------------


def test_dataset_dir(tmp_path):
    assert datasets.dataset_dir("maps", str(tmp_path)) == str(tmp_path / "maps")
    assert datasets.dataset_dir("facades-sample", str(tmp_path)) == datasets.bundled_sample_dir()
    with pytest.raises(UsageError, match=r"unknown dataset 'facade'; valid datasets: facades, maps, "):
        datasets.dataset_dir("facade", str(tmp_path))


def test_is_present_needs_a_file_in_train(tmp_path):
    assert not datasets.is_present("facades", str(tmp_path))
    (tmp_path / "facades" / "train").mkdir(parents=True)
    assert not datasets.is_present("facades", str(tmp_path))
    (tmp_path / "facades" / "train" / "1.jpg").write_bytes(b"jpg")
    assert datasets.is_present("facades", str(tmp_path))
    assert datasets.is_present("facades-sample", str(tmp_path))


def test_status_table(tmp_path):
    (tmp_path / "maps" / "train").mkdir(parents=True)
    (tmp_path / "maps" / "train" / "1.jpg").write_bytes(b"jpg")
    lines = datasets.status_table(str(tmp_path)).splitlines()
    assert lines[0].split() == ["name", "direction", "splits", "status", "path"]
    rows = {line.split()[0]: line.split() for line in lines[1:8]}
    assert rows["maps"] == ["maps", "AtoB", "train,val", "present", str(tmp_path / "maps")]
    assert rows["facades"] == ["facades", "BtoA", "train,val,test", "missing", str(tmp_path / "facades")]
    assert rows["facades-sample"][3:] == ["bundled", datasets.bundled_sample_dir()]
    assert str(tmp_path) in lines[-1]


# --- ensure_dataset ------------------------------------------------------------------------------


def test_ensure_dataset_returns_present_and_bundled_sets_without_network(tmp_path):
    assert datasets.ensure_dataset("facades-sample", str(tmp_path)) == datasets.bundled_sample_dir()
    (tmp_path / "night2day" / "train").mkdir(parents=True)
    (tmp_path / "night2day" / "train" / "1.jpg").write_bytes(b"jpg")
    assert datasets.ensure_dataset("night2day", str(tmp_path)) == str(tmp_path / "night2day")


def test_ensure_dataset_unknown_name(tmp_path):
    with pytest.raises(UsageError) as raised:
        datasets.ensure_dataset("edges2cats", str(tmp_path))
    assert str(raised.value) == (
        "unknown dataset 'edges2cats'; valid datasets: facades, maps, cityscapes, edges2shoes, "
        "edges2handbags, night2day, facades-sample"
    )


def test_ensure_dataset_without_download_names_the_ways_out(tmp_path):
    with pytest.raises(UsageError) as raised:
        datasets.ensure_dataset("maps", str(tmp_path), download=False)
    folder = tmp_path / "maps"
    assert str(raised.value) == (
        f"dataset 'maps' is not in {folder} and downloading is off; either put the dataset there by hand "
        f"({folder}/train/*.jpg, each file an A|B pair side by side) or use the bundled sample: "
        "--dataset facades-sample"
    )


def test_ensure_dataset_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "1.jpg").write_bytes(b"jpg")
    with pytest.raises(UsageError, match=r"maps exists but has no files in train/"):
        datasets.ensure_dataset("maps", str(tmp_path))
    assert (tmp_path / "maps" / "1.jpg").exists()


def test_ensure_dataset_offline(tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/maps.tar.gz"
    monkeypatch.setitem(REGISTRY, "maps", dataclasses.replace(REGISTRY["maps"], url=url))
    (tmp_path / "maps").mkdir()  # An empty folder is not in the way.
    with pytest.raises(UsageError) as raised:
        datasets.ensure_dataset("maps", str(tmp_path))
    message = str(raised.value)
    assert message.startswith(f"cannot download {url}: Connection refused; either put the dataset there by hand")
    assert message.endswith("--dataset facades-sample")
    assert os.listdir(tmp_path) == []


def test_every_palette_has_one_class_name_per_color_and_a_background():
    assert REGISTRY["facades"].classes == (
        "background", "facade", "window", "door", "cornice", "sill", "balcony", "blind", "deco", "molding", "pillar",
        "shop")
    assert REGISTRY["facades"].background == 0 and REGISTRY[datasets.SAMPLE_NAME].classes == REGISTRY["facades"].classes
    cityscapes = REGISTRY["cityscapes"]
    assert len(cityscapes.classes) == 20 and cityscapes.classes[:3] == ("road", "sidewalk", "building")
    assert cityscapes.classes[13] == "car" and cityscapes.palette[cityscapes.background] == (0, 0, 0)
    assert cityscapes.classes[cityscapes.background] == "void"
    for info in REGISTRY.values():
        assert (info.classes is None) == (info.palette is None) == (info.background is None), info.name
        if info.classes:
            assert len(info.classes) == len(set(info.classes)) == len(info.palette)
    with pytest.raises(ValueError, match="one class name per palette color"):
        dataclasses.replace(REGISTRY["facades"], classes=("background",))
