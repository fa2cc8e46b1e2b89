"""`tfpix2pix datasets`: the official datasets and which are present locally."""

from __future__ import annotations

from tfpix2pix import files


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("datasets", help="list the official datasets and which are present locally",
                                   description="List the official pix2pix datasets with their local status.")
    parser.add_argument("--data-root", default="data", metavar="DIR", help="dataset root (default: data/)")
    parser.set_defaults(handler=run_datasets)


def run_datasets(args) -> int:
    from tfpix2pix.data import datasets

    print(datasets.status_table(files.check(args.data_root, "--data-root")))
    return 0
