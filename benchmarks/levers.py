"""The training-speed levers that are not flags of `tfpix2pix bench`, each against the default.

Every lever is timed against the default train step in the same run, alternating (A B A B ...),
and reported as the ratio of medians (> 1 means the lever is faster):

- `merge-d`: the discriminator step's two passes (real pairs, generated pairs) as one batch of 2
  (`Trainer(merge_discriminator_passes=True)`), in one process;
- `threads`: TensorFlow's intra-op / inter-op thread pools, one subprocess per setting;
- `onednn`: TensorFlow's oneDNN kernels on and off (`TF_ENABLE_ONEDNN_OPTS=1`, `=0`) against TensorFlow's
  default for this CPU, one subprocess per setting;
- `fpmath`: oneDNN's bf16 math mode for float32 convolutions and matmuls (`TF_SET_ONEDNN_FPMATH_MODE=BF16`,
  a "fast float32" like TF32 on GPUs: float32 in and out, bfloat16 products inside) against float32's
  strict math, one subprocess per setting; only CPUs with AVX512_BF16 or AMX and oneDNN on have it;
- `bf16-sizes`: mixed_bfloat16 against float32 train steps for models from the `tiny` preset's
  32 px x 8 filters to the paper's 256 x 64, in one process (the measurement behind
  `--precision auto`'s size rule, `train/resolve.py`); only telling on CPUs with AVX512_BF16 or AMX;
- `norm`: the project's `InstanceNormalization` in its inference form (moments) and its training
  form (one fused batch-norm op) against `keras.layers.GroupNormalization(groups=-1)` (the same
  function), forward + backward of one layer on a 128x128x128 activation;
- `norm-step`: the whole train step with that training form where it pays (the default, its size
  rule `BATCH_NORM_FORM_MIN_VALUES`) against the moments form in every layer, in one process, in
  `--precision`;
- `pipeline`: the `tf.data` input pipeline with a private thread pool, against the default;
- `batch`: training at batch 4 (the paper's batch for edges2shoes, edges2handbags, night2day)
  against batch 1, per image: the speed column is the images/s ratio.

`--precision mixed_bfloat16` runs `batch` and `norm-step` in bfloat16; the other levers always run float32.

    python benchmarks/levers.py                      # all levers, 256x256, batch 1, instance norm
    python benchmarks/levers.py --lever merge-d --size 128 --rounds 3
    python benchmarks/levers.py --lever batch --precision mixed_bfloat16 --rounds 3 --steps 2
    python benchmarks/levers.py --lever norm-step --precision mixed_bfloat16 --rounds 5

Channel order is not a lever on CPU: TensorFlow's CPU Conv2D takes only NHWC ("The Conv2D op
currently only supports the NHWC tensor format on the CPU").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from tfpix2pix.evaluate.timing import alternating_seconds

LEVERS = ("merge-d", "threads", "onednn", "fpmath", "bf16-sizes", "norm", "norm-step", "pipeline", "batch")
THREAD_SETTINGS = ("0,0", "2,1", "1,1", "2,2")  # intra,inter; 0 = TensorFlow's choice (the default)


def merge_d(args) -> dict:
    from tfpix2pix.evaluate import bench

    runs = {
        name: bench.steps_function(
            bench.build_trainer(bench.bench_config(image_size=args.size, norm="instance"),
                                merge_discriminator_passes=merge),
            image_size=args.size, steps=args.steps,
        )
        for name, merge in (("two passes (default)", False), ("one pass, batch of 2", True))
    }
    return {name: [t / args.steps for t in times] for name, times in alternating_seconds(runs, rounds=args.rounds).items()}


def child_step_seconds(args) -> None:
    """Child mode: one train-step timing per round, printed as JSON, under this process's settings."""
    import tensorflow as tf

    from tfpix2pix.evaluate import bench

    intra, inter = (int(n) for n in args.child_threads.split(","))
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    trainer = bench.build_trainer(bench.bench_config(image_size=args.size, norm="instance"))
    run = bench.steps_function(trainer, image_size=args.size, steps=args.steps)
    run()
    start = time.perf_counter()
    run()
    print(json.dumps({"step_seconds": (time.perf_counter() - start) / args.steps}))


def subprocess_settings(args, settings: dict) -> dict:
    """Alternates child processes, one per setting; each round starts every child afresh."""
    times = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, (threads, env) in settings.items():
            command = [sys.executable, __file__, "--child-threads", threads, "--size", str(args.size),
                       "--steps", str(args.steps)]
            result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=3600)
            if result.returncode != 0:
                raise RuntimeError(f"{name}: exit {result.returncode}\n{result.stderr[-2000:]}")
            times[name].append(json.loads(result.stdout.strip().splitlines()[-1])["step_seconds"])
    return times


