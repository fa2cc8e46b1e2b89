"""Which files make a split: a named dataset, a folder of A|B pairs, or two folders of halves."""

from __future__ import annotations

import os

from tfpix2pix import files
from tfpix2pix.data import datasets, validate
from tfpix2pix.errors import UsageError


def minimum_training_side(image_size: int) -> int:
    """Smallest accepted side of a (half) image: a quarter of the training size, at least 8 px.

    Smaller images would be blown up more than 4x by the resize to load_size: garbage to learn from.
    """
    return max(8, image_size // 4)


def dataset_root(data_config, *, download: bool = True) -> str | None:
    """The folder holding train/, val/, ... for the configured data; None for --a-dir/--b-dir."""
    if data_config.a_dir or data_config.b_dir:
        return None
    if data_config.data_dir:
        if not files.isdir(data_config.data_dir):
            raise UsageError(f"--data-dir {data_config.data_dir} does not exist or is not a folder")
        return data_config.data_dir
    return datasets.ensure_dataset(data_config.dataset, data_config.data_root, download=download)


def split_sources(data_config, split: str, *, image_size: int, log=print, download: bool = True) -> list:
    """Validated sources of `split`: A|B file paths, or (a_path, b_path) tuples.

    Every file is checked before training starts (readable, a real JPEG/PNG, size, even width for
    A|B pairs). Bad files stop the run with their full list unless data.skip_bad is set, in which
    case they are logged and left out.
    """
    min_size = minimum_training_side(image_size)
    if data_config.a_dir or data_config.b_dir:
        if not (data_config.a_dir and data_config.b_dir):
            raise UsageError("--a-dir and --b-dir go together: give both folders")
        for flag, folder in (("--a-dir", data_config.a_dir), ("--b-dir", data_config.b_dir)):
            if not files.isdir(folder):
                raise UsageError(f"{flag} {folder} does not exist or is not a folder")
        sources, bad = validate.match_folders(data_config.a_dir, data_config.b_dir, min_size=min_size, log=log)
        where = f"{data_config.a_dir} + {data_config.b_dir}"
    else:
        folder = os.path.join(dataset_root(data_config, download=download), split)
        if not files.isdir(folder):
            raise UsageError(f"split folder {folder} does not exist (expected {split}/ with A|B image pairs)")
        sources, bad = validate.scan_pairs(folder, min_size=min_size, log=log)
        where = folder
    validate.enforce(bad, skip_bad=data_config.skip_bad, split_name=where, good_count=len(sources), log=log)
    return sources


def check_outside_data(path: str, flag: str, sources: list) -> None:
    """Refuses a folder to write into that is, or is inside, a folder `sources` are read from.

    Outputs written there (sample grids, results pages) would become data of the next run.
    """
    target = files.realpath(path)
    paths = [file for source in sources for file in (source if isinstance(source, tuple) else (source,))]
    for folder in {os.path.dirname(files.realpath(file)) for file in paths}:
        if target == folder or target.startswith(folder + os.sep):
            raise UsageError(f"{flag} {path} is inside the data folder {folder} that is read from; nothing was "
                             f"written: choose a {flag} outside it")


def has_split(data_config, split: str) -> bool:
    """Whether `split` exists for the configured data (without downloading)."""
    if data_config.a_dir or data_config.b_dir:
        return split == "train"
    try:
        root = dataset_root(data_config, download=False)
    except UsageError:
        return False
    return root is not None and files.isdir(os.path.join(root, split))
