"""tf.distribute plumbing: which strategy, how workers agree, how input reaches the replicas.

Under MultiWorkerMirroredStrategy every worker runs the same program, and every worker must
take part in each collective (each train step, each checkpoint save). Where each worker writes
is `checkpoints.py`; the work dir must be a path all workers see (a shared disk or a bucket).
See DISTRIBUTED.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re

import numpy as np
import tensorflow as tf

from tfpix2pix.errors import UsageError

# No collective timeout (CommunicationOptions.timeout_seconds): in TensorFlow 2.21 every collective
# launched with one keeps a thread alive for the whole timeout, so a 300 s timeout at ~20
# collectives per step piles up thousands of threads and killed a test run after 800 steps
# ("Resource temporarily unavailable"). A dead peer is caught instead by the coordination service's
# heartbeats and the strategy's health checks, within seconds to a minute (DISTRIBUTED.md).

# Errors a collective raises when a peer has died, was restarted or stopped answering.
PEER_ERRORS = (
    tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError, tf.errors.AbortedError,
)

TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
)


def parse_tf_config(raw: str | None) -> dict:
    """Checks the TF_CONFIG that MultiWorkerMirroredStrategy reads, and returns it parsed.

    Raises:
        UsageError: TF_CONFIG is unset or malformed; the message repeats it.
    """
    if not raw:
        raise UsageError(f"--strategy multi-worker needs TF_CONFIG in the environment of each worker, e.g. "
                         f"TF_CONFIG='{TF_CONFIG_EXAMPLE}' (task.index differs per worker)")
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UsageError(f"TF_CONFIG is not valid JSON ({error.msg} at character {error.pos}): {raw}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UsageError(f"TF_CONFIG needs a \"cluster\" object and a \"task\" object: {raw}")
    unsupported = sorted(set(cluster) - {"chief", "worker"})
    if unsupported or not cluster.get("worker"):
        raise UsageError(f"TF_CONFIG cluster must list \"worker\" addresses (and at most one \"chief\"), "
                         f"got jobs {sorted(cluster)}: {raw}")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise UsageError(f"TF_CONFIG cluster.{job} must be a list of \"host:port\" strings: {raw}")
    if len(cluster.get("chief", [])) > 1:
        raise UsageError(f"TF_CONFIG cluster.chief lists {len(cluster['chief'])} addresses, at most 1 allowed: {raw}")
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise UsageError(f"TF_CONFIG task.type must be one of the cluster's jobs {sorted(cluster)}, "
                         f"got {task_type!r}: {raw}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task_type]):
        raise UsageError(f"TF_CONFIG task.index must be a whole number from 0 to {len(cluster[task_type]) - 1}, "
                         f"got {index!r}: {raw}")
    return tf_config


def _mirrored_devices() -> list[str] | None:
    """All local GPUs; else the logical CPUs when several were configured (tests); else None (CPU:0)."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [device.name for device in gpus]
    cpus = tf.config.list_logical_devices("CPU")
    return [device.name for device in cpus] if len(cpus) > 1 else None


@functools.cache
def _mirrored_strategy() -> tf.distribute.MirroredStrategy:
    # One per process: every MirroredStrategy numbers its collectives from the same keys, so a
    # second one in the same process (a second `train` call) would collide with the first's.
    return tf.distribute.MirroredStrategy(devices=_mirrored_devices())


@functools.cache
def _multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    # One per process too: collectives can be configured only once, before TensorFlow starts.
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        if "startup" not in str(error):
            raise
        raise RuntimeError("MultiWorkerMirroredStrategy must be created before TensorFlow initializes its "
                           f"devices; create the strategy first ({error})") from None