def threads(args) -> dict:
    settings = {f"intra,inter = {s}" + (" (default)" if s == "0,0" else ""): (s, {}) for s in THREAD_SETTINGS}
    return subprocess_settings(args, settings)


def onednn(args) -> dict:
    # TensorFlow's default depends on the CPU (on only with AVX512_VNNI, AVX512_BF16, AMX and the
    # like), so the default row says which this CPU gets.
    script = "import tensorflow; from tfpix2pix import machine; print(machine.onednn_enabled())"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                            env={key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"})
    default = "on" if result.stdout.strip().splitlines()[-1] == "True" else "off"
    return subprocess_settings(args, {
        f"TensorFlow's default (oneDNN {default} on this CPU)": ("0,0", {}),
        "oneDNN on (`TF_ENABLE_ONEDNN_OPTS=1`)": ("0,0", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
        "oneDNN off (`TF_ENABLE_ONEDNN_OPTS=0`)": ("0,0", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    })


def fpmath(args) -> dict:
    return subprocess_settings(args, {
        "float32's strict math (default)": ("0,0", {}),
        "oneDNN bf16 math (`TF_SET_ONEDNN_FPMATH_MODE=BF16`)": ("0,0", {"TF_SET_ONEDNN_FPMATH_MODE": "BF16"}),
    })


BF16_SIZES = ((32, 8), (64, 16), (128, 32), (128, 64), (256, 64))  # (image side, base filters)


def bf16_sizes(args) -> dict:
    """Per model size, float32 (each size's default row) and mixed_bfloat16 steps alternating."""
    from tfpix2pix.evaluate import bench
    from tfpix2pix.models import precision

    times = {}
    for size, filters in BF16_SIZES:
        steps = max(2, min(20, round(args.steps * (256 / size) ** 2 * (64 / filters) ** 2 / 12)))
        runs = {}
        for policy in ("float32", "mixed_bfloat16"):
            config = bench.bench_config(image_size=size, norm="instance", precision=policy, base_filters=filters)
            with precision.policy(policy):
                trainer = bench.build_trainer(config)
            name = f"{size} px x {filters} filters, {policy}" + (" (default)" if policy == "float32" else "")
            runs[name] = bench.steps_function(trainer, image_size=size, steps=steps)
        times.update({name: [t / steps for t in seconds]
                      for name, seconds in alternating_seconds(runs, rounds=args.rounds).items()})
    return times


def norm(args) -> dict:
    import keras
    import tensorflow as tf

    from tfpix2pix.models.layers import InstanceNormalization

    x = tf.random.normal([1, 128, 128, 128])
    runs = {}
    for name, layer, training in (
        ("InstanceNormalization, inference form (default)", InstanceNormalization(), False),
        ("InstanceNormalization, training form", InstanceNormalization(), True),
        ("GroupNormalization(groups=-1)", keras.layers.GroupNormalization(groups=-1, epsilon=1e-5), False),
    ):
        layer.build(x.shape)
        runs[name] = forward_backward(layer, x, training=training)
    repeats = 20
    batched = {name: (lambda run=run: [run() for _ in range(repeats)]) for name, run in runs.items()}
    return {name: [t / repeats for t in times] for name, times in alternating_seconds(batched, rounds=args.rounds).items()}


def norm_step(args) -> dict:
    """The train step with instance norm's training form where it pays (the default), and in the moments form only."""
    from tfpix2pix.evaluate import bench
    from tfpix2pix.models import layers, precision

    runs, default_rule = {}, layers.BATCH_NORM_FORM_MIN_VALUES
    for name, rule in (("training form where it pays (default)", default_rule),
                       ("moments form in every layer", float("inf"))):
        config = bench.bench_config(image_size=args.size, norm="instance", precision=args.precision)
        with precision.policy(args.precision):
            trainer = bench.build_trainer(config)
        run = bench.steps_function(trainer, image_size=args.size, steps=args.steps)
        layers.BATCH_NORM_FORM_MIN_VALUES = rule  # read when the step is traced, by its first call
        try:
            run()
        finally:
            layers.BATCH_NORM_FORM_MIN_VALUES = default_rule
        runs[name] = run
    return {name: [t / args.steps for t in times] for name, times in alternating_seconds(runs, rounds=args.rounds).items()}


def forward_backward(layer, x, *, training=False):
    """A call that runs `layer` forward and backward on `x` (a weighted sum's gradients) and waits for them."""
    import tensorflow as tf

    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            # A weighted sum: the plain sum of a normalized tensor's squares does not depend on x.
            loss = tf.reduce_sum(y * tf.random.stateless_normal(tf.shape(y), seed=[0, 0]))
        return tape.gradient(loss, [x, *layer.trainable_variables])

    return lambda: [g.numpy() for g in run(x)]


def pipeline(args) -> dict:
    import tensorflow as tf

    from tfpix2pix.data import pipeline
    from tfpix2pix.data import datasets

    folder = os.path.join(datasets.bundled_sample_dir(), "train")
    files = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    files = files * max(1, 96 // len(files))

    def epoch(private_threads: int):
        dataset = pipeline.training_dataset(
            files, direction="BtoA", image_size=256, load_size=286, flip=True, seed=0, epoch=0, start_step=0,
            global_batch_size=1,
        )
        if private_threads:
            options = tf.data.Options()
            options.threading.private_threadpool_size = private_threads
            dataset = dataset.with_options(options)
        for _ in dataset:
            pass

    runs = {"default": lambda: epoch(0), "private thread pool of 2": lambda: epoch(2)}
    return {name: [t / len(files) for t in times] for name, times in alternating_seconds(runs, rounds=args.rounds).items()}


def batch(args) -> dict:
    """Batch 4 against batch 1 per image, and the bound batch 4's compute floor puts on that ratio."""
    from tfpix2pix.evaluate import bench, floors
    from tfpix2pix.models import precision

    runs, images, floor = {}, {}, {}
    for size in (1, 4):
        name = f"batch {size}" + (" (default)" if size == 1 else "")
        config = bench.bench_config(image_size=args.size, norm="instance", batch_size=size, precision=args.precision)
        with precision.policy(args.precision):
            trainer = bench.build_trainer(config)
            floor[size] = floors.compute_floor_seconds(trainer.generator, trainer.discriminator, image_size=args.size,
                                                       batch_size=size)["seconds"] / size
        runs[name] = bench.steps_function(trainer, image_size=args.size, batch_size=size, steps=args.steps)
        images[name] = size * args.steps
    times = {name: [t / images[name] for t in times] for name, times in alternating_seconds(runs, rounds=args.rounds).items()}
    batch_1 = statistics.median(times["batch 1 (default)"])
    print(f"compute floor per image: {floor[1] * 1000:.0f} ms at batch 1, {floor[4] * 1000:.0f} ms at batch 4; "
          f"batch 4 at its floor would be {batch_1 / floor[4]:.2f}x batch 1's measured images/s\n", flush=True)
    return times


def report(lever: str, times: dict, unit: str) -> list[str]:
    """A markdown table of medians; each row's speed against the nearest "(default)" row at or above it
    (the first row where none is marked)."""
    names = list(times)
    lines = [f"### {lever}", "", f"| setting | median {unit} | rounds | speed vs default |", "|---|---|---|---|"]
    baseline = statistics.median(times[names[0]])
    for name in names:
        median = statistics.median(times[name])
        if name.endswith("(default)"):
            baseline = median
        rounds = ", ".join(f"{t * 1000:.0f}" if unit == "ms/step" else f"{t * 1000:.2f}" for t in times[name])
        lines.append(f"| {name} | {median * 1000:.2f} | {rounds} | {baseline / median:.3f}x |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lever", choices=LEVERS, action="append", help="a lever to measure (default: all)")
    parser.add_argument("--size", type=int, default=256, help="image size of the train step (default 256)")
    parser.add_argument("--steps", type=int, default=3, help="train steps per timing (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are quoted (default 5)")
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32",
                        help="precision policy of the batch and norm-step levers' steps (default float32; "
                             "the other levers always run float32)")
    parser.add_argument("--child-threads", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_threads:
        child_step_seconds(args)
        return
    measures = {"merge-d": (merge_d, "ms/step"), "threads": (threads, "ms/step"), "onednn": (onednn, "ms/step"),
                "fpmath": (fpmath, "ms/step"), "bf16-sizes": (bf16_sizes, "ms/step"),
                "norm": (norm, "ms/call"), "norm-step": (norm_step, "ms/step"), "pipeline": (pipeline, "ms/image"),
                "batch": (batch, "ms/image")}
    print(f"levers at {args.size}x{args.size}, batch 1, instance norm, float32 (batch and norm-step {args.precision}); "
          f"{args.rounds} rounds; "
          f"load average before: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}\n", flush=True)
    for lever in args.lever or LEVERS:
        function, unit = measures[lever]
        print("\n".join(report(lever, function(args), unit)), flush=True)


if __name__ == "__main__":
    main()
