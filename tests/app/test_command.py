"""The real `tfpix2pix app` process: prints its URL, answers HTTP 200, stops cleanly on Ctrl-C and SIGTERM."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.app.conftest import QUIET_ENV, START_TIMEOUT, free_port, stop, wait_for_http_200
from tests.paths import REPO

pytest.importorskip("gradio")
pytestmark = pytest.mark.slow  # starts the command in a subprocess


class _Lines:
    """Reads a pipe to its end in a thread, so the test can wait for a line while the process runs."""

    def __init__(self, pipe):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line)

    def seen(self, fragment: str, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(fragment in line for line in list(self.lines)):
                return True
            time.sleep(0.1)
        return False

    def text(self, *, join_timeout: float = 0) -> str:
        if join_timeout:
            self.thread.join(join_timeout)
        return "".join(self.lines)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_command_serves_on_127_0_0_1_and_stops_cleanly(tiny_workdir, tmp_path, stop_signal):
    port = free_port()
    environment = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tfpix2pix", "app", "--model", tiny_workdir, "--port", str(port), "--examples", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True,
        cwd=str(tmp_path),
    )
    streams = {name: _Lines(getattr(process, name)) for name in ("stdout", "stderr")}
    try:
        seconds = wait_for_http_200(f"http://127.0.0.1:{port}/", process, START_TIMEOUT)
        print(f"tfpix2pix app answered HTTP 200 {seconds:.1f} s after it started")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=10) as response:
            assert b'"analytics_enabled":false' in response.read().replace(b" ", b"")
        # The page answers while Gradio still finishes its start-up: stop once the command says it
        # serves, as a user would.
        assert streams["stdout"].seen("Ctrl-C stops it", timeout=60), streams["stdout"].text()
        os.killpg(process.pid, stop_signal)
        process.wait(timeout=90)  # a hang guard: Gradio and TensorFlow shut down slowly on a loaded machine
    finally:
        stop(process)  # only acts when the test failed before the signal
    out, err = (streams[name].text(join_timeout=10) for name in ("stdout", "stderr"))
    assert process.returncode == 0, (out, err)
    assert re.search(rf"^serving on http://127\.0\.0\.1:{port}/$", out, re.M), out
    assert "model: work dir" in out and "stopped" in err and "Traceback" not in err
    assert not [name for name in os.listdir(tmp_path)]  # nothing written where it ran
