"""`tfpix2pix export`: a work dir's generator -> SavedModel (TF Serving), Keras file, TFLite, ONNX, measured."""

from __future__ import annotations

import argparse
import os
import sys

from tfpix2pix import files
from tfpix2pix.cli.flags import add_checkpoint_flag, positive_int
from tfpix2pix.errors import UsageError


def _variants(text: str) -> tuple[str, ...]:
    from tfpix2pix.export.tflite import VARIANTS

    if text.strip().lower() == "none":
        return ()
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [variant for variant in chosen if variant not in VARIANTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {', '.join(unknown) or repr(text)}; choose from {','.join(VARIANTS)} or none"
        )
    return chosen


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a trained generator: SavedModel (TF Serving), Keras file, TFLite, ONNX",
        description="Export the generator of --workdir (its latest checkpoint, or --checkpoint) to --out:\n"
        "  saved_model/<step>/   TF Serving layout, signatures serving_default (image bytes in, PNG out, any size)\n"
        "                        and translate (float images), warm-up requests in assets.extra/\n"
        "  saved_model_bf16/<step>/   with --bf16: the same in bfloat16 (model name <name>_bf16)\n"
        "  generator.keras       the Keras model\n"
        "  <name>_<variant>.tflite + .json   fp32, fp16, int8 (calibrated on the training split), dynamic\n"
        "  <name>.onnx + .onnx.json   float32, any batch and size, for ONNX Runtime (needs the [onnx] extra)\n"
        "  models.config, README.md (how to serve it, REST and gRPC examples), export.json (figures)\n"
        "Every format is compared with the Keras generator and timed; a TFLite variant more than 2x slower\n"
        "than fp32 is refused with the reason. An existing non-empty version folder is never overwritten.",
        epilog="examples:\n  tfpix2pix export --workdir runs/facades --out export/facades\n"
        "  tfpix2pix export --workdir runs/facades --tflite fp32,int8 --int8-io\n"
        "  tfpix2pix predict --model export/facades/facades_int8.tflite photo.jpg --out out/\n"
        "  tfpix2pix predict --model export/facades/facades.onnx photo.jpg --out out/",
    )
    source = parser.add_argument_group("source and target")
    source.add_argument("--workdir", required=True, metavar="DIR",
                        help="the training run to export (its latest checkpoint unless --checkpoint)")
    add_checkpoint_flag(source)
    source.add_argument("--out", metavar="DIR", help="export folder (default: export/<work dir name>)")
    source.add_argument("--name", metavar="NAME", help="TF Serving model name and TFLite file prefix (default: the "
                        "--out folder's name)")
    serving = parser.add_argument_group("SavedModel")
    serving.add_argument("--stochastic", action="store_true",
                         help="keep dropout on at test time as in the paper (§3.3); default: deterministic")
    serving.add_argument("--bf16", action="store_true",
                         help="also write saved_model_bf16/<step>/: the SavedModel with bfloat16 weights and math, "
                         "float32 in and out, half the size; faster on CPUs with AVX512_BF16 or AMX, emulated "
                         "elsewhere (checked against float32 by PSNR, at least 40 dB; default: float32 only)")
    serving.add_argument("--max-side", type=positive_int, metavar="PX",
                         help="serving_default refuses images with a side above PX (default: 4096)")
    lite = parser.add_argument_group("TFLite")
    lite.add_argument("--tflite", type=_variants, metavar="LIST",
                      help="comma-separated variants: fp32,fp16,int8,dynamic (default: all), or none")
    lite.add_argument("--int8-io", action="store_true", help="int8 input and output tensors in the int8 file "
                      "(default: float32 in and out, quantized inside)")
    lite.add_argument("--int8-float-norm", action="store_true",
                      help="keep instance norm in float inside the int8 file: about 1 dB closer to fp32 and faster "
                      "with XNNPACK, but not integer-only (default: full integer; used anyway below 30 dB PSNR)")
    lite.add_argument("--calibration-images", type=positive_int, metavar="N",
                      help="training images used to calibrate int8 (default: 100)")
    lite.add_argument("--threads", type=positive_int, metavar="N", help="LiteRT and ONNX Runtime threads for "
                      "the timings (default: all cores)")
    onnx = parser.add_argument_group("ONNX")
    onnx.add_argument("--onnx", action=argparse.BooleanOptionalAction, default=None,
                      help="write <name>.onnx (default: on; skipped with a note when tf2onnx, onnx or onnxruntime "
                      "is missing: pip install 'tfpix2pix[onnx]'). --no-onnx saves its conversion and checks (about 10 s "
                      "and 1 GB of memory at 256x256) for exports served only by TF Serving or LiteRT")
    parser.set_defaults(handler=run_export)


def run_export(args) -> int:
    from tfpix2pix.export import export, readme, rollback

    if not files.isdir(files.check(args.workdir, "--workdir")):
        raise UsageError(f"--workdir {args.workdir} does not exist or is not a folder")
    out = args.out or os.path.join("export", os.path.basename(os.path.normpath(args.workdir)))
    options = export.options_from(
        name=args.name, tflite_variants=args.tflite, stochastic=args.stochastic, bfloat16=args.bf16 or None, int8_io=args.int8_io,
        int8_float_norm=args.int8_float_norm, onnx=args.onnx,
        max_side=args.max_side, calibration_images=args.calibration_images, num_threads=args.threads,
        checkpoint=args.checkpoint,
    )
    try:
        result = export.export(args.workdir, out, options)
    except rollback.Stopped as stop:
        undone = ", ".join(os.path.relpath(path, out) for path in stop.undone) or "nothing was written yet"
        print(f"tfpix2pix export: {stop}; rolled back, {out} is as it was (undone: {undone})", file=sys.stderr)
        return 128 + stop.signal_number
    print(readme.format_rows(result.formats))
    print(f"SavedModel: {result.saved_model} (signatures serving_default, translate)")
    if result.saved_model_bf16:
        print(f"bfloat16:   {result.saved_model_bf16} (the same signatures, model name {result.name}_bf16)")
    print(f"serve it:   see {os.path.join(out, 'README.md')}")
    return 0
