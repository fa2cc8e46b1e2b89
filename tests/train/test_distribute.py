"""Distributed training on a CPU-only machine: MirroredStrategy over logical CPUs, two local workers.

Logical devices and collectives must be configured before TensorFlow initializes, so both
distributed tests run in fresh subprocesses, each under a hard timeout.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.cli_run import run_cli
from tests.paths import REPO
from tfpix2pix.errors import UsageError
from tfpix2pix.train import strategy as strategy_lib

pytestmark = pytest.mark.slow  # real worker processes and logical devices

# A hang guard, not a speed bound: the mirrored child trains six tiny runs (one under XLA), about
# 2 minutes alone on 2 cores and twice that beside the suite's other pytest worker.
CHILD_TIMEOUT_SECONDS = 480

MIRRORED_CHILD = textwrap.dedent("""
    import json, os, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import dataclasses, keras
    from tfpix2pix import config as config_lib
    from tfpix2pix.train import loop
    from tfpix2pix.train import strategy as strategy_lib
    from tfpix2pix.errors import UsageError
    from tfpix2pix.models.generator import build_unet_generator
    from tfpix2pix.models.discriminator import build_patchgan_discriminator
    from tfpix2pix.train.trainer import Trainer

    root, report = sys.argv[1], {}
    tiny = config_lib.preset("tiny")

    def run(name, strategy, norm, batch_size=2, steps=3, jit=False):
        config = dataclasses.replace(
            tiny, model=dataclasses.replace(tiny.model, norm=norm, dropout=0.0),
            train=dataclasses.replace(tiny.train, strategy=strategy, batch_size=batch_size, steps=steps, jit=jit),
        )
        return loop.train(config, workdir=os.path.join(root, name), log=lambda line: None, interactive=False)

    report["replicas"] = strategy_lib.make_strategy("mirrored").num_replicas_in_sync
    for norm in ("instance", "batch"):
        for strategy in ("default", "mirrored"):
            report[f"{norm}-{strategy}"] = run(f"{norm}-{strategy}", strategy, norm).checkpoint
    try:
        run("odd", "mirrored", "instance", batch_size=3)
    except UsageError as error:
        report["odd_batch_error"] = str(error)
    try:
        run("jit", "mirrored", "instance", jit=True)
    except UsageError as error:
        report["jit_error"] = str(error)

    # Dropout on: each replica must draw its own masks, from seeds that follow (step, replica).
    strategy = strategy_lib.make_strategy("mirrored")
    with strategy.scope():
        trainer = Trainer(
            generator=build_unet_generator(image_size=32, base_filters=8, dropout=0.5),
            discriminator=build_patchgan_discriminator(base_filters=8),
            generator_optimizer=keras.optimizers.Adam(2e-4), discriminator_optimizer=keras.optimizers.Adam(2e-4),
            strategy=strategy, global_batch_size=2, dropout_seed=3,
        )
        trainer.build_optimizers()
    image = tf.zeros([1, 32, 32, 3])
    inputs = strategy.experimental_distribute_values_from_function(lambda context: (image, image))
    trainer.train_step(tf.constant(5, tf.int64), inputs)
    report["seed_states"] = [[s.numpy().tolist() for s in strategy.experimental_local_results(state.value)]
                             for state in trainer._dropout_states]

    # float16 loss scaling: an overflow on replica 1 alone must skip the step on both replicas.
    with strategy.scope():
        weight = keras.Variable(tf.ones([3]))
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
        optimizer.build([weight])

    @tf.function
    def overflow_on_replica_1():
        def apply():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            gradient = tf.where(tf.equal(replica, 1), float("inf"), 1.0) * tf.ones([3])
            trainer._apply(optimizer, [gradient], [weight])
        strategy.run(apply)

    overflow_on_replica_1()
    report["after_overflow"] = [weight.numpy().tolist(), float(optimizer.dynamic_scale.numpy())]
    print("REPORT " + json.dumps(report))
