"""`tfpix2pix curves`: a run's loss parts, D health and val metrics as one PNG, and its best step."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "curves", help="draw a run's training curves into <workdir>/curves.png and print the best step",
        description="Draw the loss parts, the discriminator's health (its probabilities on real and generated "
        "pairs, its patch accuracy, the gradient norms) and the validation metrics of a run against steps, with "
        "the best validation step and the warnings marked, into one PNG (default <workdir>/curves.png; `test` "
        "shows it atop its results page). Works on a run that is still training.",
        epilog="examples:\n  tfpix2pix curves --workdir runs/facades\n"
        "  tfpix2pix curves --workdir runs/facades --out docs/facades_curves.png",
    )
    parser.add_argument("--workdir", required=True, metavar="DIR", help="a training work dir (holds config.json)")
    parser.add_argument("--out", metavar="FILE", help="the PNG to write (default: <workdir>/curves.png)")
    parser.set_defaults(handler=run_curves)


def run_curves(args) -> int:
    from tfpix2pix.evaluate import curves

    drawn = curves.write_curves(args.workdir, out=args.out)
    print(f"curves: {drawn.path} (steps up to {drawn.last_step})")
    if drawn.best:
        print(f"best val {drawn.metric} {drawn.best[drawn.metric]:.4g} at step {drawn.best['step']} "
              "(--checkpoint best)")
    else:
        print("no validations yet: the run has no val split, or has not reached its first eval step")
    if drawn.warnings:
        print(f"{len(drawn.warnings)} warning(s):")
        for step, text in drawn.warnings:
            print(f"  {text}")
    return 0
