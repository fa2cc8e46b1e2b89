"""tf.distribute plumbing: which strategy, who writes, how input reaches the replicas."""

from __future__ import annotations

import json
import os
import shutil

import tensorflow as tf

from tfpix2pix import data
from tfpix2pix.errors import UsageError


def make_strategy(train_config) -> tf.distribute.Strategy:
    """The strategy `train.strategy` names: default, mirrored (local devices), multi-worker, tpu."""
    name = train_config.strategy
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise UsageError("--strategy multi-worker needs TF_CONFIG (cluster and task) in the environment")
        try:
            tf_config = json.loads(raw)
            workers = tf_config["cluster"]["worker"]
            task = tf_config["task"]
            if task["type"] not in ("worker", "chief") or not isinstance(workers, list) or not workers:
                raise ValueError("task.type must be worker or chief and cluster.worker a non-empty list")
            int(task["index"])
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"TF_CONFIG is malformed ({error}): {raw}") from None
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=120.0)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise UsageError(f"unknown strategy {name!r}")


def check_batch(global_batch_size: int, replicas: int) -> None:
    if global_batch_size % replicas:
        raise UsageError(
            f"--batch-size {global_batch_size} is the global batch and must divide by the {replicas} replicas"
        )


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs)


def writer_dirs(strategy, workdir: str) -> tuple[bool, str, str]:
    """(is_chief, checkpoint dir, TensorBoard dir).

    Under MultiWorkerMirroredStrategy every worker must take part in saving (the save is a
    collective), but only the chief's files are kept: the others write to a temporary folder
    that `cleanup` removes, as TensorFlow's multi-worker guide prescribes.
    """
    chief = _is_chief(strategy)
    if chief:
        return True, os.path.join(workdir, "checkpoints"), os.path.join(workdir, "logs", "train")
    resolver = strategy.cluster_resolver
    scratch = os.path.join(workdir, f".worker-{resolver.task_type}-{resolver.task_id}")
    return False, os.path.join(scratch, "checkpoints"), os.path.join(scratch, "logs")


def cleanup(strategy, workdir: str) -> None:
    if not _is_chief(strategy):
        resolver = strategy.cluster_resolver
        shutil.rmtree(os.path.join(workdir, f".worker-{resolver.task_type}-{resolver.task_id}"), ignore_errors=True)


def checkpoint_manager(checkpoint, directory: str, train_config) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(
        checkpoint, directory=directory, max_to_keep=train_config.keep_checkpoints, checkpoint_name="ckpt"
    )


def restore_latest(checkpoint, manager, *, log=print) -> str | None:
    """Restores the newest loadable checkpoint; a damaged one is skipped with a warning naming it."""
    for path in reversed(manager.checkpoints):
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
            return path
        except (tf.errors.OpError, ValueError, AssertionError) as error:
            log(f"warning: checkpoint {path} is damaged ({type(error).__name__}); trying the previous one")
    return None


def save(manager, checkpoint, step: int, train_config) -> str:
    path = manager.save(checkpoint_number=step)
    if train_config.keep_every and step % train_config.keep_every == 0:
        checkpoint.write(os.path.join(manager.directory, "kept", f"ckpt-{step}"))
    return path


def dataset_function(sources, *, config, epoch: int, start_step: int):
    """A `distribute_datasets_from_function` input function for one epoch from `start_step`."""
    def make(input_context: tf.distribute.InputContext):
        return data.training_dataset(
            sources, direction=config.data.direction, image_size=config.data.image_size,
            load_size=config.data.load_size, flip=config.data.flip, seed=config.train.seed,
            epoch=epoch, start_step=start_step, global_batch_size=config.train.batch_size,
            num_pipelines=input_context.num_input_pipelines, pipeline_index=input_context.input_pipeline_id,
        ).rebatch(input_context.get_per_replica_batch_size(config.train.batch_size))
    return make


def distribute(strategy, dataset_fn):
    return strategy.distribute_datasets_from_function(dataset_fn)
