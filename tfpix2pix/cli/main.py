"""The `tfpix2pix` command line: parses flags, then calls the library.

Every user error is one line on stderr and exit code 2; nothing here holds training logic. Each
command's module imports the library inside its handler: `--help` and `datasets` then start
without TensorFlow, and `main` imports it once, with its start-up notes kept off the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

# TensorFlow's C++ side logs device probing and graph-rewrite notes at start-up; errors that
# matter reach Python as exceptions. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfpix2pix import __version__  # noqa: E402
from tfpix2pix.cli import app, bench, curves, datasets, evaluate, export, predict, test, train  # noqa: E402
from tfpix2pix.errors import UsageError  # noqa: E402

EPILOG = "Run `tfpix2pix COMMAND --help` for the flags of one command."
COMMANDS = (train, curves, test, predict, evaluate, bench, export, app, datasets)  # in the order --help lists them


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) and help text kept as written."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tfpix2pix",
        description="pix2pix (Isola et al., CVPR 2017) in TensorFlow 2 / Keras 3: paired image-to-image translation.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"tfpix2pix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and probes devices with C-level stderr parked in a temporary file.

    TensorFlow prints CUDA and oneDNN notes before its log level applies; they would bury the
    one line a user needs. If the import fails, what it printed is shown.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # Logical devices would fix the context too early for multi-worker.
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv: list[str] | None = None) -> int:
    # A path whose name is not valid UTF-8 is printed with \xNN escapes instead of failing the print.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "datasets":
        import_tensorflow_quietly()
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"tfpix2pix {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"tfpix2pix {args.command}: failed: {error}", file=sys.stderr)
        return 1
    except ImportError as error:  # An optional runtime (LiteRT, TF Serving protos) is missing: the message says which.
        print(f"tfpix2pix {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # A file or folder the command could not read or write, named by the error.
        print(f"tfpix2pix {args.command}: error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tfpix2pix {args.command}: interrupted", file=sys.stderr)
        return 130
