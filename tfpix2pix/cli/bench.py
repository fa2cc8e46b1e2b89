"""`tfpix2pix bench`: training speed, FLOP use, inference latency and pipeline speed on this machine."""

from __future__ import annotations

import json
import sys

from tfpix2pix import config as config_lib
from tfpix2pix.cli.flags import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure training speed, FLOP use, inference latency, pipeline speed",
        description="Measure on this machine (medians after warm-up): training images/s of the paper's models "
        "(both norms), the train step's GFLOP and its share of the measured float32 matmul peak, the step's compute "
        "and memory floors (its FLOPs at the convolution rate measured at its own layer shapes, and the bytes it must "
        "move at the measured memory bandwidth), generator latency per image for Keras, the SavedModel and its bf16 "
        "variant, each TFLite variant and ONNX Runtime (with the [onnx] extra), input pipeline images/s and peak "
        "memory. Every result names the CPU model and the flags that matter (AVX2, AVX512F, AVX512_BF16, AMX, VNNI).",
        epilog="examples:\n  tfpix2pix bench\n  tfpix2pix bench --json > bench.json\n  tfpix2pix bench --quick --json",
    )
    parser.add_argument("--image-size", type=positive_int, metavar="N", help="image side (default 256; 32 with --quick)")
    parser.add_argument("--batch-size", type=positive_int, default=1, metavar="N", help="batch size (default 1)")
    parser.add_argument("--precision", choices=config_lib.PRECISIONS, default="float32",
                        help="precision policy of the timed train step: float32 (default), mixed_float16 (GPUs), "
                        "mixed_bfloat16 (CPUs with AVX512_BF16 or AMX; emulated and slow elsewhere)")
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--quick", action="store_true",
                        help="tiny model, few repeats, SavedModels timed in this process: a smoke test, not a measurement")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.set_defaults(handler=run_bench)


def run_bench(args) -> int:
    from tfpix2pix.evaluate import bench

    image_size = args.image_size or (32 if args.quick else 256)
    bench.validate_options(image_size, args.batch_size)
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    results = bench.run(image_size=image_size, batch_size=args.batch_size, precision=args.precision,
                        jit=args.jit, quick=args.quick, log=log)
    print(json.dumps(results, indent=2) if args.json else bench.table(results))
    return 0
