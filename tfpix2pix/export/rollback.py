"""An export either finishes or leaves the export folder as it was: what it writes is recorded and undone.

    with Rollback(out) as changes, signals_raise():
        changes.record(path)     # before each write: remember whether `path` was there, back it up
        ...                      # SIGINT/SIGTERM raise `Stopped` here; any failure undoes the writes

TF Serving watches the version folders, so a version folder without its README and Keras file is
never left behind by a killed export: either all of them are written, or none.
"""

from __future__ import annotations

import contextlib
import os
import signal

from tfpix2pix import files


class Stopped(Exception):
    """SIGINT or SIGTERM arrived during the export; what it wrote was undone (`undone`)."""

    signal_number = signal.SIGTERM  # the last signal received, set by the handler
    received = False  # set by the handler: a converter that catches every Exception cannot hide the signal

    def __init__(self, *_):
        # Keras re-creates an exception raised inside a layer call with its own message as the only
        # argument; the signal is therefore read from the class, not from the arguments.
        super().__init__(f"stopped by signal {Stopped.signal_number}")
        self.undone: list[str] = []


@contextlib.contextmanager
def signals_raise():
    """SIGINT and SIGTERM raise `Stopped` in the main thread for the block, so the export can roll back."""
    def stop(number, frame):
        Stopped.signal_number, Stopped.received = number, True
        raise Stopped()

    Stopped.received = False
    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def raise_if_stopped() -> None:
    """Raises `Stopped` again if a signal arrived in code that swallowed it (tf2onnx catches every
    Exception in its graph rewriters and optimizers, and goes on converting)."""
    if Stopped.received:
        raise Stopped()


def _state(path: str) -> tuple:
    """What tells a replaced path from the one backed up: its size and time, or a folder's entries."""
    if not files.lexists(path):
        return ()
    if files.isdir(path):
        return tuple(sorted((name, _state(os.path.join(path, name))) for name in files.listdir(path)))
    return files.getsize(path), files.getmtime(path)


class Rollback:
    """Records the paths an export writes; on failure removes what it created and restores what it replaced."""

    def __init__(self, out: str):
        self.out = out
        self.backups_dir = os.path.join(out, f".rollback-{os.getpid()}")
        self.created: list[str] = []
        self.replaced: dict[str, tuple[str, tuple]] = {}  # path -> (backup, its state when backed up)

    def record(self, path: str) -> None:
        """Call before writing `path` (a file or folder): a new path is removed on undo, an old one restored."""
        if path in self.created or path in self.replaced:
            return
        if not files.lexists(path):
            self.created.append(path)
            return
        files.makedirs(self.backups_dir)
        backup = os.path.join(self.backups_dir, str(len(self.replaced)))
        (files.copy_tree if files.isdir(path) else files.copy)(path, backup)
        self.replaced[path] = (backup, _state(path))

    def record_folders(self, path: str) -> None:
        """Records each missing folder on the way to `path` (created by the export, so removed on undo)."""
        missing = []
        while path and not files.exists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for folder in reversed(missing):
            self.record(folder)

    def undo(self) -> list[str]:
        """Removes what was created (newest first) and restores what was replaced; returns the paths undone."""
        undone = []
        for path in reversed(self.created):
            if files.isdir(path) and not os.path.islink(path):
                files.rmtree(path)
            elif files.lexists(path):
                files.remove(path)
            else:
                continue
            undone.append(path)
        for path, (backup, state) in self.replaced.items():
            if _state(path) == state:
                continue  # never written
            if files.isdir(path) and not os.path.islink(path):
                files.rmtree(path)
                files.copy_tree(backup, path)  # object stores cannot rename a folder
            else:
                files.replace(backup, path)
            undone.append(path)
        self._drop_backups()
        return undone

    def _drop_backups(self) -> None:
        files.rmtree(self.backups_dir)

    def __enter__(self) -> "Rollback":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self._drop_backups()
            return
        undone = self.undo()
        if isinstance(error, Stopped):
            error.undone = undone
