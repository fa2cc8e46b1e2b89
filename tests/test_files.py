"""Files on any registered filesystem: schemes checked up front, and the whole cycle on ram://.

TensorFlow's in-memory filesystem ram:// stands in for gs:// (no network here): it is a real
registered scheme that only `tf.io.gfile` and TensorFlow's own ops can reach, so any local
`open`/`os` call left on the path would fail or write a local folder named `ram:`.
"""

import os
import tempfile
import uuid

import numpy as np
import pytest
from PIL import Image

from tests.paths import REPO, SAMPLE
from tfpix2pix import cli, files
from tfpix2pix.errors import UsageError


@pytest.mark.parametrize("path, message", [
    ("s3://bucket/run", "TensorFlow has no filesystem for s3:// (registered: gs://, ram://); `pip install "
                        "tensorflow-io` and `import tensorflow_io` register it"),
    ("foo://x", "TensorFlow has no filesystem for foo://"),
    ("gs:/bucket/run", "'gs:/' is not a filesystem path; write gs://bucket/run"),
])
def test_a_path_tensorflow_cannot_open_is_refused_naming_the_scheme(path, message):
    with pytest.raises(UsageError, match=f"^--workdir {path}: " + message.replace("(", r"\(").replace(")", r"\)")):
        files.check(path, "--workdir")
    assert files.check("ram://x/run", "--workdir") == "ram://x/run" and files.check("runs/x", "--workdir") == "runs/x"


def test_an_unregistered_scheme_stops_train_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for workdir in ("s3://bucket/run", "gs:/bucket/run"):
        assert cli.main(["train", "--preset", "tiny", "--steps", "1", "--workdir", workdir]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"tfpix2pix train: error: --workdir {workdir}: ") and error.count("\n") == 1
    assert os.listdir(tmp_path) == []  # no local folder named after the path


@pytest.mark.slow  # trains, exports and predicts: the whole cycle
def test_the_whole_cycle_runs_on_ram_and_writes_nothing_local(tmp_path, capsys, monkeypatch):
    root = f"ram://tfpix2pix-{uuid.uuid4().hex}"
    files.copy_tree(str(SAMPLE), f"{root}/pairs")
    photo = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)  # any size: padded
    buffer = tempfile.SpooledTemporaryFile()
    Image.fromarray(photo).save(buffer, format="PNG")
    buffer.seek(0)
    files.write_bytes(f"{root}/photos/photo.png", buffer.read())
    local = tmp_path / "cwd"
    local.mkdir()
    monkeypatch.chdir(local)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the one local folder the cycle may use
    run = f"{root}/run"
    steps = [
        ["train", "--data-dir", f"{root}/pairs", "--direction", "BtoA", "--preset", "tiny", "--steps", "3",
         "--set", "train.save_every=3", "--workdir", run],
        ["train", "--workdir", run, "--steps", "5"],  # resumes
        ["test", "--workdir", run],
        ["export", "--workdir", run, "--out", f"{root}/export", "--tflite", "fp32"],
        ["predict", "--model", f"{root}/export", f"{root}/photos", "--out", f"{root}/out-savedmodel"],
        ["predict", "--model", f"{root}/export/export_fp32.tflite", f"{root}/photos/photo.png",
         "--out", f"{root}/out-tflite"],
    ]
    for argv in steps:
        assert cli.main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "at step 3" in printed
    for path in ("config.json", "checkpoints/ckpt-5.index", "samples/step_0000005.png", "results/val/index.html",
                 "results/val/metrics.json"):
        assert files.isfile(f"{run}/{path}"), path
    for path in ("saved_model/5/saved_model.pb", "saved_model/5/assets.extra/tfpix2pix.json", "generator.keras",
                 "export_fp32.tflite", "export_fp32.json", "README.md", "export.json", "models.config"):
        assert files.isfile(f"{root}/export/{path}"), path
    for folder in ("out-savedmodel", "out-tflite"):
        with files.open_file(f"{root}/{folder}/photo.png", "rb") as file:
            assert Image.open(file).size == (56, 40)
    assert os.listdir(local) == []
    # The temporary folder holds TensorFlow's own autograph sources; tfpix2pix's scratch folders are gone.
    assert [name for name in os.listdir(scratch) if not name.startswith("__autograph_generated_file")] == []
    assert not any("ram:" in name for root in (REPO, tmp_path) for _, folders, _ in os.walk(root) for name in folders)
