"""argparse value types shared by the subcommands' parsers."""

from __future__ import annotations

import argparse


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def checkpoint_choice(text: str) -> str:
    """`best`, `latest` or a step number: which checkpoint of a work dir to use."""
    if text in ("best", "latest") or (text.isdigit() and int(text) > 0):
        return text
    raise argparse.ArgumentTypeError(f"expected best, latest or a step number, got {text!r}")


def add_checkpoint_flag(parser) -> None:
    parser.add_argument("--checkpoint", type=checkpoint_choice, default="latest", metavar="WHICH",
                        help="which checkpoint of the work dir: latest (default), best (the best validation "
                        "metric of the run, train.best_metric) or a step number")


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value
