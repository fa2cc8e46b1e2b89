"""The `tfpix2pix` command line: one module per command, put together by `main.py`."""

from tfpix2pix.cli.main import build_parser, import_tensorflow_quietly, main

__all__ = ["build_parser", "import_tensorflow_quietly", "main"]
