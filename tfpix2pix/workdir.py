"""A work dir: config.json, checkpoints/, logs/ (TensorBoard) and samples/ of one training run."""

from __future__ import annotations

import os
import tempfile

import tensorflow as tf

from tfpix2pix import config as config_lib
from tfpix2pix.errors import UsageError

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
SAMPLES = "samples"


def make_writable_folder(path: str, flag: str) -> None:
    """Creates the folder `path` (given as `flag`) and checks it takes files; a usage error names it otherwise."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {path} cannot be used: {error.strerror}") from None


def config_path(workdir: str) -> str:
    return os.path.join(workdir, CONFIG_FILE)


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(workdir, CHECKPOINTS)


def logs_dir(workdir: str) -> str:
    """The TensorBoard folder (`tensorboard --logdir` it)."""
    return os.path.join(workdir, LOGS)


def train_logs_dir(workdir: str) -> str:
    return os.path.join(workdir, LOGS, "train")


def samples_dir(workdir: str) -> str:
    return os.path.join(workdir, SAMPLES)


def has_config(workdir: str) -> bool:
    return os.path.isfile(config_path(workdir))


def checkpoint_step(path: str) -> int:
    """The global step in a CheckpointManager path such as `.../ckpt-1200`."""
    return int(path.rsplit("-", 1)[-1])


def load_config(workdir: str) -> config_lib.Config:
    if not os.path.isdir(workdir):
        raise UsageError(f"work dir {workdir} does not exist")
    return config_lib.load(config_path(workdir))


def restore_latest(checkpoint: tf.train.Checkpoint, directory: str, *, partial: bool = False, log=print) -> str | None:
    """Restores the newest loadable checkpoint in `directory`; a damaged one is skipped with a warning.

    Args:
        checkpoint: what to restore into.
        directory: a CheckpointManager folder.
        partial: `checkpoint` holds part of what was saved (e.g. the generator alone).
        log: where the warnings go.

    Returns:
        The restored checkpoint's path, or None if `directory` holds none.

    Raises:
        UsageError: checkpoints are listed but none of them loads.
    """
    state = tf.train.get_checkpoint_state(directory)
    paths = list(state.all_model_checkpoint_paths) if state else []
    for path in reversed(paths):
        try:
            status = checkpoint.restore(path)
            (status.expect_partial() if partial else status).assert_existing_objects_matched()
            return path
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:  # IndexError: truncated data
            log(f"warning: checkpoint {path} is damaged ({type(error).__name__}); trying the previous one")
    if paths:
        raise UsageError(f"no checkpoint in {directory} can be restored (tried {', '.join(map(os.path.basename, paths))}); "
                         "nothing was changed: restore the folder from a backup or train in a new --workdir")
    return None

