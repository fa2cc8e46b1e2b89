""".tflite files' latency per image, alternating in one process: fp32 against the int8 variants, or any others.

    python benchmarks/tflite_latency.py export/facades                  # every .tflite file of an export folder
    python benchmarks/tflite_latency.py a_fp32.tflite b_int8.tflite --rounds 15

Each argument is a .tflite file or an export folder (all its .tflite files). One random image at
the first file's input size is run by every file in turn through LiteRT (XNNPACK, its default CPU
delegate, on every core, as `predict` and `export` run them), `--rounds` times after two warm-up
runs each; the table gives each file's median ms per image and its ratio to the first file's
median, with the machine's CPU model and the flags that matter (VNNI decides int8's speed).
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics

import numpy as np

from tfpix2pix import machine
from tfpix2pix.evaluate.timing import alternating_seconds
from tfpix2pix.inference.runners import TFLiteRunner


def tflite_files(paths: list[str]) -> list[str]:
    """The .tflite files the arguments name (an export folder names all of its own, fp32 first)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted(glob.glob(os.path.join(path, "*.tflite")), key=lambda name: ("_fp32" not in name, name))
        else:
            found.append(path)
    return found


def measure(paths: list[str], *, threads: int | None, rounds: int) -> tuple[dict[str, list[float]], int]:
    """Per file, `rounds` seconds-per-image timings on one image, the files alternating; and the image side."""
    runners = {path: TFLiteRunner(path, num_threads=threads) for path in paths}
    side = next(iter(runners.values())).exported_shape[0]
    image = np.random.default_rng(0).uniform(-1, 1, (1, side, side, 3)).astype(np.float32)
    calls = {path: (lambda runner=runner: runner.run(image)) for path, runner in runners.items()}
    return alternating_seconds(calls, rounds=rounds, warmup=2), side


def table(times: dict[str, list[float]], *, side: int, threads: int, facts: dict) -> str:
    first = statistics.median(next(iter(times.values())))
    rounds = len(next(iter(times.values())))
    lines = [f"Machine: {machine.describe(facts)}; {side}x{side}, batch 1, LiteRT with XNNPACK on {threads} "
             f"thread(s), {rounds} alternating rounds.", "",
             "| file | median ms | rounds | ratio to the first |", "|---|---|---|---|"]
    for path, seconds in times.items():
        median = statistics.median(seconds)
        rounds_ms = ", ".join(f"{1000 * t:.0f}" for t in seconds)
        lines.append(f"| `{os.path.basename(path)}` | {1000 * median:.1f} | {rounds_ms} | {median / first:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help=".tflite files or export folders")
    parser.add_argument("--rounds", type=int, default=9, help="alternating timed runs per file (default 9)")
    parser.add_argument("--threads", type=int, help="LiteRT threads (default: all cores)")
    args = parser.parse_args(argv)
    paths = tflite_files(args.paths)
    times, side = measure(paths, threads=args.threads, rounds=args.rounds)
    print(table(times, side=side, threads=args.threads or os.cpu_count(), facts=machine.this_machine()))


if __name__ == "__main__":
    main()
