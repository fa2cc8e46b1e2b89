"""The real `tfpix2pix app` process: prints its URL, answers HTTP 200, stops cleanly on Ctrl-C and SIGTERM."""

import os
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.app.conftest import QUIET_ENV, START_TIMEOUT, free_port, stop, wait_for_http_200
from tests.paths import REPO

pytest.importorskip("gradio")
pytestmark = pytest.mark.slow  # starts the command in a subprocess


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_command_serves_on_127_0_0_1_and_stops_cleanly(tiny_workdir, tmp_path, stop_signal):
    port = free_port()
    environment = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tfpix2pix", "app", "--model", tiny_workdir, "--port", str(port), "--examples", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True,
        cwd=str(tmp_path),
    )
    try:
        seconds = wait_for_http_200(f"http://127.0.0.1:{port}/", process, START_TIMEOUT)
        print(f"tfpix2pix app answered HTTP 200 {seconds:.1f} s after it started")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10) as response:
            assert b'"analytics_enabled":false' in response.read().replace(b" ", b"")
        os.killpg(process.pid, stop_signal)
        out, err = process.communicate(timeout=30)
    finally:
        stop(process)  # only acts when the test failed before the signal
    assert process.returncode == 0, (out, err)
    assert re.search(rf"^serving on http://127\.0\.0\.1:{port}/$", out, re.M), out
    assert "model: work dir" in out and "stopped" in err and "Traceback" not in err
    assert not [name for name in os.listdir(tmp_path)]  # nothing written where it ran
