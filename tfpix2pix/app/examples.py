"""Example inputs for `tfpix2pix app`: the input halves of a few validation pairs of the model's dataset."""

from __future__ import annotations

import os

from PIL import Image

from tfpix2pix.app.canvas import input_side
from tfpix2pix.data import datasets, validate
from tfpix2pix.errors import UsageError

SPLITS = ("val", "test", "train")  # the first of these that the dataset has on disk


def example_inputs(dataset: str | None, direction: str | None, data_root: str, out_dir: str, *,
                   count: int = 4) -> list[str]:
    """Writes the input halves (A for AtoB, B for BtoA) of up to `count` pairs to `out_dir` as PNGs.

    The pairs come from the dataset's val split (else test, else train) under `data_root`, or the
    bundled sample; nothing is downloaded. A missing dataset, an unknown one (the user's own data)
    or unreadable files give fewer examples, or none.

    Returns:
        The written paths, in the split's order.
    """
    if dataset not in datasets.REGISTRY or direction not in ("AtoB", "BtoA") or count < 1:
        return []
    folder = datasets.dataset_dir(dataset, data_root)
    split = next((os.path.join(folder, name) for name in SPLITS if os.path.isdir(os.path.join(folder, name))), None)
    if split is None:
        return []
    try:
        images, _ = validate.list_split(split)
    except UsageError:  # a folder that cannot be listed: no examples, the app still works
        return []
    written = []
    for path in images:
        if len(written) == count:
            break
        if validate.check_image(path, paired=True, min_size=8, max_side=4096) is not None:
            continue
        with Image.open(path) as pair:
            pair = pair.convert("RGB")
            half = pair.width // 2
            box = (0, 0, half, pair.height) if input_side(direction) == "A" else (half, 0, 2 * half, pair.height)
            target = os.path.join(out_dir, f"{dataset}-{os.path.splitext(os.path.basename(path))[0]}.png")
            pair.crop(box).save(target)
        written.append(target)
    return written
