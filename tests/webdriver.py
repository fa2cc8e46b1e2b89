"""Headless Chromium driven over plain W3C WebDriver HTTP: chromedriver speaks JSON, urllib is enough.

No selenium. Every call has a timeout and the driver's process group is killed at the end, so a
broken browser fails the test instead of hanging it. Tests skip with `needs_browser` when chromium
or chromedriver is not installed (Debian packages `chromium` and `chromium-driver`; CI installs them).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1000,800",
]
needs_browser = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install -y chromium chromium-driver)",
)


class WebDriver:
    """A chromedriver process and one browser session, as a context manager."""

    def __init__(self, profile_dir: Path, log_path: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_file = open(log_path, "w")
        # A new session makes the driver a process-group leader, so chromium dies with it.
        self.process = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"], stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.session_id = None
        self.profile_dir = profile_dir

    def call(self, method: str, path: str, body=None, timeout: float = 30.0):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"WebDriver {method} {path} failed: {error.read()[:500]!r}") from error

    def session_call(self, method: str, path: str, body=None, timeout: float = 30.0):
        return self.call(method, f"/session/{self.session_id}{path}", body, timeout)

    def __enter__(self):
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.call("GET", "/status", timeout=2)["ready"]:
                    break
            except (OSError, RuntimeError):
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"chromedriver did not start; see {self.log_file.name}")
            time.sleep(0.2)
        options = {"binary": CHROMIUM, "args": [*CHROMIUM_FLAGS, f"--user-data-dir={self.profile_dir}"]}
        try:
            session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": options,
                "timeouts": {"pageLoad": 30000, "script": 10000},
            }}}, timeout=60)
        except BaseException:
            self.close()
            raise
        self.session_id = session["sessionId"]
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        if self.session_id is not None:
            try:
                self.call("DELETE", f"/session/{self.session_id}", timeout=15)
            except (OSError, RuntimeError):
                pass  # the process group is killed below either way
            self.session_id = None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log_file.close()
