"""`tfpix2pix evaluate`: metrics between a folder of generated images and a folder of targets."""

from __future__ import annotations

import sys

from tfpix2pix import files
from tfpix2pix.errors import UsageError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="metrics between a folder of generated images and a folder of targets",
        description="Compare two folders of images matched by file name (x.png with x.jpg): L1 (0-255), PSNR, "
        "SSIM per image and mean; label scores with --palette; FID with --fid-weights.",
        epilog="example:\n  tfpix2pix evaluate --generated out/ --target truth/",
    )
    parser.add_argument("--generated", required=True, metavar="DIR", help="folder of generated images")
    parser.add_argument("--target", required=True, metavar="DIR", help="folder of target images (same sizes)")
    parser.add_argument("--palette", metavar="DATASET",
                        help="also compute label scores with this dataset's label palette (facades, cityscapes)")
    parser.add_argument("--fid-weights", metavar="FILE", help="local InceptionV3 no-top weights (.h5) for FID")
    parser.add_argument("--json", metavar="FILE", help="also write the full result as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    from tfpix2pix.data import datasets
    from tfpix2pix.evaluate import folders, metrics, report

    palette = None
    if args.palette:
        info = datasets.REGISTRY.get(args.palette)
        if info is None or info.palette is None:
            with_palettes = [name for name, item in datasets.REGISTRY.items() if item.palette]
            raise UsageError(f"--palette {args.palette!r} has no label palette; choose one of {', '.join(with_palettes)}")
        palette = info.palette
    if args.json:
        files.check(args.json, "--json")
        folders.check_output_file(args.json, "--json", (args.generated, args.target), overwrite=args.overwrite)
    result = folders.evaluate_folders(args.generated, args.target, palette=palette, fid_weights=args.fid_weights)
    for problem in result.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(f"{result.mean['count']} pairs: " + metrics.format_mean(result.mean))
    print(f"fid: {result.fid:.4g}" if result.fid is not None else result.fid_note)
    if args.json:
        report.write_metrics_json(args.json, result.per_image, result.mean, result.extra())
    return 1 if result.problems else 0