def make_strategy(name: str, *, tpu: str | None = None) -> tf.distribute.Strategy:
    """Creates the strategy `train.strategy` names. Call it before any other TensorFlow work.

    Args:
        name: "default" (one device), "mirrored" (all local GPUs), "multi-worker" (one replica per
            GPU, or the CPU, of every worker in TF_CONFIG) or "tpu".
        tpu: TPU name or grpc:// address for the resolver; None reads TPU_NAME ("" means the TPU
            attached to this VM).

    Raises:
        UsageError: bad TF_CONFIG, or no TPU reachable.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return _mirrored_strategy()
    if name == "multi-worker":
        parse_tf_config(os.environ.get("TF_CONFIG"))
        return _multi_worker_strategy()
    if name == "tpu":
        tpu = os.environ.get("TPU_NAME", "") if tpu is None else tpu
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, OSError, tf.errors.OpError) as error:  # OSError: metadata lookup.
            raise UsageError(f"--strategy tpu: cannot reach TPU {tpu!r} (pass --tpu NAME or set TPU_NAME): {error}") from None
        return tf.distribute.TPUStrategy(resolver)
    raise UsageError(f"unknown strategy {name!r}; valid: default, mirrored, multi-worker, tpu")


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """How many worker processes take part (1 unless multi-worker)."""
    resolver = strategy.cluster_resolver
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def check_batch(global_batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """Returns the per-replica batch; raises `UsageError` when the global batch does not split evenly."""
    replicas, workers = strategy.num_replicas_in_sync, num_workers(strategy)
    if global_batch_size % replicas:
        split = f" ({workers} workers x {replicas // workers} devices)" if workers > 1 else ""
        raise UsageError(f"--batch-size {global_batch_size} is the global batch and must divide evenly over the "
                         f"{replicas} replicas{split}; use a multiple of {replicas}")
    return global_batch_size // replicas


def check_jit(jit: bool, strategy: tf.distribute.Strategy) -> None:
    """--jit with several CPU replicas fails inside XLA (cross-device variable access): refuse it up front."""
    if not jit or strategy.num_replicas_in_sync == 1:
        return
    devices = strategy.extended.worker_devices
    if any("CPU" in device.upper() for device in devices):
        raise UsageError(f"--jit cannot compile a step whose replicas are CPUs ({', '.join(devices)}): "
                         "drop --jit, or use --strategy default on a CPU")


class WorkerSync:
    """Sums small integer vectors over the workers with one collective: agreement and a barrier.

    With one worker it returns its input without running anything.
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        self.strategy = strategy
        self.workers = num_workers(strategy)
        local_replicas = strategy.num_replicas_in_sync // self.workers

        @tf.function
        def total(values):
            # Every local replica contributes a share, so the sum over replicas is the sum over workers.
            per_replica = strategy.run(lambda: values / local_replicas)
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self._total = total

    def sum(self, values: list[int]) -> list[int]:
        if self.workers == 1:
            return list(values)
        return [int(v) for v in np.rint(self._total(tf.constant(values, tf.float64)).numpy())]

    def check_same_step(self, step: int, workdir: str) -> None:
        """Raises when the workers restored different steps (the work dir is not shared)."""
        total, squares = self.sum([step, step * step])
        if total != step * self.workers or squares != step * step * self.workers:
            raise UsageError(f"the {self.workers} workers restored different steps (this one: {step}, mean "
                             f"{total / self.workers:g}): --workdir {workdir} must be one folder all workers see")

    def any(self, flag: bool) -> bool:
        """True on every worker when it is True on any worker."""
        return self.sum([int(flag)])[0] > 0


@contextlib.contextmanager
def peer_failures(step: tf.Variable, last_checkpoint, workers: WorkerSync):
    """Turns a collective's failure, when a peer worker died or hung, into a one-line RuntimeError.

    `last_checkpoint` is a callable returning the newest saved checkpoint path (or None).
    """
    try:
        yield
    except PEER_ERRORS as error:
        if workers.workers == 1:
            raise
        resolver = workers.strategy.cluster_resolver
        this_task = f"/job:{resolver.task_type}/replica:0/task:{resolver.task_id}"
        message = lost_worker_message(str(error), int(step.numpy()), last_checkpoint(), this_task=this_task)
        raise RuntimeError(message) from error


def lost_worker_message(error_text: str, step: int, checkpoint: str | None, *, this_task: str = "") -> str:
    """One line for a failed collective: which peer, why (as TensorFlow says it), how to resume."""
    peers = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", error_text)) - {this_task})
    reasons = [line.strip().rstrip(":.") for line in error_text.splitlines() if _PEER_REASON.search(line)]
    reason = reasons[0].rsplit(": ", 1)[-1] if reasons else "a collective failed"
    resume = f"they resume from {checkpoint}" if checkpoint else "no checkpoint was saved yet"
    return (f"lost contact with {', '.join(peers) or 'another worker'} after step {step} ({reason}); "
            f"restart all workers with the same command: {resume}")


_PEER_REASON = re.compile(r"unhealthy|crashed|heartbeat|preempt|failed to connect|connection|timed out|deadline", re.I)


def distribute(strategy: tf.distribute.Strategy, make_dataset, *, global_batch_size: int):
    """The distributed batches of `make_dataset(num_pipelines=, pipeline_index=)`, one pipeline per worker.

    `make_dataset` gives pipeline p of P its share of every global batch (`pipeline.training_dataset`
    splits by file, with jitter seeded by each example's global position), so a worker's examples
    depend on (seed, epoch, step, worker) only, never on timing; the share is then cut into
    per-replica batches for the worker's devices.
    """
    def dataset_fn(input_context: tf.distribute.InputContext):
        dataset = make_dataset(num_pipelines=input_context.num_input_pipelines,
                               pipeline_index=input_context.input_pipeline_id)
        return dataset.rebatch(input_context.get_per_replica_batch_size(global_batch_size), drop_remainder=True)
    return strategy.distribute_datasets_from_function(dataset_fn)
