"""Quality parity with the PyTorch reference.

Trains nothing itself: it evaluates finished runs of both implementations on the same split with
the project's own metrics code (`tfpix2pix.evaluate.folders.evaluate_folders`) and writes a markdown table
and a picture grid (input | reference | tfpix2pix | target). The training and inference commands
are in docs/RESULTS.md.

    python benchmarks/quality_parity.py \
        --ours 0=/tmp/parity/tf-seed0/results/val 1=/tmp/parity/tf-seed1/results/val \
        --reference 0=/tmp/parity/ref-seed0/val 1=/tmp/parity/ref-seed1/val \
        --grid docs/results_facades_grid.png

`--ours` folders are `tfpix2pix test` result folders (their `images/` hold `<name>_input.png`,
`<name>_generated.png`, `<name>_target.png`); `--reference` folders hold the reference's
`<name>.png` outputs. The targets and inputs come from the first `--ours` folder.

`--recorded` adds the means of an earlier evaluation whose images are gone, e.g.
`--recorded "tfpix2pix:0=46.73,12.75,0.2108"`; such rows are marked in the table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile

import numpy as np

from tfpix2pix.data import images
from tfpix2pix.evaluate.folders import evaluate_folders, read_rgb

METRICS = (("l1", "L1 (0-255) ↓", "{:.2f}"), ("psnr", "PSNR dB ↑", "{:.2f}"), ("ssim", "SSIM ↑", "{:.4f}"))


def seeded_folders(pairs: list[str]) -> dict[int, str]:
    folders = {}
    for pair in pairs:
        seed, _, folder = pair.partition("=")
        folders[int(seed)] = folder
    return folders


def split_results(results_dir: str, work: str) -> tuple[str, str, str]:
    """Generated, target and input folders (`<name>.png`) from a `tfpix2pix test` result folder."""
    parts = {kind: os.path.join(work, kind) for kind in ("generated", "target", "input")}
    for folder in parts.values():
        os.makedirs(folder, exist_ok=True)
    source = os.path.join(results_dir, "images")
    for name in os.listdir(source):
        stem, _, kind = os.path.splitext(name)[0].rpartition("_")
        if kind in parts:
            shutil.copyfile(os.path.join(source, name), os.path.join(parts[kind], stem + ".png"))
    return parts["generated"], parts["target"], parts["input"]


def evaluate(ours: dict[int, str], reference: dict[int, str], work: str) -> tuple[dict, str, str]:
    rows: dict = {}
    targets = inputs = None
    for seed, folder in sorted(ours.items()):
        generated, seed_targets, seed_inputs = split_results(folder, os.path.join(work, f"ours-{seed}"))
        targets, inputs = targets or seed_targets, inputs or seed_inputs
        rows[("tfpix2pix", seed)] = evaluate_folders(generated, targets).mean
    for seed, folder in sorted(reference.items()):
        rows[("PyTorch reference", seed)] = evaluate_folders(folder, targets).mean
    return rows, targets, inputs


def recorded_rows(entries: list[str]) -> dict:
    """{(implementation, "S (recorded)"): {"l1", "psnr", "ssim"}} from "NAME:SEED=L1,PSNR,SSIM" entries."""
    rows = {}
    for entry in entries:
        name, _, rest = entry.rpartition(":")
        seed, _, values = rest.partition("=")
        l1, psnr, ssim = (float(value) for value in values.split(","))
        name = {"ours": "tfpix2pix", "reference": "PyTorch reference"}.get(name, name)
        rows[(name, f"{int(seed)} (recorded)")] = {"l1": l1, "psnr": psnr, "ssim": ssim}
    return rows


def table(rows: dict) -> str:
    lines = ["| implementation | seed | " + " | ".join(label for _, label, _ in METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for (name, seed), mean in rows.items():
        lines.append(f"| {name} | {seed} | " + " | ".join(fmt.format(mean[key]) for key, _, fmt in METRICS) + " |")
    for name in dict.fromkeys(name for name, _ in rows):
        values = [mean for (other, _), mean in rows.items() if other == name]
        cells = []
        for key, _, fmt in METRICS:
            numbers = [value[key] for value in values]
            spread = f" (± {(max(numbers) - min(numbers)) / 2:{fmt[2:-1]}})" if len(numbers) > 1 else ""
            cells.append(fmt.format(statistics.mean(numbers)) + spread)
        lines.append(f"| **{name}, mean of seeds** | {len(values)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def picture_grid(names: list[str], inputs: str, reference: str, ours: str, targets: str) -> np.ndarray:
    rows = []
    for name in names:
        rows.append([read_rgb(os.path.join(folder, f"{name}.png"))
                     for folder in (inputs, reference, ours, targets)])
    return images.grid(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", nargs="+", required=True, metavar="SEED=DIR", help="tfpix2pix test result folders")
    parser.add_argument("--reference", nargs="+", required=True, metavar="SEED=DIR",
                        help="folders of the reference's generated <name>.png")
    parser.add_argument("--recorded", nargs="*", default=[], metavar="NAME:SEED=L1,PSNR,SSIM",
                        help="means recorded from an earlier evaluation (NAME: tfpix2pix or reference)")
    parser.add_argument("--grid", metavar="PNG", help="write the 6-image picture grid here")
    parser.add_argument("--names", default="1,12,23,45,67,89", help="val images in the grid (file stems)")
    args = parser.parse_args(argv)
    ours, reference = seeded_folders(args.ours), seeded_folders(args.reference)
    with tempfile.TemporaryDirectory() as work:
        rows, targets, inputs = evaluate(ours, reference, work)
        rows.update(recorded_rows(args.recorded))
        rows = dict(sorted(rows.items(), key=lambda item: (item[0][0] != "tfpix2pix", str(item[0][1]))))
        print(table(rows))
        if args.grid:
            seed = min(ours)
            generated = os.path.join(work, f"ours-{seed}", "generated")
            grid = picture_grid(args.names.split(","), inputs, reference[min(reference)], generated, targets)
            images.save_png(args.grid, grid)
            print(f"\ngrid (input | reference seed {min(reference)} | tfpix2pix seed {seed} | target): {args.grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
