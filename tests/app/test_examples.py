"""Example inputs: the input halves of a few validation pairs of the model's dataset, when on disk."""

import os

import numpy as np
from PIL import Image

from tests.paths import SAMPLE
from tfpix2pix.app.examples import example_inputs
from tfpix2pix.data import datasets


def test_examples_are_the_input_halves_of_the_first_val_pairs(tmp_path):
    written = example_inputs(datasets.SAMPLE_NAME, "BtoA", "unused", str(tmp_path), count=3)
    assert [os.path.basename(path) for path in written] == [f"facades-sample-{n}.png" for n in (1, 2, 3)]
    with Image.open(SAMPLE / "val" / "1.jpg") as pair:
        pair = np.asarray(pair.convert("RGB"))
    with Image.open(written[0]) as example:
        assert (np.asarray(example) == pair[:, 256:]).all()  # B, the label map, for BtoA
    (tmp_path / "a").mkdir()
    atob = example_inputs(datasets.SAMPLE_NAME, "AtoB", "unused", str(tmp_path / "a"), count=1)
    with Image.open(atob[0]) as example:
        assert (np.asarray(example) == pair[:, :256]).all()


def test_no_examples_without_a_known_dataset_on_disk(tmp_path):
    assert example_inputs(None, "AtoB", str(tmp_path), str(tmp_path)) == []  # the user's own data
    assert example_inputs("maps", "AtoB", str(tmp_path / "nowhere"), str(tmp_path)) == []  # not downloaded
    assert example_inputs(datasets.SAMPLE_NAME, "BtoA", "unused", str(tmp_path), count=0) == []


def test_unreadable_pairs_are_left_out(tmp_path):
    val = tmp_path / "root" / "maps" / "val"
    val.mkdir(parents=True)
    (val / "1.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (64, 32), (10, 20, 30)).save(val / "2.png")
    out = tmp_path / "out"
    out.mkdir()
    written = example_inputs("maps", "AtoB", str(tmp_path / "root"), str(out))
    assert [os.path.basename(path) for path in written] == ["maps-2.png"]
    with Image.open(written[0]) as example:
        assert example.size == (32, 32)
