"""Downloading and safely extracting dataset archives.

Nothing that looks complete is ever left half-written: the archive streams into `<file>.part`
and is renamed when every byte arrived; it is extracted into a hidden temporary sibling folder
and the dataset folder is renamed into place only when extraction finished.
"""

from __future__ import annotations

import glob
import http.client
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib

from tfpix2pix import __version__
from tfpix2pix.errors import UsageError
from tfpix2pix.progress import Progress

_CHUNK_BYTES = 1 << 16
# Non-interactive progress: about this many lines per download, whatever its size, or one line
# per 10 MB when the server does not say the size.
_PROGRESS_LINES = 20
_CHUNKS_PER_LINE_UNKNOWN_SIZE = 160


class CorruptArchiveError(UsageError):
    """The file is not a readable tar or zip archive (truncated, damaged or another format)."""


def ways_out(folder: str) -> str:
    """The two things a user can do when an official set cannot be downloaded."""
    return (
        f"either put the dataset there by hand ({folder}/train/*.jpg, each file an A|B pair side by side) "
        "or use the bundled sample: --dataset facades-sample"
    )


def _reason(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return str(error.reason)
        error = error.reason
    if isinstance(error, TimeoutError):  # socket.timeout is an alias since Python 3.10.
        return f"no answer within {timeout:g} s"
    if isinstance(error, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} ({error.filename})" if error.filename else error.strerror
    return str(error) or type(error).__name__


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def download(url: str, destination: str, *, timeout: float = 10, progress: bool = True) -> str:
    """Streams `url` into `destination + ".part"` and renames it to `destination` when complete.

    A stale `.part` from an interrupted run is overwritten: the download restarts from the first
    byte rather than resuming, which needs no Range support from the server and cannot splice
    two different versions of a file. A failed download deletes its `.part`.

    Args:
        url: http(s) address of the file.
        destination: Final path of the file.
        timeout: Seconds to wait for the connection and for each read.
        progress: Show a progress bar on stderr.

    Returns:
        `destination`.

    Raises:
        UsageError: No network, no answer, an HTTP error, or fewer bytes than announced; the message
            names the URL and the reason.
    """
    partial = destination + ".part"
    request = urllib.request.Request(url, headers={"User-Agent": f"tfpix2pix/{__version__}"})
    received = 0
    expected = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if expected is None:
                every = _CHUNKS_PER_LINE_UNKNOWN_SIZE
            else:
                every = max(1, expected // _CHUNK_BYTES // _PROGRESS_LINES)
            description = f"download {os.path.basename(destination)}"
            bar = Progress(expected, description=description, unit="B", every=every) if progress else None
            with open(partial, "wb") as file:
                try:
                    while chunk := response.read(_CHUNK_BYTES):
                        file.write(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        _remove(partial)
        raise UsageError(f"cannot download {url}: {_reason(error, timeout)}") from None
    if expected is not None and received != expected:
        _remove(partial)
        raise UsageError(f"cannot download {url}: the connection closed after {received} of {expected} bytes")
    os.replace(partial, destination)
    return destination


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _check_name(archive: str, name: str, root: str) -> str:
    """Returns the normalized destination of member `name`, or raises if it could escape `root`."""
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise UsageError(f"refusing to extract {archive}: member {name!r} has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise UsageError(f"refusing to extract {archive}: member {name!r} has a '..' component")
    path = os.path.normpath(os.path.join(root, name))
    if not _inside(path, root):
        raise UsageError(f"refusing to extract {archive}: member {name!r} lands outside the target folder")
    return path


def _check_link(archive: str, name: str, kind: str, link_target: str, resolved: str, root: str) -> None:
    if not _inside(os.path.normpath(resolved), root):
        raise UsageError(
            f"refusing to extract {archive}: member {name!r} is a {kind} to {link_target!r}, outside the target folder"
        )


def _check_no_link_parent(archive: str, name: str, link_names: set[str]) -> None:
    # A member written through a symlinked folder ends up wherever the link points.
    parts = name.replace("\\", "/").strip("/").split("/")
    for end in range(1, len(parts)):
        if "/".join(parts[:end]) in link_names:
            raise UsageError(f"refusing to extract {archive}: member {name!r} is inside a symlink")


def _validate_tar(archive: str, members: list[tarfile.TarInfo], root: str) -> None:
    link_names = {member.name.strip("/") for member in members if member.issym()}
    for member in members:
        path = _check_name(archive, member.name, root)
        _check_no_link_parent(archive, member.name, link_names)
        if member.isreg() or member.isdir():
            continue
        if member.issym():
            resolved = os.path.join(os.path.dirname(path), member.linkname)
            _check_link(archive, member.name, "symlink", member.linkname, resolved, root)
        elif member.islnk():
            # Hard link targets are archive paths, relative to the archive's root.
            resolved = os.path.join(root, member.linkname)
            _check_link(archive, member.name, "hard link", member.linkname, resolved, root)
        else:
            if member.ischr() or member.isblk():
                kind = "device file"
            elif member.isfifo():
                kind = "fifo"
            else:
                kind = f"special file (tar type {member.type!r})"
            raise UsageError(f"refusing to extract {archive}: member {member.name!r} is a {kind}")


def _validate_zip(archive: str, zip_file: zipfile.ZipFile, root: str) -> None:
    entries = zip_file.infolist()
    # Only archives made on Unix (create_system 3) carry a file type in the high attribute bits.
    modes = {entry.filename: entry.external_attr >> 16 if entry.create_system == 3 else 0 for entry in entries}
    link_names = {name.strip("/") for name, mode in modes.items() if stat.S_ISLNK(mode)}
    for entry in entries:
        path = _check_name(archive, entry.filename, root)
        _check_no_link_parent(archive, entry.filename, link_names)
        mode = modes[entry.filename]
        if stat.S_ISLNK(mode):
            link_target = zip_file.read(entry).decode("utf-8", "replace")
            resolved = os.path.join(os.path.dirname(path), link_target)
            _check_link(archive, entry.filename, "symlink", link_target, resolved, root)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            raise UsageError(f"refusing to extract {archive}: member {entry.filename!r} is a device file")
        elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise UsageError(f"refusing to extract {archive}: member {entry.filename!r} is a fifo or socket")


def safe_extract(archive: str, target_dir: str) -> None:
    """Extracts a tar (any compression) or zip archive into `target_dir`, refusing unsafe members.

    Every member is checked before anything is written. Rejected: absolute paths, `..`
    components, symlinks and hard links resolving outside `target_dir`, members inside a
    symlinked folder, and device files and fifos.

    Raises:
        UsageError: Naming the archive and the offending member.
        CorruptArchiveError: The file is not a readable tar or zip archive (a `UsageError`).
    """
    root = os.path.realpath(target_dir)
    os.makedirs(root, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zip_file:
                _validate_zip(archive, zip_file, root)
                # zipfile writes symlink entries as small regular files, which is safe.
                zip_file.extractall(root)
            return
        with tarfile.open(archive, "r:*") as tar_file:
            members = tar_file.getmembers()
            _validate_tar(archive, members, root)
            # The "data" filter repeats the checks above inside tarfile and drops set-uid bits.
            tar_file.extractall(root, members=members, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        lines = str(error).splitlines()
        # tarfile's "r:*" lists one failure per compression method tried: too much for one line.
        reason = lines[0] if len(lines) == 1 else "not a gzip, bzip2, xz or plain tar file"
        raise CorruptArchiveError(f"{archive} is not a readable tar or zip archive: {reason}") from None


def fetch_dataset(info, data_root: str, *, timeout: float = 10, progress: bool = True) -> str:
    """Downloads and extracts an official dataset into `<data_root>/<info.name>/`.

    Steps: download to `<data_root>/<name>.tar.gz.part`, rename to `<name>.tar.gz`, extract
    into a hidden temporary folder under `data_root`, rename its `<name>/` folder into place,
    delete the archive. A complete archive left by an earlier run whose extraction was
    interrupted is reused; temporary folders left by a killed run are removed first.

    Args:
        info: A `datasets.DatasetInfo` with a `url`.
        data_root: Folder holding the datasets; created when missing.
        timeout: Seconds to wait for the connection and for each read.
        progress: Show a progress bar on stderr.

    Returns:
        The absolute dataset folder.

    Raises:
        UsageError: The download or the extraction failed; the message says why and what to do.
    """
    data_root = os.path.abspath(data_root)
    folder = os.path.join(data_root, info.name)
    try:
        os.makedirs(data_root, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the data root {data_root}: {error.strerror}") from None
    for stale in glob.glob(os.path.join(data_root, f".{info.name}.extract-*")):
        shutil.rmtree(stale, ignore_errors=True)

    archive = os.path.join(data_root, f"{info.name}.tar.gz")
    if not os.path.isfile(archive):
        try:
            download(info.url, archive, timeout=timeout, progress=progress)
        except UsageError as error:
            raise UsageError(f"{error}; {ways_out(folder)}") from None

    temporary = tempfile.mkdtemp(prefix=f".{info.name}.extract-", dir=data_root)
    try:
        try:
            safe_extract(archive, temporary)
        except OSError as error:
            raise UsageError(f"cannot extract {archive} into {data_root}: {error}") from None
        except CorruptArchiveError as error:
            # Delete it, or every later run would trip over the same file instead of downloading.
            _remove(archive)
            raise UsageError(f"{error}; deleted it, run again to download {info.url} again") from None
        source = os.path.join(temporary, info.name)
        if not os.path.isdir(source):
            if not os.path.isdir(os.path.join(temporary, "train")):
                raise UsageError(f"{archive} holds neither {info.name}/ nor train/ at its top; {ways_out(folder)}")
            source = temporary  # An archive without the top folder.
            os.chmod(source, 0o755)  # mkdtemp made it private to this user.
        try:
            os.rename(source, folder)
        except OSError as error:
            raise UsageError(f"cannot move the extracted dataset to {folder}: {error.strerror}") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    _remove(archive)
    return folder
