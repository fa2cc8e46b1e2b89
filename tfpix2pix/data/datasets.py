"""The registry of known datasets: the official pix2pix sets and the bundled facades sample.

Each file of a set holds one pair side by side: left half A, right half B (§6.2).
Official sets live in `<data_root>/<name>/` and are downloaded there when missing.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass

from tfpix2pix import files
from tfpix2pix.data.download import fetch_dataset, ways_out
from tfpix2pix.errors import UsageError

ARCHIVE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
# Base URL of a mirror holding <name>.tar.gz archives, used instead of the Berkeley server when set.
MIRROR_VARIABLE = "TFPIX2PIX_DATASET_MIRROR"
SAMPLE_NAME = "facades-sample"


@dataclass(frozen=True)
class DatasetInfo:
    """What is known about one dataset.

    Attributes:
        name: Registry key, also the folder name under the data root.
        url: Archive to download, or None for the bundled sample.
        direction: The usual translation direction, "AtoB" or "BtoA".
        preset: Name of the matching preset in `config.PRESETS`.
        splits: Sub-folders the archive holds, e.g. ("train", "val").
        description: One line for humans.
        palette: RGB colors of the label maps, in class order, or None when the set has no labels.
        palette_side: The half holding the label maps ("A" or "B"), or None.
        classes: The class names, one per palette color in the same order, or None.
        background: Index of the class an unlabelled area is drawn in (a blank label map), or None.
    """

    name: str
    url: str | None
    direction: str
    preset: str
    splits: tuple[str, ...]
    description: str
    palette: tuple[tuple[int, int, int], ...] | None = None
    palette_side: str | None = None
    classes: tuple[str, ...] | None = None
    background: int | None = None

    def __post_init__(self):
        if (self.classes is None) != (self.palette is None) or (self.classes and len(self.classes) != len(self.palette)):
            raise ValueError(f"{self.name}: one class name per palette color")


# CMP Facade Database label colors, classes 1..12 in the database's order. Derived from the real
# pix2pix facades/train right halves (400 files): pixels whose 5x5 neighbourhood is flat (JPEG
# ringing excluded) form exactly 12 tight clusters, whose medians are (0,0,222) (0,48,255)
# (0,128,255) (1,207,255) (32,255,224) (112,254,142) (192,255,63) (255,240,1) (255,159,0)
# (255,80,0) (254,0,0) (174,0,0). They are rows 6, 11, ..., 61 of MATLAB's default colormap
# jet(64), rounded to 8 bits: those exact colors, saved as JPEG (quality 95) and decoded, give
# back every median above. Class order was checked on the data: the first color touches the
# image border most (background), the second covers the most area (facade), door and shop sit
# at the bottom of the images. tests/test_datasets.py recomputes the rows from jet(64).
FACADES_PALETTE = (
    (0, 0, 223),  # background
    (0, 48, 255),  # facade
    (0, 128, 255),  # window
    (0, 207, 255),  # door
    (32, 255, 223),  # cornice
    (112, 255, 143),  # sill
    (191, 255, 64),  # balcony
    (255, 239, 0),  # blind
    (255, 159, 0),  # deco
    (255, 80, 0),  # molding
    (255, 0, 0),  # pillar
    (175, 0, 0),  # shop
)
FACADES_CLASSES = ("background", "facade", "window", "door", "cornice", "sill", "balcony", "blind", "deco",
                   "molding", "pillar", "shop")

# The Cityscapes colors of the 19 classes used for training and evaluation (trainId 0..18, from
# the official cityscapesScripts labels), then void as black. The pix2pix label maps also draw
# some rarer ignored classes (ground, parking, rail track, ...) in their own colors; those are not
# listed, so a nearest-color lookup maps them to one of these 20.
CITYSCAPES_PALETTE = (
    (128, 64, 128),  # road
    (244, 35, 232),  # sidewalk
    (70, 70, 70),  # building
    (102, 102, 156),  # wall
    (190, 153, 153),  # fence
    (153, 153, 153),  # pole
    (250, 170, 30),  # traffic light
    (220, 220, 0),  # traffic sign
    (107, 142, 35),  # vegetation
    (152, 251, 152),  # terrain
    (70, 130, 180),  # sky
    (220, 20, 60),  # person
    (255, 0, 0),  # rider
    (0, 0, 142),  # car
    (0, 0, 70),  # truck
    (0, 60, 100),  # bus
    (0, 80, 100),  # train
    (0, 0, 230),  # motorcycle
    (119, 11, 32),  # bicycle
    (0, 0, 0),  # void
)
CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                      "motorcycle", "bicycle", "void")
FACADES_LABELS = {"palette": FACADES_PALETTE, "palette_side": "B", "classes": FACADES_CLASSES, "background": 0}
# Void (black) is what the label maps leave unlabelled.
CITYSCAPES_LABELS = {"palette": CITYSCAPES_PALETTE, "palette_side": "B", "classes": CITYSCAPES_CLASSES,
                     "background": CITYSCAPES_CLASSES.index("void")}


def _official(name: str, direction: str, splits: tuple[str, ...], description: str, **labels) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        url=ARCHIVE_URL.format(name=name),
        direction=direction,
        preset=name,
        splits=splits,
        description=description,
        **labels,
    )


# Directions and splits as the authors publish the sets; the presets of the same names hold the paper's settings.
REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _official(
            "facades",
            "BtoA",
            ("train", "val", "test"),
            "CMP facades, label map -> photo, 400 train pairs",
            **FACADES_LABELS,
        ),
        _official("maps", "AtoB", ("train", "val"), "Google Maps, aerial photo -> map, 1096 train pairs"),
        _official(
            "cityscapes",
            "BtoA",
            ("train", "val"),
            "Cityscapes, label map -> photo, 2975 train pairs",
            **CITYSCAPES_LABELS,
        ),
        _official("edges2shoes", "AtoB", ("train", "val"), "UT Zappos50K, edges -> shoe photo, about 50k pairs"),
        _official("edges2handbags", "AtoB", ("train", "val"), "iGAN handbags, edges -> photo, about 137k pairs"),
        _official("night2day", "AtoB", ("train", "val", "test"), "Transient Attributes, night -> day, 17.8k pairs"),
        DatasetInfo(
            name=SAMPLE_NAME,
            url=None,
            direction="BtoA",
            preset="sample",
            splits=("train", "val"),
            description="bundled: 24 + 8 real facades pairs, trains in minutes on a CPU",
            **FACADES_LABELS,
        ),
    )
}


def _info(name: str) -> DatasetInfo:
    if name not in REGISTRY:
        raise UsageError(f"unknown dataset {name!r}; valid datasets: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def bundled_sample_dir() -> str:
    """Absolute path of the facades sample shipped inside the package."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sample_data", SAMPLE_NAME)


