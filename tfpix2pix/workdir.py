"""A work dir: config.json, checkpoints/, logs/ (TensorBoard) and samples/ of one training run."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import socket
import tempfile

import tensorflow as tf

from tfpix2pix import config as config_lib, files
from tfpix2pix.errors import UsageError

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
SAMPLES = "samples"
LOCK_FILE = ".lock"
BEST = "best"  # checkpoints/best/: the step with the best validation metric, and best.json about it
BEST_FILE = "best.json"
CURVES_FILE = "curves.png"  # `tfpix2pix curves`: the training curves, shown atop `test`'s results page
METRICS_FILE = "metrics.jsonl"  # one JSON line per validation: the step and the val metrics
INDEX_FILE = "checkpoint"  # the small text index tf.train.CheckpointManager keeps
_CHECKPOINT_INDEX = re.compile(r"ckpt-(\d+)\.index")


def make_writable_folder(path: str, flag: str) -> None:
    """Creates the folder `path` (given as `flag`) and checks it takes files; a usage error names it otherwise."""
    if files.is_remote(path):
        probe = os.path.join(files.check(path, flag), f".write-check-{os.getpid()}")
        try:
            files.write_bytes(probe, b"")
            files.remove(probe)
        except Exception as error:  # gfile raises TensorFlow's errors: permission, bucket, credentials
            raise UsageError(f"{flag} {path} cannot be used: {str(error).splitlines()[0]}") from None
        return
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


def best_dir(workdir: str) -> str:
    return os.path.join(workdir, CHECKPOINTS, BEST)


def metrics_path(workdir: str) -> str:
    return os.path.join(workdir, METRICS_FILE)


def logs_dir(workdir: str) -> str:
    """The TensorBoard folder (`tensorboard --logdir` it)."""
    return os.path.join(workdir, LOGS)


def train_logs_dir(workdir: str) -> str:
    return os.path.join(workdir, LOGS, "train")


def samples_dir(workdir: str) -> str:
    return os.path.join(workdir, SAMPLES)


def has_config(workdir: str) -> bool:
    return files.isfile(config_path(workdir))


def checkpoint_step(path: str) -> int:
    """The global step in a CheckpointManager path such as `.../ckpt-1200`."""
    return int(path.rsplit("-", 1)[-1])


def latest_step(directory: str) -> int:
    """The step of the newest checkpoint in `directory` (0 when there is none), from the index or the files."""
    paths, _ = checkpoint_paths(directory, log=lambda *_: None)
    return checkpoint_step(paths[-1]) if paths else 0


def load_config(workdir: str) -> config_lib.Config:
    if not files.isdir(workdir):
        raise UsageError(f"work dir {workdir} does not exist")
    return config_lib.load(config_path(workdir))


@contextlib.contextmanager
def lock(workdir: str):
    """Holds an exclusive lock on `<workdir>/.lock` for the block: one `train` per work dir.

    The lock is the operating system's (flock), so it ends with the process, even on SIGKILL:
    nothing is left to clean up. The file records the holder for the next one's message. Object
    stores (gs://) have no such locks: there, keeping one `train` per work dir is the user's part.

    Raises:
        UsageError: another process holds it; the message names its pid, host and start time.
    """
    if files.is_remote(workdir):
        yield
        return
    path = os.path.join(workdir, LOCK_FILE)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            raise UsageError(f"work dir {workdir} is in use by another train (pid {holder.get('pid', '?')} on "
                             f"{holder.get('host', '?')}, started {holder.get('started', '?')}): wait for it to end, "
                             "or use another --workdir") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                          "started": datetime.datetime.now().isoformat(timespec="seconds")}).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _read_holder(descriptor: int) -> dict:
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def checkpoints_on_disk(directory: str) -> list[str]:
    """The `ckpt-<step>` checkpoints in `directory` whose index and data files exist, oldest first."""
    if not files.isdir(directory):
        return []
    names = set(files.listdir(directory))
    steps = sorted(int(match.group(1)) for match in map(_CHECKPOINT_INDEX.fullmatch, names)
                   if match and any(name.startswith(f"ckpt-{match.group(1)}.data-") for name in names))
    return [os.path.join(directory, f"ckpt-{step}") for step in steps]


def _listed_checkpoints(directory: str) -> list[str] | None:
    """The checkpoints the index lists, or None when the index is missing, empty or damaged."""
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (ValueError, UnicodeDecodeError, tf.errors.OpError):  # empty: ValueError; binary junk: UnicodeDecodeError
        return None
    paths = list(state.all_model_checkpoint_paths) if state else []
    return paths or None


def checkpoint_paths(directory: str, *, log=print) -> tuple[list[str], bool]:
    """(checkpoints oldest first, whether they were found on disk because the index is unusable).

    The work dir is the truth, not its index: when the index is missing, empty or damaged while
    `ckpt-*` files are there, those files are used, and one line says so.
    """
    listed = _listed_checkpoints(directory)
    if listed is not None:
        return listed, False
    found = checkpoints_on_disk(directory)
    if found:
        index = os.path.join(directory, INDEX_FILE)
        condition = ("missing" if not files.exists(index) else "empty" if files.getsize(index) == 0
                     else "damaged")
        log(f"note: the checkpoint index {index} is {condition}; using the {len(found)} checkpoint(s) on disk "
            f"(newest: {os.path.basename(found[-1])})")
    return found, bool(found)


def restore_latest(
    checkpoint: tf.train.Checkpoint, directory: str, *, partial: bool = False, repair: bool = False, log=print,
) -> str | None:
    """Restores the newest loadable checkpoint in `directory`; a damaged one is skipped with a warning.

    Args:
        checkpoint: what to restore into.
        directory: a CheckpointManager folder.
        partial: `checkpoint` holds part of what was saved (e.g. the generator alone).
        repair: rewrite an unusable index from the checkpoints on disk (only the run's one writer does).
        log: where the warnings go.

    Returns:
        The restored checkpoint's path, or None if `directory` holds none.

    Raises:
        UsageError: checkpoints exist but none of them loads.
    """
    paths, from_disk = checkpoint_paths(directory, log=log)
    for position in reversed(range(len(paths))):
        path = paths[position]
        try:
            status = checkpoint.restore(path)
            (status.expect_partial() if partial else status).assert_existing_objects_matched()
            if from_disk and repair:
                # With their files' times, so tf.train.CheckpointManager manages (and rotates) them again.
                kept = paths[: position + 1]
                times = [files.getmtime(f"{kept_path}.index") for kept_path in kept]
                tf.compat.v1.train.update_checkpoint_state(
                    directory, path, all_model_checkpoint_paths=kept, all_model_checkpoint_timestamps=times,
                    last_preserved_timestamp=min(times) - 1)
                log(f"note: rewrote the checkpoint index of {directory} (latest: {os.path.basename(path)})")
            return path
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:  # IndexError: truncated data
            log(f"warning: checkpoint {path} is damaged ({type(error).__name__}); trying the previous one")
    if paths:
        raise UsageError(f"no checkpoint in {directory} can be restored (tried {', '.join(map(os.path.basename, paths))}); "
                         "nothing was changed: restore the folder from a backup or train in a new --workdir")
    return None



def check_checkpoint_choice(text: str, flag: str = "--checkpoint") -> str:
    """`best`, `latest` or a step number, as given; anything else is a `UsageError`."""
    if text in ("best", "latest") or (text.isdigit() and int(text) > 0):
        return text
    raise UsageError(f"{flag} {text!r}: expected best, latest or a step number")


def restore_choice(checkpoint: tf.train.Checkpoint, workdir: str, choice: str = "latest", *, log=print) -> str:
    """Restores (the generator part of) the chosen checkpoint of `workdir`: `latest`, `best` or a step.

    A step is looked up among the latest checkpoints, the kept ones (`train.keep_every`) and the best one.

    Returns:
        The restored checkpoint's path.

    Raises:
        UsageError: no such checkpoint (the message lists the steps there are), or none that loads.
    """
    choice = check_checkpoint_choice(choice)
    folder = checkpoint_dir(workdir)
    if choice in ("latest", "best"):
        directory = folder if choice == "latest" else best_dir(workdir)
        path = restore_latest(checkpoint, directory, partial=True, log=log)
        if path is None:
            if choice == "latest":
                raise UsageError(f"work dir {workdir} has no checkpoint yet: train first "
                                 f"(tfpix2pix train --workdir {workdir})")
            raise UsageError(f"work dir {workdir} has no best checkpoint: it is kept once the run validates on a "
                             "val split (train.eval_every); use --checkpoint latest")
        return path
    candidates = [os.path.join(directory, f"ckpt-{choice}")
                  for directory in (folder, os.path.join(folder, "kept"), best_dir(workdir))]
    for path in candidates:
        if files.exists(f"{path}.index"):
            try:
                checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
            except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:
                raise UsageError(f"checkpoint {path} cannot be restored ({type(error).__name__}): choose another "
                                 "--checkpoint") from None
            return path
    steps = sorted({checkpoint_step(path) for directory in (folder, os.path.join(folder, "kept"), best_dir(workdir))
                    for path in checkpoints_on_disk(directory)})
    raise UsageError(f"work dir {workdir} has no checkpoint of step {choice}; it has steps "
                     f"{', '.join(map(str, steps)) or 'none'}")
