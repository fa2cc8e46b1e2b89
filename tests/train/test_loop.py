"""The training loop's guards, run in-process (tests/test_resume.py kills real subprocesses)."""

import os
import signal
import threading
import time

import pytest
import tensorflow as tf

from tfpix2pix import cli
from tfpix2pix.models import losses


def test_infinite_loss_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    workdir = tmp_path / "run"
    checkpoints = workdir / "checkpoints"
    assert cli.main(["train", "--preset", "tiny", "--steps", "3", "--set", "train.save_every=3",
                     "--workdir", str(workdir)]) == 0
    checkpoint = tf.train.latest_checkpoint(str(checkpoints))
    saved = {name: (checkpoints / name).read_bytes() for name in os.listdir(checkpoints)
             if (checkpoints / name).is_file()}  # best/ is a folder
    capsys.readouterr()

    # Divergence to +inf rather than NaN (tests/test_resume.py has NaN): the loss overflows from step 4 on.
    finite_generator_loss = losses.generator_loss

    def overflowing_generator_loss(*args, **kwargs):
        total, gan, l1 = finite_generator_loss(*args, **kwargs)
        return total * float("inf"), gan, l1

    monkeypatch.setattr(losses, "generator_loss", overflowing_generator_loss)
    assert cli.main(["train", "--steps", "6", "--set", "train.save_every=1", "--workdir", str(workdir)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"non-finite loss g_total=inf at step 4: training stopped; the last good checkpoint {checkpoint} is untouched" in err
    assert tf.train.latest_checkpoint(str(checkpoints)) == checkpoint
    assert {name: (checkpoints / name).read_bytes() for name in os.listdir(checkpoints)
            if (checkpoints / name).is_file()} == saved


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_the_current_step_and_the_run_resumes_from_it(tmp_path, capsys, number):
    workdir = tmp_path / "run"
    checkpoints = workdir / "checkpoints"

    def terminate_after_the_first_checkpoint():
        deadline = time.monotonic() + 120
        while not (checkpoints / "ckpt-2.index").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), number)

    # A harmless handler underneath the loop's own, in case the signal came after training ended.
    previous = signal.signal(number, lambda *_: None)
    killer = threading.Thread(target=terminate_after_the_first_checkpoint)
    try:
        killer.start()
        code = cli.main(["train", "--preset", "tiny", "--steps", "100000", "--set", "train.save_every=2",
                         "--workdir", str(workdir)])
        killer.join()
    finally:
        signal.signal(number, previous)
    assert code == 128 + number
    err = capsys.readouterr().err
    latest = tf.train.latest_checkpoint(str(checkpoints))
    step = int(latest.rsplit("-", 1)[1])
    assert f"stopped by signal {int(number)} at step {step}; checkpoint saved to {latest}" in err
    assert "Traceback" not in err and 2 <= step < 100000

    assert cli.main(["train", "--steps", str(step + 1), "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert f"at step {step}" in out and f"done: step {step + 1}/{step + 1}" in out
