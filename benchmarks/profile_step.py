"""Where the train step's time goes: a TensorFlow profiler trace, summed by op type.

Traces `--steps` train steps (256x256, batch 1 or `--batch-size`, instance norm, float32 or `--precision`, the
trainer `train` uses) after warm-up with `tf.profiler.experimental`, reads the trace's XSpace (the
`.xplane.pb` TensorBoard's profile plugin shows) and prints each op type's share of the time the
TensorFlow executor spent in ops. Op time summed over threads can exceed wall time: two cores
run ops in parallel.

    python benchmarks/profile_step.py                  # markdown table of the top op types
    python benchmarks/profile_step.py --size 128 --steps 3 --logdir /tmp/profile   # keep the trace for TensorBoard
    python benchmarks/profile_step.py --precision mixed_bfloat16   # a CPU with AVX512_BF16 or AMX
    python benchmarks/profile_step.py --precision mixed_bfloat16 --batch-size 4 --steps 2
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import tempfile
import time


def op_seconds(logdir: str) -> dict:
    """Seconds per TensorFlow op type in the newest trace under `logdir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = max(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as file:
        space.ParseFromString(file.read())
    totals = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if line.name == "python":  # The Python thread's events enclose the ops (function calls).
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # Executor op events are named "<op name>:<op type>"; skip Python and runtime events.
                if ":" not in name or "::" in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                # oneDNN's kernels are named `_Mkl...` (`_MklNativeConv2D`): keep them.
                if not op_type or not op_type.lstrip("_")[:1].isupper() or " " in op_type:
                    continue
                totals[op_type] += event.duration_ps / 1e12
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="image size (default 256)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per step (default 1)")
    parser.add_argument("--steps", type=int, default=3, help="traced train steps (default 3)")
    parser.add_argument("--top", type=int, default=15, help="op types to list (default 15)")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"),
                        help="precision policy of the step (default float32)")
    parser.add_argument("--logdir", help="where to write the trace (default: a temporary folder)")
    args = parser.parse_args()
    import tensorflow as tf

    from tfpix2pix.evaluate import bench
    from tfpix2pix.models import precision

    with precision.policy(args.precision):
        trainer = bench.build_trainer(bench.bench_config(image_size=args.size, norm="instance",
                                                         precision=args.precision, batch_size=args.batch_size))
    run = bench.steps_function(trainer, image_size=args.size, batch_size=args.batch_size, steps=1)
    for _ in range(2):
        run()
    logdir = args.logdir or tempfile.mkdtemp(prefix="tfpix2pix-profile-")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(args.steps):
        run()
    wall = (time.perf_counter() - start) / args.steps
    tf.profiler.experimental.stop()
    totals = op_seconds(logdir)
    total = sum(totals.values())
    print(f"{args.steps} steps at {args.size}x{args.size}, batch {args.batch_size}, {args.precision}: {wall * 1000:.0f} ms/step wall under the profiler, "
          f"{total / args.steps * 1000:.0f} ms/step of op time (summed over threads); trace in {logdir}\n")
    print("| op type | ms/step | share of op time |\n|---|---|---|")
    for op_type, seconds in totals.most_common(args.top):
        print(f"| {op_type} | {seconds / args.steps * 1000:.1f} | {100 * seconds / total:.1f}% |")
    rest = total - sum(seconds for _, seconds in totals.most_common(args.top))
    print(f"| (all others) | {rest / args.steps * 1000:.1f} | {100 * rest / total:.1f}% |")


if __name__ == "__main__":
    main()
