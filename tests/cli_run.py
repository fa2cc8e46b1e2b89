"""Runs the real `tfpix2pix` command line in a subprocess."""

import os
import subprocess
import sys
from tests.paths import REPO


def run_cli(*args, cwd=None, timeout=300, env=None, check=False):
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "tfpix2pix", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result
