"""The app tests' shared state: a tiny trained work dir, and `tfpix2pix app` serving it in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import NamedTuple

import pytest

from tests.paths import REPO

# gradio_client reads only the environment variable; the app sets it for itself too.
QUIET_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
os.environ.update(QUIET_ENV)
START_TIMEOUT = 120  # seconds; the app answers in about 15-20 s on 2 busy cores (TensorFlow import included)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_workdir(tmp_path_factory) -> str:
    """`tiny` (32x32, U-Net) trained 4 steps on the bundled facades sample (BtoA: label maps in)."""
    from tfpix2pix.cli.main import main

    workdir = str(tmp_path_factory.mktemp("app-model") / "run")
    assert main(["train", "--preset", "tiny", "--steps", "4", "--workdir", workdir]) == 0
    return workdir


class Served(NamedTuple):
    url: str
    seconds_to_http_200: float
    log_path: str


def wait_for_http_200(url: str, process: subprocess.Popen, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"tfpix2pix app exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"tfpix2pix app did not answer {url} within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (the app closes its server and exits 0), then SIGKILL after a bounded wait."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def served_app(tiny_workdir, tmp_path_factory):
    """`tfpix2pix app --model <tiny work dir>` on a free 127.0.0.1 port, stopped at the end of the session."""
    port = free_port()
    log_path = str(tmp_path_factory.mktemp("app-log") / "app.log")
    environment = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(REPO)}
    with open(log_path, "w") as log:
        start = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "tfpix2pix", "app", "--model", tiny_workdir, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True, cwd=str(REPO),
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for_http_200(url, process, START_TIMEOUT)
            yield Served(url, time.monotonic() - start, log_path)
        except RuntimeError as error:
            raise RuntimeError(f"{error}; its output:\n{open(log_path).read()[-3000:]}") from None
        finally:
            stop(process)