""")


def _run_child(code: str, *args, env=None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_SECONDS, env=environment)


def _weights(checkpoint_path: str) -> dict:
    reader = tf.train.load_checkpoint(checkpoint_path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("save_counter") and "OBJECT_GRAPH" not in name}


def _assert_same_weights(first: str, second: str, *, atol: float) -> None:
    left, right = _weights(first), _weights(second)
    assert sorted(left) == sorted(right)
    # Keras models' trainable weights are saved once, under the optimizers that track them.
    for model in ("generator", "discriminator"):
        assert f"{model}_optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE" in left
    for name in left:
        # Adam's moments are gradient sums of order 1-10, summed in another order across replicas.
        rtol = atol if "optimizer/_variables/" in name else 0
        np.testing.assert_allclose(left[name], right[name], atol=atol, rtol=rtol, err_msg=name)


def test_mirrored_over_two_cpus_matches_one_device(tmp_path):
    result = _run_child(MIRRORED_CHILD, tmp_path)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, result.stdout[-2000:] + result.stderr[-4000:]
    report = json.loads(lines[0][len("REPORT "):])
    assert report["replicas"] == 2
    # Global batch 2 over 2 replicas == batch 2 on one device, with instance norm (no shared
    # statistics needed) and with synchronized batch norm (statistics over the global batch).
    for norm in ("instance", "batch"):
        single, mirrored = report[f"{norm}-default"], report[f"{norm}-mirrored"]
        assert single.endswith("ckpt-3") and mirrored.endswith("ckpt-3")
        _assert_same_weights(single, mirrored, atol=1e-5)
    assert any("moving_variance" in name for name in _weights(report["batch-mirrored"]))
    assert report["odd_batch_error"] == (
        "--batch-size 3 is the global batch and must divide evenly over the 2 replicas; use a multiple of 2"
    )
    assert report["jit_error"].startswith("--jit cannot compile a step whose replicas are CPUs (")
    assert report["after_overflow"] == [[1.0, 1.0, 1.0], 16384.0]  # skipped, and the scale halved
    # Seed 3, layers 0..2; step 5 of 2 replicas: counters 10 and 11, each advanced once by its Dropout.
    assert report["seed_states"] == [[[3000 + layer, 11], [3000 + layer, 12]] for layer in range(3)]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


WORKER_CHILD = textwrap.dedent("""
    import shutil, sys
    from tfpix2pix import cli
    cli.import_tensorflow_quietly()  # first, as `tfpix2pix` itself does: the real start-up order
    from tfpix2pix.train import checkpoints

    # Keep a copy of this worker's last checkpoint before its scratch folder is removed.
    snapshot, remove = sys.argv[1], checkpoints.cleanup
    def cleanup(places):
        shutil.copytree(places.checkpoints, snapshot)
        remove(places)
    checkpoints.cleanup = cleanup
    sys.exit(cli.main(sys.argv[2:]))
