"""Where each worker writes its checkpoints, logs and samples, and how a save fails safely.

Under MultiWorkerMirroredStrategy every worker takes part in each save (a save may run
collectives), but only the chief's files are kept: the other workers save into a scratch folder
that is removed at the end, as TensorFlow's multi-worker guide prescribes. Every worker restores
from the chief's checkpoints. See DISTRIBUTED.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

from tfpix2pix import files, workdir as workdir_lib


@dataclass(frozen=True)
class Destinations:
    """Where one worker writes, and where every worker restores from.

    Attributes:
        is_chief: this worker's checkpoints, logs and samples are the run's.
        checkpoints: where this worker's checkpoint saves go.
        logs: this worker's TensorBoard folder.
        samples: the sample-grid folder, or None on a non-chief worker (it draws none).
        restore_from: the chief's checkpoint folder, which every worker restores from.
        scratch: the non-chief's temporary folder, removed by `cleanup`; None on the chief.
    """

    is_chief: bool
    checkpoints: str
    logs: str
    samples: str | None
    restore_from: str
    scratch: str | None


def destinations(strategy: tf.distribute.Strategy, workdir: str, *, checkpoints: str, logs: str,
                 samples: str) -> Destinations:
    """The chief writes into `checkpoints`, `logs` and `samples` (paths inside `workdir`).

    Other workers write into `<workdir>/.worker-<type>-<index>/`, cleared first so stale files of
    a crashed run cannot mix in.
    """
    if strategy.extended.should_checkpoint:
        return Destinations(True, checkpoints, logs, samples, restore_from=checkpoints, scratch=None)
    resolver = strategy.cluster_resolver
    scratch = os.path.join(workdir, f".worker-{resolver.task_type}-{resolver.task_id}")
    files.rmtree(scratch)
    return Destinations(False, os.path.join(scratch, "checkpoints"), os.path.join(scratch, "logs"), None,
                        restore_from=checkpoints, scratch=scratch)


def cleanup(places: Destinations) -> None:
    """Removes a non-chief worker's scratch folder."""
    if places.scratch:
        files.rmtree(places.scratch)


def checkpoint_manager(checkpoint, directory: str, train_config) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(
        checkpoint, directory=directory, max_to_keep=train_config.keep_checkpoints, checkpoint_name="ckpt"
    )


def _failed_save(error: Exception, what: str, directory: str) -> RuntimeError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RuntimeError(f"could not save {what} to {directory} ({reason}); training stopped, the latest complete "
                        "checkpoint is unchanged")


def save(manager, checkpoint, step: int, train_config, places: Destinations) -> str:
    """Saves on every worker (a save may run collectives); returns the chief's checkpoint path.

    Raises:
        RuntimeError: the write failed (disk full, no permission); the latest complete checkpoint
            stays the latest, since the manager records a checkpoint only after writing it.
    """
    try:
        path = manager.save(checkpoint_number=step)
        if train_config.keep_every and step % train_config.keep_every == 0:
            checkpoint.write(os.path.join(manager.directory, "kept", f"ckpt-{step}"))
    except (tf.errors.OpError, OSError) as error:
        raise _failed_save(error, f"the checkpoint of step {step}", manager.directory) from None
    return os.path.join(places.restore_from, os.path.basename(path))


class BestCheckpoint:
    """`checkpoints/best/`: the models at the step with the best validation metric, and best.json about it.

    It holds the generator and the discriminator (and the step), not the optimizers: it is for
    `test`, `predict` and `export --checkpoint best`, at a third of a full checkpoint's size. A
    resume always starts from the latest checkpoint.
    """

    def __init__(self, directory: str, *, generator, discriminator, step: tf.Variable):
        self.directory = directory
        checkpoint = tf.train.Checkpoint(generator=generator, discriminator=discriminator, step=step)
        self.manager = tf.train.CheckpointManager(checkpoint, directory=directory, max_to_keep=1,
                                                  checkpoint_name="ckpt")

    def save(self, step: int, metric: str, value: float) -> str:
        """Replaces the best checkpoint with this step's, then writes best.json, which names it."""
        try:
            path = self.manager.save(checkpoint_number=step)
            facts = {"step": step, "metric": metric, "value": value, "checkpoint": os.path.basename(path)}
            files.write_bytes(os.path.join(self.directory, workdir_lib.BEST_FILE), json.dumps(facts, indent=2) + "\n")
        except (tf.errors.OpError, OSError) as error:
            raise _failed_save(error, f"the best checkpoint (step {step})", self.directory) from None
        return path
