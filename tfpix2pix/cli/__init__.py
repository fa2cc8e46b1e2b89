"""The `tfpix2pix` command line: parses flags, then calls the library (STYLE.md point 9).

Every user error is one line on stderr and exit code 2; nothing here holds training logic.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

# TensorFlow's C++ side logs device probing and graph-rewrite notes at start-up; errors that
# matter reach Python as exceptions. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfpix2pix import __version__  # noqa: E402
from tfpix2pix import config as config_lib  # noqa: E402
from tfpix2pix.errors import UsageError  # noqa: E402
from tfpix2pix.cli.export import add_export_parser  # noqa: E402
from tfpix2pix.cli.flags import non_negative_int, positive_int  # noqa: E402

EPILOG = "Run `tfpix2pix COMMAND --help` for the flags of one command."


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) and help text kept as written."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_train_parser(subparsers) -> None:
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
    run.add_argument("--precision", choices=config_lib.PRECISIONS, help="Keras precision policy (default: float32)")
    run.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    run.add_argument("--keep-checkpoints", type=positive_int, metavar="K", help="keep the last K checkpoints (default: 3)")
    run.add_argument("--keep-every", type=positive_int, metavar="N", help="also keep every checkpoint whose step divides by N")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="override any config field, repeatable, e.g. --set model.norm=batch --set train.log_every=10")
    parser.set_defaults(handler=run_train)


def resolve_train_config(args) -> tuple[config_lib.Config, str]:
    """Turns train flags into (config, workdir): preset or saved config, then explicit flags."""
    from tfpix2pix.data import datasets
    from tfpix2pix import workdir as workdir_lib

    custom = args.data_dir or args.a_dir or args.b_dir
    if args.dataset and custom:
        raise UsageError("give either --dataset or your own data (--data-dir, or --a-dir with --b-dir), not both")
    if args.dataset and args.dataset not in datasets.REGISTRY:
        raise UsageError(f"unknown dataset {args.dataset!r}; known: {', '.join(datasets.REGISTRY)}")
    dataset = args.dataset or (None if custom else "facades-sample")
    name = dataset or os.path.basename(os.path.normpath(args.data_dir or args.a_dir or "custom"))
    workdir = args.workdir or os.path.join("runs", name)

    saved = config_lib.load(workdir_lib.config_path(workdir)) if workdir_lib.has_config(workdir) else None
    preset_name = args.preset or (datasets.REGISTRY[dataset].preset if dataset else "facades")
    base = config_lib.preset(preset_name)
    config = saved or base
    if saved is not None and args.preset:  # An explicit preset on resume must agree with the saved run.
        config = dataclasses.replace(saved, model=base.model, loss=base.loss, data=dataclasses.replace(
            saved.data, image_size=base.data.image_size, load_size=base.data.load_size))
    data_fields: dict = {}
    if saved is None:
        data_fields = {"dataset": dataset or "", "data_dir": args.data_dir, "a_dir": args.a_dir, "b_dir": args.b_dir}
        data_fields["direction"] = datasets.REGISTRY[dataset].direction if dataset else "AtoB"
    for flag, key in (("data_root", "data_root"), ("direction", "direction")):
        if getattr(args, flag) is not None:
            data_fields[key] = getattr(args, flag)
    if args.skip_bad:
        data_fields["skip_bad"] = True
    train_fields = {
        key: getattr(args, key)
        for key in ("batch_size", "seed", "strategy", "tpu", "precision", "keep_checkpoints", "keep_every")
        if getattr(args, key) is not None
    }
    if args.deterministic:
        train_fields["deterministic"] = True
    if args.jit:
        train_fields["jit"] = True
    if args.steps is not None:
        train_fields["steps"] = args.steps
    if args.epochs is not None:
        train_fields.update(epochs=args.epochs, steps=None,
                            decay_epochs=round(args.epochs * base.train.decay_epochs / base.train.epochs))
    config = dataclasses.replace(
        config, data=dataclasses.replace(config.data, **data_fields),
        train=dataclasses.replace(config.train, **train_fields),
    )
    config = config_lib.validate(config_lib.override(config, args.set))
    if saved is not None:
        # The data order, jitter, dropout and lr schedule are functions of the seed and the batch size, and
        # the optimizers' layout depends on the precision: a resume that changed them would not continue the run.
        changed = [
            f"{section}.{key}: {getattr(getattr(saved, section), key)!r} -> {getattr(getattr(config, section), key)!r}"
            for section in ("data", "model", "loss", "train")
            for key in getattr(saved, section).__dataclass_fields__
            if (section != "train" or key in ("batch_size", "seed", "precision"))
            and key not in ("data_root", "skip_bad")
            and getattr(getattr(saved, section), key) != getattr(getattr(config, section), key)
        ]
        if changed:
            raise UsageError(f"work dir {workdir} holds a run with other settings ({'; '.join(changed)}); "
                             "resume without them or use a new --workdir")
    return config, workdir


def run_train(args) -> int:
    from tfpix2pix.train import loop

    config, workdir = resolve_train_config(args)
    print(f"training in {workdir} (dataset: {config.data.dataset or config.data.data_dir or config.data.a_dir}, "
          f"{config.data.direction}, {config.data.image_size}px, batch {config.train.batch_size})", flush=True)
    try:
        summary = loop.train(config, workdir=workdir)
    except loop.Interrupted as stop:
        print(f"tfpix2pix: {stop}", file=sys.stderr)
        return 128 + stop.signal_number
    losses = ", ".join(f"{k} {v:.4f}" for k, v in summary["losses"].items())
    print(f"done: step {summary['step']}/{summary['total_steps']} ({losses})")
    print(f"checkpoints: {os.path.join(workdir, 'checkpoints')}")
    print(f"samples:     {summary['samples']}")
    print(f"TensorBoard: tensorboard --logdir {summary['logs']}")
    return 0


def add_test_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "test", help="run a trained model over a split: images, metrics.json, index.html",
        description="Run the work dir's latest generator over a split of A|B pairs and write, under "
        "<workdir>/results/<split>/, the input | generated | target images as PNG, metrics.json (mean and "
        "per image: L1 on 0-255, PSNR, SSIM, and label scores for photo -> labels tasks) and index.html, "
        "a page that opens from disk.",
        epilog="examples:\n  tfpix2pix test --workdir runs/facades\n"
        "  tfpix2pix test --workdir runs/facades --split test --stochastic --seed 3",
    )
    parser.add_argument("--workdir", required=True, metavar="DIR", help="a training work dir (holds config.json)")
    parser.add_argument("--split", default="val", metavar="NAME", help="split folder to run on (default: val)")
    parser.add_argument("--stochastic", action="store_true",
                        help="the paper's test-time mode (§3.3): dropout on, batch statistics; default: deterministic")
    parser.add_argument("--seed", type=non_negative_int, default=0, metavar="N", help="dropout seed with --stochastic")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: <workdir>/results/<split>[-stochastic])")
    parser.add_argument("--fid-weights", metavar="FILE",
                        help="local InceptionV3 no-top weights (.h5) to also compute FID; nothing is downloaded")
    parser.set_defaults(handler=run_test)


def run_test(args) -> int:
    from tfpix2pix.evaluate import results

    summary = results.run_test(
        args.workdir, split=args.split, stochastic=args.stochastic, seed=args.seed, out_dir=args.out,
        fid_weights=args.fid_weights,
    )
    mean = summary["mean"]
    print(f"{summary['count']} images, step {summary['step']}, {summary['mode']}")
    print("mean: " + ", ".join(f"{key} {value:.4g}" for key, value in mean.items()
                               if key != "count" and isinstance(value, float)))
    print(f"page:    {summary['page']}")
    print(f"metrics: {summary['metrics_json']}")
    if summary["skipped"]:
        print(f"tfpix2pix test: {len(summary['skipped'])} unusable input(s) skipped (listed above)", file=sys.stderr)
        return 1
    return 0


def add_predict_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="translate input-only images of any size",
        description="Translate input-only images (files, folders, globs) with a trained model and write "
        "<out>/<input name>.png. Sides that are not a multiple of the U-Net's 2^num_downsamplings are "
        "reflect-padded and the output cropped back, so the output has the input's size; --resize instead "
        "resizes to the training size and back. Unreadable or non-image inputs are reported by name and "
        "skipped (exit code 1).",
        epilog="examples:\n  tfpix2pix predict --model runs/facades photos/*.jpg --out out/\n"
        "  tfpix2pix predict --model export/facades photo.jpg --out out/\n"
        "  tfpix2pix predict --model export/facades/facades_int8.tflite photo.jpg --out out/",
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders or glob patterns")
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="a work dir (latest checkpoint), a SavedModel or export folder, or a .tflite file")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--resize", action="store_true", help="resize to the training size and back instead of padding")
    parser.add_argument("--stochastic", action="store_true", help="dropout on, as the paper at test time (§3.3)")
    parser.add_argument("--seed", type=non_negative_int, default=0, metavar="N", help="dropout seed with --stochastic")
    parser.add_argument("--batch-size", type=positive_int, default=4, metavar="N",
                        help="images of the same size per batch (default 4)")
    parser.add_argument("--max-side", type=positive_int, default=4096, metavar="PX",
                        help="refuse images with a side over PX, before decoding (default 4096)")
    parser.set_defaults(handler=run_predict)


def run_predict(args) -> int:
    from tfpix2pix.inference import predict
    from tfpix2pix.inference import runners
    from tfpix2pix import workdir as workdir_lib

    workdir_lib.make_writable_folder(args.out, "--out")
    runner = runners.load_runner(args.model)
    print(f"model: {runner.description}; "
          f"{'stochastic (dropout on), seed ' + str(args.seed) if args.stochastic else 'deterministic (dropout off)'}")
    written, problems = predict.predict(
        runner, args.inputs, args.out, resize=args.resize, stochastic=args.stochastic, seed=args.seed,
        batch_size=args.batch_size, max_side=args.max_side,
    )
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(f"wrote {len(written)} image(s) to {args.out}" + (f"; skipped {len(problems)}" if problems else ""))
    return 1 if problems else 0


def add_evaluate_parser(subparsers) -> None:
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
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    from tfpix2pix.data import datasets
    from tfpix2pix.evaluate import metrics
    from tfpix2pix.evaluate import report

    palette = None
    if args.palette:
        info = datasets.REGISTRY.get(args.palette)
        if info is None or info.palette is None:
            with_palettes = [name for name, item in datasets.REGISTRY.items() if item.palette]
            raise UsageError(f"--palette {args.palette!r} has no label palette; choose one of {', '.join(with_palettes)}")
        palette = info.palette
    result = metrics.evaluate_folders(args.generated, args.target, palette=palette, fid_weights=args.fid_weights)
    for problem in result["problems"]:
        print(f"skipped: {problem}", file=sys.stderr)
    mean = result["mean"]
    print(f"{mean['count']} pairs: " + ", ".join(
        f"{key} {value:.4g}" for key, value in mean.items() if key != "count" and isinstance(value, float)))
    print(f"fid: {result['fid']:.4g}" if result["fid"] is not None else result["fid_note"])
    if args.json:
        report.write_metrics_json(args.json, result["per_image"], mean,
                                  {k: v for k, v in result.items() if k not in ("per_image", "mean")})
    return 1 if result["problems"] else 0


def add_bench_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="measure training speed, FLOP use, inference latency, pipeline speed",
        description="Measure on this machine (medians after warm-up): training images/s of the paper's models "
        "(both norms), the train step's GFLOP and its share of the measured float32 matmul peak, generator "
        "latency per image for Keras, SavedModel and each TFLite variant, input pipeline images/s and peak memory.",
        epilog="examples:\n  tfpix2pix bench\n  tfpix2pix bench --json > bench.json\n  tfpix2pix bench --quick --json",
    )
    parser.add_argument("--image-size", type=positive_int, metavar="N", help="image side (default 256; 32 with --quick)")
    parser.add_argument("--batch-size", type=positive_int, default=1, metavar="N", help="batch size (default 1)")
    parser.add_argument("--precision", choices=config_lib.PRECISIONS, default="float32", help="precision policy")
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--quick", action="store_true", help="tiny model, few repeats: a smoke test, not a measurement")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.set_defaults(handler=run_bench)


def run_bench(args) -> int:
    import json

    from tfpix2pix.evaluate import bench

    image_size = args.image_size or (32 if args.quick else 256)
    bench.validate_options(image_size, args.batch_size)
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    results = bench.run(image_size=image_size, batch_size=args.batch_size, precision=args.precision,
                        jit=args.jit, quick=args.quick, log=log)
    print(json.dumps(results, indent=2) if args.json else bench.table(results))
    return 0


def add_datasets_parser(subparsers) -> None:
    parser = subparsers.add_parser("datasets", help="list the official datasets and which are present locally",
                                   description="List the official pix2pix datasets with their local status.")
    parser.add_argument("--data-root", default="data", metavar="DIR", help="dataset root (default: data/)")
    parser.set_defaults(handler=run_datasets)


def run_datasets(args) -> int:
    from tfpix2pix.data import datasets

    print(datasets.status_table(args.data_root))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tfpix2pix",
        description="pix2pix (Isola et al., CVPR 2017) in TensorFlow 2 / Keras 3: paired image-to-image translation.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"tfpix2pix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    add_train_parser(subparsers)
    add_test_parser(subparsers)
    add_predict_parser(subparsers)
    add_evaluate_parser(subparsers)
    add_bench_parser(subparsers)
    add_export_parser(subparsers)
    add_datasets_parser(subparsers)
    return parser


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and probes devices with C-level stderr parked in a temporary file.

    TensorFlow prints CUDA and oneDNN notes before its log level applies; they would bury the
    one line a user needs. If the import fails, what it printed is shown.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # Logical devices would fix the context too early for multi-worker.
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "datasets":
        import_tensorflow_quietly()
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"tfpix2pix {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"tfpix2pix {args.command}: failed: {error}", file=sys.stderr)
        return 1
    except ImportError as error:  # An optional runtime (LiteRT, TF Serving protos) is missing: the message says which.
        print(f"tfpix2pix {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # A file or folder the command could not read or write, named by the error.
        print(f"tfpix2pix {args.command}: error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tfpix2pix {args.command}: interrupted", file=sys.stderr)
        return 130
