"""`tfpix2pix train`: flags -> a `TrainRequest`; the run's resolution and training are the library's."""

from __future__ import annotations

import os
import sys

from tfpix2pix import config as config_lib
from tfpix2pix.cli.flags import non_negative_int, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train (or resume) a pix2pix model",
        description="Train pix2pix, or resume the run in --workdir where it stopped.\n\n"
        "Data comes from one of: --dataset NAME (an official set, downloaded to --data-root when missing, or the "
        "bundled facades-sample), --data-dir DIR (train/ [val/ test/] of A|B side-by-side images), or "
        "--a-dir/--b-dir (two folders of images paired by file name).\n"
        "A work dir that already holds a run resumes it with its saved config; flags given again may change "
        "the stop point and intervals, not the data or the model.",
        epilog="examples:\n  tfpix2pix train --dataset facades-sample --preset tiny --steps 100\n"
        "  tfpix2pix train --dataset maps\n"
        "  tfpix2pix train --data-dir ~/my_pairs --direction BtoA --workdir runs/mine --epochs 50",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", metavar="NAME", help="official dataset name or facades-sample (default: "
                      "facades-sample when no other data flag is given); see `tfpix2pix datasets`")
    data.add_argument("--data-dir", metavar="DIR", help="your own data: DIR/train (and val/, test/) of A|B images")
    data.add_argument("--a-dir", metavar="DIR", help="your own data: folder of A images (pairs with --b-dir by name)")
    data.add_argument("--b-dir", metavar="DIR", help="your own data: folder of B images (pairs with --a-dir by name)")
    data.add_argument("--data-root", metavar="DIR", help="where official datasets live and download to (default: data/)")
    data.add_argument("--direction", choices=config_lib.DIRECTIONS,
                      help="AtoB: left/A half is the input; BtoA: right/B half is (default: the dataset's own)")
    data.add_argument("--skip-bad", action="store_true",
                      help="train on the good files and log the bad ones, instead of stopping with their list")
    run = parser.add_argument_group("run")
    run.add_argument("--workdir", metavar="DIR", help="checkpoints, logs, samples, config.json (default: runs/<dataset>)")
    run.add_argument("--preset", metavar="NAME", help="named settings: " + ", ".join(sorted(config_lib.PRESETS))
                     + " (default: the dataset's own; tiny for tests)")
    length = run.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, metavar="N", help="stop at global step N (the lr schedule "
                        "keeps its epoch-based shape)")
    length.add_argument("--epochs", type=positive_int, metavar="N", help="train N epochs in all; the last ones "
                        "decay the lr linearly to 0 in the preset's proportion (paper: 100 + 100)")
    run.add_argument("--batch-size", type=positive_int, metavar="N", help="global batch size (paper: 1; 4 for the large sets)")
    run.add_argument("--seed", type=non_negative_int, metavar="N", help="seed of weights, data order, jitter and dropout")
    run.add_argument("--deterministic", action="store_true",
                     help="enable TensorFlow op determinism: a resumed run ends bitwise equal to an uninterrupted one")
    run.add_argument("--strategy", choices=config_lib.STRATEGIES, help="tf.distribute strategy (default: default)")
    run.add_argument("--tpu", metavar="NAME", help="with --strategy tpu: TPU name or grpc:// address for the "
                     "cluster resolver (default: $TPU_NAME, else the TPU attached to this VM)")
    run.add_argument("--precision", choices=(*config_lib.PRECISIONS, "auto"),
                     default="auto", help="Keras precision policy (default: auto, which picks mixed_bfloat16 "
                     "when a CPU with native bfloat16 (AVX512_BF16 or AMX) and TensorFlow's oneDNN kernels on "
                     "trains a model of at least 128 px x 32 filters, where it is faster at float32's quality, and "
                     "float32 elsewhere, GPUs included); the pick is said at the start and saved with the run, and "
                     "a resume keeps the run's")
    run.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    run.add_argument("--keep-checkpoints", type=positive_int, metavar="K", help="keep the last K checkpoints (default: 3)")
    run.add_argument("--keep-every", type=positive_int, metavar="N", help="also keep every checkpoint whose step divides by N")
    run.add_argument("--eval-every", type=non_negative_int, metavar="N",
                     help="score the generator on the val split (L1, PSNR, SSIM; label scores for photo -> labels) "
                     "every N steps and at the end, into TensorBoard val/ and <workdir>/metrics.jsonl, keeping the "
                     "best in checkpoints/best/; 0 turns it off (default: once per epoch, at most every 1000 steps)")
    run.add_argument("--eval-images", type=positive_int, metavar="N",
                     help="validate on the first N val pairs (default: 50)")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="override any config field, repeatable, e.g. --set model.norm=batch --set train.log_every=10")
    parser.set_defaults(handler=run_train)


