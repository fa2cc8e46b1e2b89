"""An export finishes or leaves its folder as it was: the record of writes, undone on failure and on SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.paths import REPO
from tfpix2pix.export.rollback import Rollback


def test_a_failure_removes_what_was_created_and_restores_what_was_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("the earlier export's README")
    (out / "untouched.txt").write_text("kept")
    with pytest.raises(RuntimeError, match="conversion failed"):
        with Rollback(str(out)) as changes:
            changes.record_folders(str(out / "saved_model" / "7"))
            for path in (out / "saved_model" / "7", out / "README.md", out / "untouched.txt", out / "never.tflite"):
                changes.record(str(path))
            (out / "saved_model" / "7").mkdir(parents=True)
            (out / "saved_model" / "7" / "saved_model.pb").write_bytes(b"pb")
            (out / "README.md").write_text("half of a new README")
            raise RuntimeError("conversion failed")
    assert sorted(path.name for path in out.iterdir()) == ["README.md", "untouched.txt"]
    assert (out / "README.md").read_text() == "the earlier export's README"


def test_a_finished_export_keeps_its_writes_and_drops_the_backups(tmp_path):
    (tmp_path / "README.md").write_text("old")
    with Rollback(str(tmp_path)) as changes:
        changes.record(str(tmp_path / "README.md"))
        (tmp_path / "README.md").write_text("new")
    assert [path.name for path in tmp_path.iterdir()] == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "new"


@pytest.mark.slow  # a real export process stopped by SIGTERM
@pytest.mark.parametrize("flags,last_folder", [((), "saved_model"), (("--bf16", "--no-onnx"), "saved_model_bf16")])
def test_sigterm_during_export_rolls_back_and_says_so(exported, tmp_path, flags, last_folder):
    out = tmp_path / "export"
    out.mkdir()
    earlier = {"README.md": b"an earlier export's README\n", "export.json": b"{}\n"}
    for name, contents in earlier.items():
        (out / name).write_bytes(contents)
    process = subprocess.Popen(
        [sys.executable, "-m", "tfpix2pix", "export", "--workdir", exported.workdir, "--out", str(out), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    version = out / "saved_model" / "40"
    deadline = time.monotonic() + 240
    while not (out / last_folder / "40").is_dir():  # the SavedModel(s) in place; Keras and TFLite files come next
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert f"stopped by signal {signal.SIGTERM}; rolled back, {out} is as it was (undone: " in stderr
    assert "saved_model" in stderr and "Traceback" not in stderr
    assert {path.name: path.read_bytes() for path in out.iterdir()} == earlier
    # Nothing is left in the way: the same export now runs to the end.
    again = subprocess.run(
        [sys.executable, "-m", "tfpix2pix", "export", "--workdir", exported.workdir, "--out", str(out),
         "--tflite", "none"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=240,
    )
    assert again.returncode == 0, again.stderr
    assert (version / "saved_model.pb").is_file() and (out / "generator.keras").is_file()


def test_a_signal_swallowed_by_a_converter_still_stops_the_export():
    from tfpix2pix.export import rollback

    with rollback.signals_raise():
        rollback.raise_if_stopped()  # nothing received yet
        try:  # tf2onnx catches every Exception in its rewriters and optimizers
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except Exception:
            pass
        with pytest.raises(rollback.Stopped, match=f"stopped by signal {signal.SIGTERM}"):
            rollback.raise_if_stopped()
    with rollback.signals_raise():
        rollback.raise_if_stopped()  # a new export starts unstopped
