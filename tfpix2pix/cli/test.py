"""`tfpix2pix test`: a split of a work dir's data -> images, metrics.json and index.html."""

from __future__ import annotations

import sys

from tfpix2pix.cli.flags import add_checkpoint_flag, non_negative_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "test", help="run a trained model over a split: images, metrics.json, index.html",
        description="Run the work dir's generator (latest checkpoint unless --checkpoint) over a split of A|B pairs and write, under "
        "<workdir>/results/<split>/, the input | generated | target images as PNG, metrics.json (mean and "
        "per image: L1 on 0-255, PSNR, SSIM, and label scores for photo -> labels tasks) and index.html, "
        "a page that opens from disk.",
        epilog="examples:\n  tfpix2pix test --workdir runs/facades\n"
        "  tfpix2pix test --workdir runs/facades --split test --stochastic --seed 3",
    )
    parser.add_argument("--workdir", required=True, metavar="DIR", help="a training work dir (holds config.json)")
    add_checkpoint_flag(parser)
    parser.add_argument("--split", default="val", metavar="NAME", help="split folder to run on (default: val)")
    parser.add_argument("--stochastic", action="store_true",
                        help="the paper's test-time mode (§3.3): dropout on, batch statistics; default: deterministic")
    parser.add_argument("--seed", type=non_negative_int, default=0, metavar="N", help="dropout seed with --stochastic")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: <workdir>/results/<split>[-stochastic])")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out that holds other files (an earlier result there is always replaced)")
    parser.add_argument("--fid-weights", metavar="FILE",
                        help="local InceptionV3 no-top weights (.h5) to also compute FID; nothing is downloaded")
    parser.set_defaults(handler=run_test)


def run_test(args) -> int:
    from tfpix2pix.evaluate import metrics, results

    result = results.run_test(
        args.workdir, split=args.split, stochastic=args.stochastic, seed=args.seed, out_dir=args.out,
        fid_weights=args.fid_weights, overwrite=args.overwrite,
        checkpoint=args.checkpoint,
    )
    print(f"{result.count} images, step {result.step}, {result.mode}")
    print("mean: " + metrics.format_mean(result.mean))
    print(f"page:    {result.page}")
    print(f"metrics: {result.metrics_json}")
    if result.skipped:
        print(f"tfpix2pix test: {len(result.skipped)} unusable input(s) skipped (listed above)", file=sys.stderr)
        return 1
    return 0
