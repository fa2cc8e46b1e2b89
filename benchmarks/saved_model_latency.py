"""SavedModels' `translate` latency, alternating in one process: the float32 and bf16 exports, or any others.

    python benchmarks/saved_model_latency.py export/facades          # saved_model/ and saved_model_bf16/
    python benchmarks/saved_model_latency.py A/saved_model/200 B/saved_model/200 --rounds 15
    python benchmarks/saved_model_latency.py export/facades --xla    # each also compiled by XLA

Each argument is a SavedModel folder, a folder of versions (the newest is taken) or an export folder
(its `saved_model/` and, when there, `saved_model_bf16/`). One random image at the first model's
training size (its `tfpix2pix.json`, else `--size`) is fed to every model in turn, `--rounds` times
after two warm-up calls each; the table gives each model's median ms per image and its ratio to
the first model's median, with the machine's CPU model and the flags that matter. `--xla` adds a
row per model: its `translate` called inside a `tf.function(jit_compile=True)`.
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
import tensorflow as tf

from tfpix2pix import machine
from tfpix2pix.evaluate.timing import alternating_seconds
from tfpix2pix.export.export import SAVED_MODEL, SAVED_MODEL_BF16
from tfpix2pix.inference import formats, runners


def saved_models(paths: list[str]) -> list[str]:
    """The SavedModel version folders the arguments name (an export folder names both of its own)."""
    found = []
    for path in paths:
        kinds = [os.path.join(path, kind) for kind in (SAVED_MODEL, SAVED_MODEL_BF16)]
        exported = [kind for kind in kinds if os.path.isdir(kind)]
        found += [runners.find_saved_model(folder) for folder in (exported or [path])]
    return found


def measure(folders: list[str], *, size: int, rounds: int, xla: bool = False) -> dict[tuple[str, bool], list[float]]:
    """Per folder, `rounds` seconds-per-call timings of `translate` on one image, the folders alternating.

    Keys are (folder, under XLA). With `xla`, each folder is also timed with its `translate` called
    inside a `tf.function(jit_compile=True)`: XLA compiles the loaded graph as a whole, fusing the
    element-wise ops between the convolutions.
    """
    image = tf.constant(np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype(np.float32))
    calls = {}
    for folder in folders:
        translate = tf.saved_model.load(folder).signatures[formats.TRANSLATE]
        calls[folder, False] = lambda translate=translate: translate(images=image)[formats.IMAGES_KEY].numpy()
        if xla:
            compiled = tf.function(lambda images, translate=translate: translate(images=images)[formats.IMAGES_KEY],
                                   jit_compile=True)
            calls[folder, True] = lambda compiled=compiled: compiled(image).numpy()
    return alternating_seconds(calls, rounds=rounds, warmup=2)


def table(times: dict[tuple[str, bool], list[float]], *, size: int, facts: dict) -> str:
    first = statistics.median(next(iter(times.values())))
    rounds = len(next(iter(times.values())))
    lines = [f"Machine: {machine.describe(facts)}; {size}x{size}, batch 1, {rounds} alternating rounds.",
             "", "| SavedModel | precision | runs as | median ms | ratio to the first |", "|---|---|---|---|---|"]
    for (folder, xla), seconds in times.items():
        precision = formats.read_metadata(folder).get("precision", "float32")
        median = statistics.median(seconds)
        runs_as = "XLA (`jit_compile`)" if xla else "TensorFlow graph"
        lines.append(f"| `{folder}` | {precision} | {runs_as} | {1000 * median:.1f} | {median / first:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="SavedModel folders, folders of versions or export folders")
    parser.add_argument("--rounds", type=int, default=9, help="alternating timed calls per model (default 9)")
    parser.add_argument("--size", type=int, default=256,
                        help="image side when the first model has no tfpix2pix.json (default 256)")
    parser.add_argument("--xla", action="store_true",
                        help="also time each model's translate compiled by XLA (a tf.function with jit_compile)")
    args = parser.parse_args(argv)
    folders = saved_models(args.paths)
    size = formats.read_metadata(folders[0]).get("image_size", args.size)
    print(table(measure(folders, size=size, rounds=args.rounds, xla=args.xla), size=size,
                facts=machine.this_machine()))


if __name__ == "__main__":
    main()