""")


def _start_two_workers(tmp_path, run: str, steps: int, *extra: str) -> list[subprocess.Popen]:
    """Starts `tfpix2pix train` as two workers of one cluster sharing tmp_path/run.

    Each worker's final checkpoints are copied to tmp_path/<run>-<steps>-worker-<index>.
    """
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CONFIG": json.dumps(tf_config)}
        arguments = ["train", "--preset", "tiny", "--steps", str(steps), "--batch-size", "2",
                     "--strategy", "multi-worker", "--workdir", str(tmp_path / run), *extra]
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER_CHILD, str(tmp_path / f"{run}-{steps}-worker-{index}"), *arguments],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True,
        ))
    return processes


def _kill_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _train_two_workers(tmp_path, run: str, steps: int) -> list[tuple[int, str, str]]:
    """Two workers to the end of training; (exit code, stdout, stderr) each."""
    processes = _start_two_workers(tmp_path, run, steps)
    try:
        outputs = [process.communicate(timeout=CHILD_TIMEOUT_SECONDS) for process in processes]
    finally:
        _kill_all(processes)
    return [(process.returncode, out, err) for process, (out, err) in zip(processes, outputs)]


def test_two_workers_train_identically_only_the_chief_keeps_files_and_both_resume(tmp_path):
    workdir = tmp_path / "run"
    for steps in (3, 4):
        results = _train_two_workers(tmp_path, "run", steps)
        for code, out, err in results:
            assert code == 0, out[-2000:] + err[-4000:]
            assert f"done: step {steps}/{steps}" in out
            assert (steps == 3) != (f"resumed from {workdir}/checkpoints/ckpt-3 at step 3" in out)
        # Both workers end with the same weights and optimizer state as the chief's checkpoint.
        chief = str(workdir / "checkpoints" / f"ckpt-{steps}")
        _assert_same_weights(str(tmp_path / f"run-{steps}-worker-1" / f"ckpt-{steps}"), chief, atol=0)
        # Only the chief wrote checkpoints, logs, samples and the validations, and holds the work dir's
        # lock file; the other's scratch folder is gone.
        assert sorted(os.listdir(workdir)) == [".lock", "checkpoints", "config.json", "logs", "metrics.jsonl",
                                               "samples"]
        assert sorted(os.listdir(workdir / "samples"))[-1] == f"step_{steps:07d}.png"
    assert sorted(os.listdir(workdir / "checkpoints")) == [
        "best", "checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index", "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
    ]


@pytest.mark.parametrize("victim", [1, 0], ids=["kill-worker", "kill-chief"])
def test_a_killed_worker_stops_the_other_with_one_clear_line(tmp_path, victim):
    workdir = tmp_path / "run"
    processes = _start_two_workers(tmp_path, "run", 100_000, "--set", "train.save_every=2")
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT_SECONDS
        while not (workdir / "checkpoints" / "ckpt-2.index").exists():
            assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "no checkpoint"
            time.sleep(0.5)
        os.killpg(processes[victim].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        survivor = processes[1 - victim]
        # The coordination service's heartbeats, not a collective timeout, end the wait (DISTRIBUTED.md).
        out, err = survivor.communicate(timeout=CHILD_TIMEOUT_SECONDS)
        waited = time.monotonic() - killed_at
    finally:
        _kill_all(processes)
    failures = [line for line in err.splitlines() if line.startswith("tfpix2pix train: failed: lost contact with ")]
    assert survivor.returncode == 1, err[-4000:]
    assert len(failures) == 1, err[-4000:]
    assert "Traceback" not in err
    assert re.search(r"after step \d+ \(.+\); restart all workers with the same command: they resume from "
                     + re.escape(str(workdir / "checkpoints" / "ckpt-")) + r"\d+$", failures[0]), failures[0]
    print(f"survivor stopped {waited:.1f} s after the kill: {failures[0]}")


def test_multi_worker_without_tf_config_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UsageError, match=r"--strategy multi-worker needs TF_CONFIG in the environment of each worker"):
        strategy_lib.make_strategy("multi-worker")


@pytest.mark.parametrize("raw, message", [
    ("{cluster: 1}", r"TF_CONFIG is not valid JSON \(Expecting property name enclosed in double quotes at "
                     r"character 1\): \{cluster: 1\}"),
    ('{"cluster": {"worker": ["h:1"]}}', r"TF_CONFIG needs a \"cluster\" object and a \"task\" object"),
    ('{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}}',
     r"TF_CONFIG cluster must list \"worker\" addresses \(and at most one \"chief\"\), got jobs \['ps'\]"),
    ('{"cluster": {"worker": ["host1"]}, "task": {"type": "worker", "index": 0}}',
     r"TF_CONFIG cluster.worker must be a list of \"host:port\" strings"),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}',
     r"TF_CONFIG task.index must be a whole number from 0 to 1, got 2"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "evaluator", "index": 0}}',
     r"TF_CONFIG task.type must be one of the cluster's jobs \['worker'\], got 'evaluator'"),
])
def test_malformed_tf_config_is_a_usage_error_repeating_it(monkeypatch, raw, message):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(UsageError, match=message) as caught:
        strategy_lib.make_strategy("multi-worker")
    assert str(caught.value).endswith(raw)


def test_cli_reports_malformed_tf_config_on_one_line(tmp_path):
    result = run_cli("train", "--preset", "tiny", "--steps", "1", "--strategy", "multi-worker",
                     "--workdir", tmp_path / "run", env={"TF_CONFIG": '{"cluster": []}'})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'tfpix2pix train: error: TF_CONFIG needs a "cluster" object and a "task" object: {"cluster": []}'
    )


def test_cli_reports_an_unreachable_tpu_on_one_line(tmp_path):
    result = run_cli("train", "--preset", "tiny", "--steps", "1", "--strategy", "tpu", "--tpu", "no-such-tpu",
                     "--workdir", tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("tfpix2pix train: error: --strategy tpu: cannot reach TPU 'no-such-tpu' "
                                    "(pass --tpu NAME or set TPU_NAME)")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_batch_must_divide_by_the_replicas():
    strategy = tf.distribute.get_strategy()
    assert strategy_lib.check_batch(3, strategy) == 3

    class FourReplicas:
        num_replicas_in_sync = 4
        cluster_resolver = None

    with pytest.raises(UsageError, match=r"^--batch-size 6 is the global batch and must divide evenly over the 4 "
                                         r"replicas; use a multiple of 4$"):
        strategy_lib.check_batch(6, FourReplicas())


def test_lost_worker_message_names_the_peer_the_reason_and_the_checkpoint():
    error = "\n".join([
        "Graph execution error:",
        "",
        "Detected at node CollectiveReduceV2 defined at (most recent call last):",
        "Collective ops is aborted by: Error reported from /job:worker/task:1: "
        "The following tasks are unhealthy (stopped sending heartbeats):",
        "/job:worker/replica:0/task:1",
        "The tasks have crashed. Check the task logs for an earlier error.",
        "The error could be from a previous operation. Restart your program to reset.",
    ])
    message = strategy_lib.lost_worker_message(error, 177, "/run/ckpt-160", this_task="/job:worker/replica:0/task:0")
    assert message == (
        "lost contact with /job:worker/replica:0/task:1 after step 177 (The following tasks are unhealthy "
        "(stopped sending heartbeats)); restart all workers with the same command: they resume from /run/ckpt-160"
    )
    message = strategy_lib.lost_worker_message("Connection refused", 3, None, this_task="/job:worker/replica:0/task:1")
    assert message == (
        "lost contact with another worker after step 3 (Connection refused); restart all workers with the same "
        "command: no checkpoint was saved yet"
    )