def dataset_dir(name: str, data_root: str) -> str:
    """Absolute folder where dataset `name` lives, or would live once downloaded."""
    _info(name)
    if name == SAMPLE_NAME:
        return bundled_sample_dir()
    return files.abspath(os.path.join(data_root, name))


def is_present(name: str, data_root: str) -> bool:
    """True when the dataset folder has a `train/` sub-folder holding at least one file."""
    train_dir = os.path.join(dataset_dir(name, data_root), "train")
    if files.is_remote(train_dir):
        return files.isdir(train_dir) and any(files.isfile(os.path.join(train_dir, name))
                                              for name in files.listdir(train_dir))
    if not os.path.isdir(train_dir):
        return False
    with os.scandir(train_dir) as entries:
        return any(entry.is_file() for entry in entries)


def status_table(data_root: str) -> str:
    """A table of every known dataset: direction, splits, local status and folder."""
    header = ("name", "direction", "splits", "status", "path")
    rows = [header]
    for name, info in REGISTRY.items():
        if info.url is None:
            status = "bundled"
        else:
            status = "present" if is_present(name, data_root) else "missing"
        rows.append((name, info.direction, ",".join(info.splits), status, dataset_dir(name, data_root)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
    lines.append(f"Missing sets are downloaded into {files.abspath(data_root)} on first use (--data-root).")
    return "\n".join(lines)


def ensure_dataset(name: str, data_root: str, *, download: bool = True, progress: bool = True) -> str:
    """Returns the folder of dataset `name` (holding `train/`, ...), downloading it when missing.

    Args:
        name: A key of `REGISTRY`.
        data_root: Folder holding the official sets, one sub-folder each.
        download: Fetch a missing official set; when False a missing set is an error.
        progress: Show a progress bar while downloading.

    Raises:
        UsageError: Unknown name, a folder in the way, download off or failing.
    """
    info = _info(name)
    folder = dataset_dir(name, data_root)
    if info.url is None:
        if not is_present(name, data_root):
            raise UsageError(f"the bundled sample is missing from {folder}; reinstall tfpix2pix")
        return folder
    if is_present(name, data_root):
        return folder
    if files.isdir(folder):
        if files.listdir(folder):
            raise UsageError(
                f"{folder} exists but has no files in train/; expected {folder}/train/*.jpg "
                f"(A|B pairs side by side); move it away to download {name} again"
            )
        files.rmtree(folder)  # An empty folder is just in the way of the atomic rename.
    elif files.exists(folder):
        raise UsageError(f"{folder} is a file, not a dataset folder; move it away to download {name}")
    if not download:
        raise UsageError(f"dataset {name!r} is not in {folder} and downloading is off; {ways_out(folder)}")
    mirror = os.environ.get(MIRROR_VARIABLE)
    if mirror:
        info = dataclasses.replace(info, url=f"{mirror.rstrip('/')}/{name}.tar.gz")
    if files.is_remote(data_root):
        # Object stores cannot rename a folder into place: download and check the archive locally (the
        # same safety checks), then copy the extracted splits, train/ last, since the set counts as
        # present once train/ holds a file.
        with tempfile.TemporaryDirectory(prefix="tfpix2pix-download-") as local_root:
            extracted = fetch_dataset(info, local_root, progress=progress)
            for split in sorted(os.listdir(extracted), key=lambda name: name == "train"):
                files.copy_tree(os.path.join(extracted, split), os.path.join(folder, split))
    else:
        folder = fetch_dataset(info, data_root, progress=progress)
    if not is_present(name, data_root):
        raise UsageError(f"the archive {info.url} held no files in {name}/train/; expected {folder}/train/*.jpg")
    return folder

