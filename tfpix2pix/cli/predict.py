"""`tfpix2pix predict`: input-only images of any size -> generated PNGs, with any exported model."""

from __future__ import annotations

import sys

from tfpix2pix.cli.flags import add_checkpoint_flag, non_negative_int, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="translate input-only images of any size",
        description="Translate input-only images (files, folders, globs) with a trained model and write "
        "<out>/<input name>.png. Sides that are not a multiple of the U-Net's 2^num_downsamplings are "
        "reflect-padded and the output cropped back, so the output has the input's size; --resize instead "
        "resizes to the training size and back. Unreadable or non-image inputs are reported by name and "
        "skipped (exit code 1).",
        epilog="examples:\n  tfpix2pix predict --model runs/facades photos/*.jpg --out out/\n"
        "  tfpix2pix predict --model export/facades photo.jpg --out out/\n"
        "  tfpix2pix predict --model export/facades/facades_int8.tflite photo.jpg --out out/\n"
        "  tfpix2pix predict --model export/facades/facades.onnx photo.jpg --out out/",
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders or glob patterns")
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="a work dir (latest checkpoint), a SavedModel or export folder, a .tflite file (LiteRT) "
                        "or an .onnx file (ONNX Runtime; deterministic only, like .tflite)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_checkpoint_flag(parser)
    parser.add_argument("--resize", action="store_true", help="resize to the training size and back instead of padding")
    parser.add_argument("--stochastic", action="store_true", help="dropout on, as the paper at test time (§3.3)")
    parser.add_argument("--seed", type=non_negative_int, default=0, metavar="N", help="dropout seed with --stochastic")
    parser.add_argument("--batch-size", type=positive_int, default=4, metavar="N",
                        help="images of the same size per batch (default 4)")
    parser.add_argument("--max-side", type=positive_int, default=4096, metavar="PX",
                        help="refuse images with a side over PX, before decoding (default 4096)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs that already exist in --out (an input is never replaced)")
    parser.set_defaults(handler=run_predict)


def run_predict(args) -> int:
    from tfpix2pix import workdir as workdir_lib
    from tfpix2pix.inference import predict, runners

    workdir_lib.make_writable_folder(args.out, "--out")
    runner = runners.load_runner(args.model, checkpoint=args.checkpoint)
    print(f"model: {runner.description}; "
          f"{'stochastic (dropout on), seed ' + str(args.seed) if args.stochastic else 'deterministic (dropout off)'}")
    written, problems = predict.predict(
        runner, args.inputs, args.out, resize=args.resize, stochastic=args.stochastic, seed=args.seed,
        batch_size=args.batch_size, max_side=args.max_side, overwrite=args.overwrite,
    )
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(f"wrote {len(written)} image(s) to {args.out}" + (f"; skipped {len(problems)}" if problems else ""))
    return 1 if problems else 0
