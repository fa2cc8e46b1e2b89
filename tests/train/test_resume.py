"""Crashes: SIGKILL mid-run and mid-save, damaged checkpoints, a full disk, non-finite losses.

Every test drives the real command line in a subprocess and kills it for real.
"""

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.cli_run import run_cli
from tests.paths import REPO
from tfpix2pix import cli
from tfpix2pix.inference import restore

pytestmark = pytest.mark.slow  # real processes killed, filled disks, resumed

# 64x64 with 16 filters: slow enough (a few steps per second) to be killed at a chosen moment.
SLOW_TINY = ["--preset", "tiny", "--set", "data.image_size=64", "--set", "data.load_size=72",
             "--set", "model.base_filters=16", "--set", "model.discriminator_filters=16"]


def generator_weights(workdir, checkpoint=None):
    """Every weight and optimizer slot of both networks in the latest checkpoint, by name.

    Keras 3 models reach the checkpoint through their optimizers, so the weights are stored
    under `generator_optimizer/_trainable_variables/...` (slots under `.../_variables/...`).
    """
    path = checkpoint or tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    names = [name for name, _ in tf.train.list_variables(path) if name.split("/")[0].endswith("_optimizer")]
    return {name: reader.get_tensor(name) for name in names}


def start_training(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "tfpix2pix", "train", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def wait_for(condition, process, timeout=240):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"training ended before the kill point:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the kill point")
        time.sleep(0.005)


@pytest.fixture(scope="module")
def six_steps(tmp_path_factory):
    """A finished 6-step tiny run with checkpoints at steps 3 and 6, trained once for this file."""
    workdir = tmp_path_factory.mktemp("six-steps") / "run"
    run_cli("train", "--preset", "tiny", "--steps", 6, "--set", "train.save_every=3", "--workdir", workdir, check=True)
    return workdir


@pytest.fixture
def run_copy(six_steps, tmp_path):
    """This test's own copy of the 6-step run, free to damage."""
    workdir = tmp_path / "run"
    shutil.copytree(six_steps, workdir)
    return workdir


def test_sigkill_after_a_checkpoint_then_resume_is_bitwise_identical(tmp_path):
    common = [*SLOW_TINY, "--steps", 40, "--deterministic", "--seed", 5, "--set", "train.save_every=5"]
    straight = tmp_path / "straight"
    run_cli("train", *common, "--workdir", straight, check=True)

    killed = tmp_path / "killed"
    process = start_training(*common, "--workdir", killed)
    wait_for(lambda: (killed / "checkpoints" / "ckpt-20.index").exists(), process)
    time.sleep(random.uniform(0.0, 0.4))  # a random moment after the step-20 checkpoint
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    steps_done = int(tf.train.latest_checkpoint(str(killed / "checkpoints")).rsplit("-", 1)[1])
    assert 20 <= steps_done < 40

    resumed = run_cli("train", "--steps", 40, "--workdir", killed, check=True)
    assert f"at step {steps_done}" in resumed.stdout
    expected, actual = generator_weights(straight), generator_weights(killed)
    assert expected.keys() == actual.keys() and len(expected) > 10
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path):
    # 64 base filters make a ~280 MB checkpoint (weights + Adam slots): its write takes a while.
    workdir = tmp_path / "run"
    big = ["--preset", "tiny", "--set", "model.base_filters=64", "--set", "model.discriminator_filters=64",
           "--set", "train.save_every=3", "--steps", 9]
    process = start_training(*big, "--workdir", workdir)
    checkpoints = workdir / "checkpoints"
    # ckpt-3 complete (named in the `checkpoint` state file, written last) and the ckpt-6 save in
    # progress, which shows as TensorFlow's temporary folder next to the checkpoints.
    def saving_the_second():
        latest = tf.train.latest_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
        return (latest is not None and latest.endswith("ckpt-3")
                and any(name.startswith("ckpt-6") and "_temp" in name for name in os.listdir(checkpoints)))

    wait_for(saving_the_second, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    latest = tf.train.latest_checkpoint(str(checkpoints))
    assert latest == str(checkpoints / "ckpt-3")
    tf.train.load_checkpoint(latest)  # loadable
    resumed = run_cli("train", *big, "--workdir", workdir, check=True)
    assert f"resumed from {latest}" in resumed.stdout
    assert "done: step 9/9" in resumed.stdout


def test_damaged_latest_checkpoint_falls_back_to_the_previous(run_copy):
    workdir = run_copy
    data_file = workdir / "checkpoints" / "ckpt-6.data-00000-of-00001"
    data_file.write_bytes(data_file.read_bytes()[:1000])  # truncated
    warnings = []
    assert restore.load_generator(str(workdir), log=warnings.append)[2] == 3  # inference falls back too
    assert len(warnings) == 1 and "ckpt-6 is damaged" in warnings[0]
    resumed = run_cli("train", "--steps", 9, "--workdir", workdir, check=True)
    assert "warning" in resumed.stdout and "ckpt-6" in resumed.stdout
    assert "at step 3" in resumed.stdout and "done: step 9/9" in resumed.stdout


def test_no_loadable_checkpoint_is_one_clear_error_and_nothing_changes(run_copy, capsys):
    workdir = run_copy
    for data_file in (workdir / "checkpoints").glob("ckpt-*.data-*"):
        data_file.write_bytes(b"")
    before = {path.name: path.read_bytes() for path in (workdir / "checkpoints").iterdir() if path.is_file()}
    for argv in (["test", "--workdir", str(workdir)], ["train", "--steps", "9", "--workdir", str(workdir)]):
        assert cli.main(argv) == 2
        error = capsys.readouterr().err
        assert f"no checkpoint in {workdir / 'checkpoints'} can be restored (tried ckpt-3, ckpt-6)" in error
        assert "Traceback" not in error
    assert {path.name: path.read_bytes() for path in (workdir / "checkpoints").iterdir() if path.is_file()} == before


def test_full_disk_stops_with_a_clear_error_and_no_partial_latest(run_copy):
    workdir = run_copy
    before = (workdir / "checkpoints" / "checkpoint").read_text()

    def limit_file_size():  # files cannot grow past 64 KiB: the next checkpoint cannot be written
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run(
        [sys.executable, "-m", "tfpix2pix", "train", "--steps", "9", "--set", "train.save_every=3",
         "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(workdir / "checkpoints") in result.stderr and "step 9" in result.stderr
    assert (workdir / "checkpoints" / "checkpoint").read_text() == before
    tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / "checkpoints")))


