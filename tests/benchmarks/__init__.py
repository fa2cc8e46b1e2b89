"""Tests of the scripts in benchmarks/, which are files, not a package: `script` loads one."""

import importlib.util

from tests.paths import REPO


def script(name: str):
    """The module benchmarks/<name>.py, loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
