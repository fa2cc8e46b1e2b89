"""Tests for tfpix2pix.download, against local files and a local HTTP server only."""

import http.server
import io
import os
import socket
import tarfile
import tempfile
import threading
import time
import zipfile

import pytest

from tfpix2pix.data.datasets import DatasetInfo
from tfpix2pix.data.download import download, fetch_dataset, safe_extract
from tfpix2pix.errors import UsageError

# --- helpers -------------------------------------------------------------------------------------


def add_file(tar, name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_special(tar, name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tar.addfile(info)


def dataset_tar(name="tinyset", files=4, size=1000):
    """A well-formed gzip tar with `<name>/train/<i>.jpg` and `<name>/val/1.jpg`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for index in range(1, files + 1):
            add_file(tar, f"{name}/train/{index}.jpg", bytes([index]) * size)
        add_file(tar, f"{name}/val/1.jpg", b"val")
    return buffer.getvalue()


def closed_port_url(path="/tinyset.tar.gz"):
    # Bind to get a free port, then close it: nothing listens there, connecting is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
def server():
    """A local HTTP server; `routes[path] = (body, announced_length)` says what each path answers."""
    routes = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in routes:
                self.send_error(404, "Not Found")
                return
            body, length = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)  # When length > len(body), the connection closes half-way.

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval keeps shutdown() quick.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, routes
    httpd.shutdown()
    httpd.server_close()


def info_for(url, name="tinyset"):
    return DatasetInfo(name=name, url=url, direction="AtoB", preset="tiny", splits=("train", "val"), description="t")


def listing(folder):
    return sorted(os.listdir(folder))


# --- safe_extract --------------------------------------------------------------------------------


def make_tar(path, bad_member):
    with tarfile.open(path, "w") as tar:
        add_file(tar, "good/train/1.jpg", b"good")
        bad_member(tar)
    return str(path)


@pytest.mark.parametrize(
    "bad_member, member, problem",
    [
        (lambda tar: add_file(tar, "../evil"), "../evil", "'..' component"),
        (lambda tar: add_file(tar, "good/../../evil"), "good/../../evil", "'..' component"),
        (lambda tar: add_file(tar, "/tmp/evil"), "/tmp/evil", "absolute path"),
        (lambda tar: add_special(tar, "good/etc", tarfile.SYMTYPE, "/etc"), "good/etc", "symlink to '/etc'"),
        (lambda tar: add_special(tar, "good/up", tarfile.SYMTYPE, "../../x"), "good/up", "symlink to '../../x'"),
        (lambda tar: add_special(tar, "hard", tarfile.LNKTYPE, "/etc/passwd"), "hard", "hard link to '/etc/passwd'"),
        (lambda tar: add_special(tar, "hard", tarfile.LNKTYPE, "../outside"), "hard", "hard link to '../outside'"),
        (lambda tar: add_special(tar, "good/tty", tarfile.CHRTYPE), "good/tty", "device file"),
        (lambda tar: add_special(tar, "good/disk", tarfile.BLKTYPE), "good/disk", "device file"),
        (lambda tar: add_special(tar, "good/pipe", tarfile.FIFOTYPE), "good/pipe", "fifo"),
    ],
)
def test_safe_extract_rejects_unsafe_members_before_writing_anything(tmp_path, bad_member, member, problem):
    archive = make_tar(tmp_path / "bad.tar", bad_member)
    target = tmp_path / "target"
    with pytest.raises(UsageError) as raised:
        safe_extract(archive, str(target))
    message = str(raised.value)
    assert archive in message and repr(member) in message and problem in message
    # The good member came first in the archive, yet nothing was extracted.
    assert listing(target) == []
    assert not (tmp_path / "evil").exists()


def test_safe_extract_rejects_a_crafted_tar_with_every_attack(tmp_path):
    archive = tmp_path / "crafted.tar"
    with tarfile.open(archive, "w") as tar:
        add_file(tar, "ok.txt")
        add_file(tar, "../evil")
        add_file(tar, "/abs/evil")
        add_special(tar, "etc", tarfile.SYMTYPE, "/etc")
        add_special(tar, "passwd", tarfile.LNKTYPE, "../../etc/passwd")
    with pytest.raises(UsageError, match=r"member '\.\./evil'"):
        safe_extract(str(archive), str(tmp_path / "target"))
    assert listing(tmp_path / "target") == []


def test_safe_extract_rejects_members_written_through_a_symlink(tmp_path):
    archive = make_tar(tmp_path / "bad.tar", lambda tar: (
        add_special(tar, "good/link", tarfile.SYMTYPE, "."),
        add_file(tar, "good/link/file"),
    ))
    with pytest.raises(UsageError, match=r"'good/link/file' is inside a symlink"):
        safe_extract(archive, str(tmp_path / "target"))


def test_safe_extract_accepts_links_that_stay_inside(tmp_path):
    archive = make_tar(tmp_path / "ok.tar", lambda tar: (
        add_special(tar, "good/train/alias.jpg", tarfile.SYMTYPE, "1.jpg"),
        add_special(tar, "good/copy.jpg", tarfile.LNKTYPE, "good/train/1.jpg"),
    ))
    target = tmp_path / "target"
    safe_extract(archive, str(target))
    assert (target / "good/train/alias.jpg").read_bytes() == b"good"
    assert os.readlink(target / "good/train/alias.jpg") == "1.jpg"
    assert (target / "good/copy.jpg").read_bytes() == b"good"


@pytest.mark.parametrize("member, problem", [("../evil", "'..' component"), ("/abs/evil", "absolute path")])
def test_safe_extract_rejects_unsafe_zip_members(tmp_path, member, problem):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("good/1.jpg", b"good")
        zip_file.writestr(zipfile.ZipInfo(member), b"evil")
    with pytest.raises(UsageError, match=problem):
        safe_extract(str(archive), str(tmp_path / "target"))
    assert listing(tmp_path / "target") == []


def test_safe_extract_rejects_a_zip_symlink_outside(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        link = zipfile.ZipInfo("etc")
        link.external_attr = (0o120777 << 16)  # S_IFLNK: the content is the link target.
        zip_file.writestr(link, "/etc")
    with pytest.raises(UsageError, match=r"member 'etc' is a symlink to '/etc'"):
        safe_extract(str(archive), str(tmp_path / "target"))


def test_safe_extract_zip(tmp_path):
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("set/train/1.jpg", b"one")
    safe_extract(str(archive), str(tmp_path / "target"))
    assert (tmp_path / "target/set/train/1.jpg").read_bytes() == b"one"


def test_safe_extract_names_a_file_that_is_no_archive(tmp_path):
    archive = tmp_path / "page.tar.gz"
    archive.write_text("<html>not found</html>")
    with pytest.raises(UsageError, match=r"page\.tar\.gz is not a readable tar or zip archive"):
        safe_extract(str(archive), str(tmp_path / "target"))


# --- download ------------------------------------------------------------------------------------


def test_download_streams_into_part_and_renames(server, tmp_path, capsys):
    base, routes = server
    body = os.urandom(300_000)  # Five 64 KiB chunks.
    routes["/file.bin"] = (body, len(body))
    destination = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(b"stale bytes from an interrupted run")
    assert download(f"{base}/file.bin", str(destination)) == str(destination)
    # The stale .part was overwritten from the first byte, then renamed.
    assert destination.read_bytes() == body
    assert listing(tmp_path) == ["file.bin"]
    err = capsys.readouterr().err
    assert "download file.bin: 0.3/0.3 MB 100%" in err


def test_download_without_progress_is_silent(server, tmp_path, capsys):
    base, routes = server
    routes["/a"] = (b"abc", 3)
    download(f"{base}/a", str(tmp_path / "a"), progress=False)
    assert capsys.readouterr().err == ""


def test_download_cut_short_leaves_nothing(server, tmp_path):
    base, routes = server
    routes["/half"] = (b"x" * 5000, 100_000)
    with pytest.raises(UsageError) as raised:
        download(f"{base}/half", str(tmp_path / "half"), progress=False)
    assert str(raised.value) == f"cannot download {base}/half: the connection closed after 5000 of 100000 bytes"
    assert listing(tmp_path) == []


def test_download_http_error(server, tmp_path):
    base, _ = server
    with pytest.raises(UsageError, match=r"/missing\.tar\.gz: HTTP 404 Not Found"):
        download(f"{base}/missing.tar.gz", str(tmp_path / "m"), progress=False)
    assert listing(tmp_path) == []


# --- fetch_dataset -------------------------------------------------------------------------------


def test_fetch_dataset_downloads_extracts_and_cleans_up(server, tmp_path, capsys):
    base, routes = server
    body = dataset_tar(size=100_000)
    routes["/tinyset.tar.gz"] = (body, len(body))
    data_root = tmp_path / "data"
    folder = fetch_dataset(info_for(f"{base}/tinyset.tar.gz"), str(data_root))
    assert folder == str(data_root / "tinyset")
    assert listing(data_root) == ["tinyset"]  # No archive, .part or temporary folder left.
    assert listing(data_root / "tinyset/train") == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    assert (data_root / "tinyset/train/3.jpg").read_bytes() == bytes([3]) * 100_000
    assert "download tinyset.tar.gz:" in capsys.readouterr().err


def test_fetch_dataset_half_way_failure_then_clean_rerun(server, tmp_path):
    base, routes = server
    body = dataset_tar(size=200_000)
    routes["/tinyset.tar.gz"] = (body[: len(body) // 2], len(body))
    data_root = tmp_path / "data"
    info = info_for(f"{base}/tinyset.tar.gz")
    with pytest.raises(UsageError) as raised:
        fetch_dataset(info, str(data_root), progress=False)
    assert "--dataset facades-sample" in str(raised.value)
    assert listing(data_root) == []  # No dataset folder, no archive, no .part.

    routes["/tinyset.tar.gz"] = (body, len(body))
    folder = fetch_dataset(info, str(data_root), progress=False)
    assert len(os.listdir(os.path.join(folder, "train"))) == 4
    assert listing(data_root) == ["tinyset"]


def test_fetch_dataset_removes_leftovers_of_a_killed_run(server, tmp_path):
    base, routes = server
    body = dataset_tar()
    routes["/tinyset.tar.gz"] = (body, len(body))
    data_root = tmp_path / "data"
    (data_root / ".tinyset.extract-abc123/tinyset/train").mkdir(parents=True)
    (data_root / "tinyset.tar.gz.part").write_bytes(b"partial")
    fetch_dataset(info_for(f"{base}/tinyset.tar.gz"), str(data_root), progress=False)
    assert listing(data_root) == ["tinyset"]


def test_fetch_dataset_deletes_a_corrupt_archive(server, tmp_path):
    base, routes = server
    routes["/tinyset.tar.gz"] = (b"<html>maintenance</html>", 24)
    data_root = tmp_path / "data"
    with pytest.raises(UsageError) as raised:
        fetch_dataset(info_for(f"{base}/tinyset.tar.gz"), str(data_root), progress=False)
    assert str(raised.value) == (
        f"{data_root / 'tinyset.tar.gz'} is not a readable tar or zip archive: not a gzip, bzip2, xz or plain tar "
        f"file; deleted it, run again to download {base}/tinyset.tar.gz again"
    )
    assert listing(data_root) == []


def test_fetch_dataset_accepts_an_archive_without_top_folder(server, tmp_path):
    base, routes = server
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add_file(tar, "train/1.jpg", b"one")
    routes["/flat.tar.gz"] = (buffer.getvalue(), len(buffer.getvalue()))
    data_root = tmp_path / "data"
    folder = fetch_dataset(info_for(f"{base}/flat.tar.gz", name="flat"), str(data_root), progress=False)
    assert (data_root / "flat/train/1.jpg").read_bytes() == b"one"
    assert oct(os.stat(folder).st_mode & 0o777) == oct(0o755)


def test_fetch_dataset_offline_fails_fast_with_the_ways_out(tmp_path):
    url = closed_port_url()
    data_root = tmp_path / "data"
    start = time.monotonic()
    with pytest.raises(UsageError) as raised:
        fetch_dataset(info_for(url), str(data_root))
    assert time.monotonic() - start < 5
    message = str(raised.value)
    assert message.startswith(f"cannot download {url}: Connection refused; ")
    assert f"put the dataset there by hand ({data_root / 'tinyset'}/train/*.jpg" in message
    assert message.endswith("or use the bundled sample: --dataset facades-sample")
    assert "\n" not in message
    assert listing(data_root) == []


def test_fetch_dataset_unknown_host_names_the_reason(tmp_path, monkeypatch):
    # DNS failure without touching the network: make resolution fail the way getaddrinfo does.
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(UsageError, match=r"tinyset\.tar\.gz: Name or service not known; either put"):
        fetch_dataset(info_for("http://efrosgans.invalid/tinyset.tar.gz"), str(tmp_path), timeout=1)


def test_a_dataset_for_a_remote_data_root_is_checked_locally_then_copied(server, tmp_path, monkeypatch):
    from tfpix2pix import files
    from tfpix2pix.data import datasets

    base, routes = server
    monkeypatch.setenv(datasets.MIRROR_VARIABLE, base)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    body = dataset_tar(name="facades", size=1000)
    routes["/facades.tar.gz"] = (body, len(body))
    root = "ram://download-test/data"
    folder = datasets.ensure_dataset("facades", root, progress=False)
    assert folder == f"{root}/facades" and datasets.is_present("facades", root)
    assert sorted(files.listdir(f"{folder}/train")) == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    assert files.read_bytes(f"{folder}/train/3.jpg") == bytes([3]) * 1000
    assert os.listdir(tmp_path) == []  # the local download and extraction are gone
    # The same safety checks: a hostile archive is refused and nothing reaches the remote root.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add_file(tar, "maps/train/1.jpg", b"x")
        add_file(tar, "../evil", b"x")
    routes["/maps.tar.gz"] = (buffer.getvalue(), len(buffer.getvalue()))
    with pytest.raises(UsageError, match="'..' component"):
        datasets.ensure_dataset("maps", root, progress=False)
    assert not files.exists(f"{root}/maps")
