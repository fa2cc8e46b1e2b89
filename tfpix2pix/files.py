"""Files on any filesystem TensorFlow has registered: local paths, gs://, ram://, and plugins' schemes.

Every path the project reads or writes goes through here. A local path (no scheme, or file://)
takes exactly the operating-system call it always took; a path with a scheme goes through
`tf.io.gfile`, which speaks every registered filesystem (TensorFlow registers gs:// on Linux;
tensorflow-io adds s3://, hdfs://, az:// and http://). TensorFlow is imported only for those.

What a reader can observe while a file is being written:
- local: temporary file then rename, so the old file or the new one, never a part (`write_bytes`);
- other filesystems (gs://): the same, a new object under a temporary name, then renamed over
  the old one; on object stores that rename is a server-side copy of one object, so readers
  see the old object or the new one. A folder cannot be renamed there (it would be many
  copies), so folders are never renamed into place on them (see `export/savedmodel.py` for
  the SavedModel version folder).
"""

from __future__ import annotations

import glob as local_glob
import os
import re
import shutil
from collections.abc import Iterator

from tfpix2pix.errors import UsageError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BROKEN_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/(?!/)")  # gs:/bucket, ram:/x (one slash lost)
_PLUGINS = {"s3": "tensorflow-io", "hdfs": "tensorflow-io", "az": "tensorflow-io", "http": "tensorflow-io",
            "https": "tensorflow-io"}


def scheme(path: str) -> str | None:
    """The filesystem scheme of `path` ('gs' for gs://...), or None for a local path."""
    match = _SCHEME.match(path)
    if not match or match.group(1).lower() == "file":
        return None
    return match.group(1).lower()


def is_remote(path: str) -> bool:
    return scheme(path) is not None


def _gfile():
    import tensorflow as tf  # Only paths with a scheme need TensorFlow's filesystems.

    return tf.io.gfile


def check(path: str, flag: str) -> str:
    """Returns `path` if TensorFlow can open it; refuses it, before any work, when its scheme is not registered.

    Raises:
        UsageError: naming the path, the scheme and what would register it.
    """
    broken = _BROKEN_SCHEME.match(path)
    if broken and not os.path.exists(broken.group(1) + ":"):
        raise UsageError(f"{flag} {path}: '{broken.group(1)}:/' is not a filesystem path; write "
                         f"{broken.group(1)}://{path[len(broken.group(0)):]}")
    name = scheme(path)
    if name is not None:
        registered = [known for known in _gfile().get_registered_schemes() if known and known != "file"]
        if name not in registered:
            helper = _PLUGINS.get(name)
            register = (f"`pip install {helper}` and `import tensorflow_io` register it" if helper
                        else "install and import the TensorFlow filesystem plugin that provides it")
            raise UsageError(f"{flag} {path}: TensorFlow has no filesystem for {name}:// (registered: "
                             f"{', '.join(f'{known}://' for known in sorted(registered))}); {register}")
    return path


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def lexists(path: str) -> bool:
    """Like `exists`, but true for a broken symbolic link (local paths)."""
    return _gfile().exists(path) if is_remote(path) else os.path.lexists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path: str) -> bool:
    if is_remote(path):
        return _gfile().exists(path) and not _gfile().isdir(path)
    return os.path.isfile(path)


def listdir(path: str) -> list[str]:
    """Entry names of a folder (without the trailing '/' gfile gives sub-folders of object stores)."""
    if is_remote(path):
        return [name.rstrip("/") for name in _gfile().listdir(path)]
    return os.listdir(path)


def makedirs(path: str) -> None:
    (_gfile().makedirs if is_remote(path) else lambda folder: os.makedirs(folder, exist_ok=True))(path)


def getsize(path: str) -> int:
    return _gfile().stat(path).length if is_remote(path) else os.path.getsize(path)


def getmtime(path: str) -> float:
    return _gfile().stat(path).mtime_nsec / 1e9 if is_remote(path) else os.path.getmtime(path)


def remove(path: str) -> None:
    (_gfile().remove if is_remote(path) else os.remove)(path)


def rmtree(path: str) -> None:
    """Removes a folder and everything in it; nothing happens when it is absent."""
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def replace(source: str, target: str) -> None:
    """Renames `source` over `target` (atomic for local files; a copy plus a delete on object stores)."""
    if is_remote(source) or is_remote(target):
        _gfile().rename(source, target, overwrite=True)
    else:
        os.replace(source, target)


def open_file(path: str, mode: str = "r"):
    """A file object, for reading or writing, of a local path or any registered filesystem."""
    if is_remote(path):
        return _gfile().GFile(path, mode)
    return open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"}))


def read_bytes(path: str) -> bytes:
    with open_file(path, "rb") as file:
        return file.read()


def write_bytes(path: str, contents: bytes | str) -> None:
    """Writes a whole file so that readers see the old contents or the new, never a part."""
    data = contents.encode("utf-8") if isinstance(contents, str) else contents
    parent = os.path.dirname(path)
    if parent:
        makedirs(parent)
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        # Remote: a new object under a fresh name, then renamed over the old one (on gs:// a
        # server-side copy of the whole object, so readers see the old object or the new one).
        # Writing over the old name directly is not enough everywhere: ram:// appends instead.
        with open_file(temporary, "wb") as file:
            file.write(data)
        replace(temporary, path)
    finally:
        if lexists(temporary):
            remove(temporary)


def glob(pattern: str) -> list[str]:
    return sorted(_gfile().glob(pattern)) if is_remote(pattern) else sorted(local_glob.glob(pattern))


def walk_files(folder: str) -> Iterator[str]:
    """Every file below `folder`, as paths."""
    walk = _gfile().walk if is_remote(folder) else os.walk
    for root, _, names in walk(folder):
        for name in names:
            yield os.path.join(root, name)


def copy(source: str, target: str) -> None:
    """Copies one file (any filesystems), replacing `target`."""
    if is_remote(source) or is_remote(target):
        _gfile().copy(source, target, overwrite=True)
    else:
        shutil.copy2(source, target)


def copy_tree(source: str, target: str) -> None:
    """Copies the files of folder `source` into `target` (any filesystems), creating folders as needed."""
    for path in walk_files(source):
        destination = os.path.join(target, os.path.relpath(path, source))
        makedirs(os.path.dirname(destination))
        copy(path, destination)


def realpath(path: str) -> str:
    """The path with links resolved (local), or as written (other filesystems have no links)."""
    return path.rstrip("/") if is_remote(path) else os.path.realpath(path)


def abspath(path: str) -> str:
    return path if is_remote(path) else os.path.abspath(path)