def test_a_really_full_filesystem_stops_with_a_clear_error_and_no_partial_latest(six_steps, tmp_path):
    """ENOSPC for real: the work dir on a tmpfs with room for half of the next checkpoint."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs (CI has it)")
    source = six_steps
    used = sum(path.stat().st_size for path in source.rglob("*") if path.is_file())
    checkpoint_size = sum(path.stat().st_size for path in (source / "checkpoints").glob("ckpt-6.*"))
    size = used + checkpoint_size // 2 + 64 * 1024  # a little for directories and the log's next events
    mount = tmp_path / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"needs root and permission to mount a tmpfs (CI has both): {mounted.stderr.strip()}")
    try:
        workdir = mount / "run"
        subprocess.run(["cp", "-a", str(source), str(workdir)], check=True)
        before = (workdir / "checkpoints" / "checkpoint").read_text()
        result = run_cli("train", "--steps", 9, "--set", "train.save_every=3", "--workdir", workdir)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert str(workdir / "checkpoints") in result.stderr and "step 9" in result.stderr, result.stderr
        assert "No space left on device" in result.stderr, result.stderr
        assert (workdir / "checkpoints" / "checkpoint").read_text() == before
        tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / "checkpoints")))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_unwritable_workdir_is_a_usage_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("train", "--preset", "tiny", "--steps", 2, "--workdir", blocker / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(blocker / "run") in result.stderr


def test_non_finite_loss_stops_naming_the_step_and_part(run_copy):
    workdir = run_copy
    checkpoint = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    before = generator_weights(workdir)
    # Inject divergence: resume with an absurd learning rate; the first update overflows.
    result = run_cli("train", "--steps", 9, "--workdir", workdir, "--set", "train.learning_rate=1e38",
                     "--set", "train.save_every=1")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "non-finite loss" in result.stderr and "at step 7" in result.stderr and "g_total=nan" in result.stderr
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")) == checkpoint
    for name, value in generator_weights(workdir).items():
        np.testing.assert_array_equal(value, before[name])


def test_a_second_train_is_refused_naming_the_first_while_readers_work_and_kill_9_frees_the_lock(tmp_path):
    workdir = tmp_path / "run"
    first = start_training(*SLOW_TINY, "--steps", 400, "--set", "train.save_every=5", "--workdir", workdir)
    wait_for(lambda: (workdir / "checkpoints" / "ckpt-5.index").exists(), first)
    config_before = (workdir / "config.json").read_bytes()
    second = run_cli("train", "--steps", 400, "--workdir", workdir)
    assert second.returncode == 2, second.stderr
    assert f"work dir {workdir} is in use by another train (pid {first.pid} on " in second.stderr
    assert "Traceback" not in second.stderr and (workdir / "config.json").read_bytes() == config_before
    # Readers need no lock: test and export restore a complete checkpoint while training goes on.
    assert run_cli("test", "--workdir", workdir, "--out", tmp_path / "results").returncode == 0
    exported = run_cli("export", "--workdir", workdir, "--out", tmp_path / "export", "--tflite", "none")
    assert exported.returncode == 0, exported.stderr
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=60) == -signal.SIGKILL
    reached = int(tf.train.latest_checkpoint(str(workdir / "checkpoints")).rsplit("-", 1)[1])
    # The lock died with its process: nothing to clean up, the next train resumes.
    resumed = run_cli("train", "--steps", reached + 2, "--workdir", workdir, check=True)
    assert f"at step {reached}" in resumed.stdout + resumed.stderr