def request_from(args):
    """The parsed flags as the library's `TrainRequest`."""
    from tfpix2pix.train.resolve import TrainRequest  # deferred, as every library import here (see main.py)

    return TrainRequest(
        dataset=args.dataset, data_dir=args.data_dir, a_dir=args.a_dir, b_dir=args.b_dir, data_root=args.data_root,
        direction=args.direction, skip_bad=args.skip_bad, workdir=args.workdir, preset=args.preset,
        steps=args.steps, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        deterministic=args.deterministic, strategy=args.strategy, tpu=args.tpu, precision=args.precision,
        jit=args.jit, keep_checkpoints=args.keep_checkpoints, keep_every=args.keep_every,
        assignments=tuple(args.set) + tuple(
            f"train.{name}={value}" for name, value in (("eval_every", args.eval_every),
                                                        ("eval_images", args.eval_images)) if value is not None),
    )


def run_train(args) -> int:
    from tfpix2pix import workdir as workdir_lib
    from tfpix2pix.evaluate import metrics, validation
    from tfpix2pix.train import loop, resolve
    from tfpix2pix.train.controller import Interrupted

    config, workdir = resolve.resolve_run(request_from(args))
    evaluator = validation.Validator(config) if config.train.eval_every != 0 else None
    print(f"training in {workdir} (dataset: {config.data.dataset or config.data.data_dir or config.data.a_dir}, "
          f"{config.data.direction}, {config.data.image_size}px, batch {config.train.batch_size}, "
          f"{config.train.precision})", flush=True)
    if args.precision == resolve.AUTO_PRECISION and not resolve.sets_precision(args.set):
        why = ("the run's own: a resume keeps its precision" if workdir_lib.has_config(workdir)
               else resolve.auto_precision_for(config)[1])
        print(f"precision auto: {config.train.precision} ({why})", flush=True)
    try:
        result = loop.train(config, workdir=workdir, evaluator=evaluator)
    except Interrupted as stop:
        print(f"tfpix2pix: {stop}", file=sys.stderr)
        return 128 + stop.signal_number
    losses = ", ".join(f"{k} {v:.4f}" for k, v in result.losses.items())
    print(f"done: step {result.step}/{result.total_steps} ({losses})")
    if result.validation:
        print(f"val (step {result.validation['step']}): "
              f"{metrics.format_mean({k: v for k, v in result.validation.items() if k != 'seconds'})}")
    if result.best:
        metric = config.train.best_metric
        print(f"best val {metric} {result.best[metric]:.4g} at step {result.best['step']}: "
              f"--checkpoint best ({os.path.join(workdir, 'checkpoints', 'best')})")
    if result.warnings:
        print(f"{len(result.warnings)} warning(s) during the run: see above and TensorBoard's text tab")
    print(f"checkpoints: {os.path.join(workdir, 'checkpoints')}")
    print(f"samples:     {result.samples}")
    print(f"TensorBoard: tensorboard --logdir {result.logs}")
    return 0
