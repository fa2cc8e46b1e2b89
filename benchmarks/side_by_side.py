"""Speed side by side with a PyTorch reference: `tfpix2pix bench` and the reference's `bench`.

Runs the two benchmarks alternately (ours, reference, ours, reference, ...) as subprocesses on the
same machine, same image size, instance norm for both, then writes a markdown table of medians,
ratios of medians and the targets. Absolute numbers on shared machines drift from run to run;
alternating the two puts both under the same drift, so quote the ratios.

    python benchmarks/side_by_side.py --reference PATH     # 3 rounds at 256, rewrites docs/PERFORMANCE.md's section
    python benchmarks/side_by_side.py --reference PATH --size 64 --rounds 1 --out /tmp/side_by_side.md
    python benchmarks/side_by_side.py --reference PATH --bf16   # on an AVX512-BF16 or AMX CPU: its own table

`--bf16` measures training at the best precision such a CPU has: ours under `--precision
mixed_bfloat16` against the reference at its best in bfloat16 (`torch_pix2pix_best.py --bf16
--channels-last`; the float32 reference is not run), in a table of its own beside the float32 one.

The reference is a PyTorch pix2pix reference script with a `bench` command that prints one JSON
line. Its path comes from `--reference PATH`, or else from the environment variable
TFPIX2PIX_REFERENCE; without either, or when the file does not exist, the script stops with an
error. The reference is skipped, with a note in the table, when `--torch-python` cannot import
torch.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time

from tfpix2pix import machine

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_VARIABLE = "TFPIX2PIX_REFERENCE"  # The reference script's path when --reference is not given.
DEFAULT_TORCH_PYTHON = "/tmp/torch-ref/bin/python" if os.path.exists("/tmp/torch-ref/bin/python") else "python3"
DEFAULT_OUT = os.path.join(REPO, "docs", "PERFORMANCE.md")
MARKER = "<!-- side-by-side {kind}:{end} -->"  # one section per kind of machine: its CPU model and flags
BUSY_LOAD = 0.5  # A 1-minute load average this high before the run means another job shares the cores.
QUIET_WAIT_SECONDS = 240  # The load average decays over minutes: wait this long for it after a previous job.


def wait_for_quiet(limit: float, *, timeout: float) -> tuple[float, float, float]:
    """Waits until the 1-minute load average is below `limit` or `timeout` passes; returns the load."""
    deadline = time.monotonic() + timeout
    load = os.getloadavg()
    if load[0] >= limit:
        print(f"waiting up to {timeout:.0f} s for the load average ({load[0]:.1f}) to fall below {limit} ...",
              file=sys.stderr, flush=True)
    while load[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()
    return load


def run_json(command: list[str], *, timeout: float, what: str) -> dict:
    """The last JSON object a command prints on stdout; RuntimeError with its stderr tail if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{tail}")
    text = result.stdout.strip()
    if text.startswith("{") and text.endswith("}"):
        return json.loads(text)  # `tfpix2pix bench --json`: one indented object.
    for line in reversed(text.splitlines()):  # The reference: one JSON line, maybe after other output.
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{what} printed no JSON: {' '.join(command)}\nstdout: {text[-500:]}")


def torch_version(torch_python: str) -> tuple[str | None, str]:
    """(torch version, "") if `torch_python` imports torch, else (None, why not)."""
    try:
        result = subprocess.run([torch_python, "-c", "import torch; print(torch.__version__)"],
                                capture_output=True, text=True, timeout=300)
    except OSError as error:
        return None, f"{torch_python} cannot run: {error.strerror}"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        return None, f"{torch_python} cannot import torch ({last})"
    return result.stdout.strip(), ""


def median(rounds: list[dict], *keys) -> float:
    values = []
    for result in rounds:
        for key in keys:
            result = result[key]
        values.append(result)
    return statistics.median(values)


def ratio_row(name: str, ours: float, reference: float | None, unit: str, target: str, met, note: str = "") -> str:
    """One table row: measured values, their ratio, the target and whether the ratio meets it."""
    reference_cell = "—" if reference is None else f"{reference:.4g} {unit}"
    ratio = None if reference is None else ours / reference
    ratio_cell = "—" if ratio is None else f"{ratio:.2f}x"
    met_cell = "n/a" if ratio is None else ("yes" if met(ratio) else "no")
    return f"| {name} | {ours:.4g} {unit} | {reference_cell} | {ratio_cell} | {target} | {met_cell} | {note} |"


def table(ours: list[dict], reference: list[dict], facts: dict, skip_note: str, best: list[dict] = ()) -> str:
    """The markdown section: machine facts, the targets table and the per-round figures.

    `best` holds the rounds of the reference at its best (`torch_pix2pix_best.py --channels-last
    --fused` in float32, `--bf16 --channels-last` with `facts["bf16"]`), a second reference row;
    empty when it was not run.
    """
    bf16 = facts.get("bf16", False)
    # Round two's goals: 2x the reference at its best in bf16 (goal 2), 1.5x in float32 (goal 1).
    best_levers, best_target = ("bf16 autocast, channels-last", 2.0) if bf16 else ("channels-last, fused Adam", 1.5)
    ref = bool(reference)
    train = median(ours, "train_img_per_s")
    saved_model = median(ours, "infer_ms", "saved_model")
    fp32 = median(ours, "infer_ms", "tflite_fp32")
    share = median(ours, "train", "instance", "share_of_peak")
    torch_threads = "" if facts["torch_threads"] is None else f" ({facts['torch_threads']} threads)"
    lines = [
        f"Measured {facts['date']} with `python benchmarks/side_by_side.py {facts['arguments']}`"
        f"{' (quick: tiny model, a smoke test, not a measurement)' if facts['quick'] else ''}: "
        f"{facts['size']}x{facts['size']}, batch 1, instance norm, "
        f"{'mixed_bfloat16 (the reference in bf16 autocast)' if bf16 else 'float32'}, median of {len(ours)} round(s), "
        "the two benchmarks alternating.",
        "",
    ]
    if facts["busy"]:
        lines += [
            f"**The machine was busy** (1-minute load average {facts['load_before'].split(' / ')[0]} on "
            f"{facts['cpus']} CPUs before the run): the reference's OpenMP threads slow down up to 10x when another "
            "process holds a core, so these ratios are not representative. Re-run on a quiet machine.",
            "",
        ]
    lines += [
        f"Machine: {machine.describe(facts)} (logical CPUs and the flags that matter), load average {facts['load_before']} before and "
        f"{facts['load_after']} after; TensorFlow {facts['tensorflow']}, Keras {facts['keras']}, "
        f"PyTorch {facts['torch'] or '—'}{torch_threads}; "
        f"tfpix2pix at {facts['commit']}.",
        "",
        "| measure | tfpix2pix | compared with | ratio | target | met | note |",
        "|---|---|---|---|---|---|---|",
        *([] if bf16 else [ratio_row("training images/s (ours / reference)", train,
                                     median(reference, "train_img_per_s") if ref else None, "img/s", "≥ 1.5x",
                                     lambda r: r >= 1.5, "" if ref else skip_note)]),
        *([ratio_row(f"training images/s (ours{' in mixed_bfloat16' if bf16 else ''} / reference at its best: "
                     f"{best_levers})", train, median(best, "train_img_per_s"), "img/s", f"≥ {best_target:g}x",
                     lambda r: r >= best_target, f"its generator {median(best, 'infer_ms'):.4g} ms")]
          if best else []),
        *([f"| step floors (ours) | {median(ours, 'floors', 'compute_floor_ms'):.0f} ms compute, "
           f"{median(ours, 'floors', 'memory_floor_ms'):.0f} ms memory | — | "
           f"{100 * median(ours, 'floors', 'share_of_floor'):.0f}% of the larger | ≥ 50% | "
           f"{'yes' if median(ours, 'floors', 'share_of_floor') >= 0.5 else 'no'} | step "
           f"{median(ours, 'train', 'instance', 'step_ms'):.0f} ms |"] if all("floors" in r for r in ours) else []),
        f"| share of the float32 matmul peak (ours) | {100 * share:.0f}% of "
        f"{median(ours, 'matmul_peak_gflops'):.0f} GFLOP/s | — | — | ≥ 60% | {'yes' if share >= 0.6 else 'no'} | "
        f"{median(ours, 'train', 'instance', 'step_gflop'):.3g} GFLOP/step"
        + (f"; reference counts {median(reference, 'train_step_gflop'):.3g}" if ref else "") + " |",
        ratio_row("generator ms/image, bf16 SavedModel (ours, `export --bf16`) / the "
                  "reference's bf16 generator", median(ours, "infer_ms", "saved_model_bf16"), median(best, "infer_ms"),
                  "ms", "≤ 1x", lambda r: r <= 1.0,
                  f"float32 SavedModel {saved_model:.4g} ms, Keras {median(ours, 'infer_ms', 'keras'):.4g} ms")
        if bf16 and best else
        ratio_row("generator ms/image, SavedModel (ours) / reference", saved_model,
                  median(reference, "infer_ms") if ref else None, "ms", "≤ 0.6x", lambda r: r <= 0.6,
                  f"Keras {median(ours, 'infer_ms', 'keras'):.4g} ms" + ("" if ref else f"; {skip_note}")),
        ratio_row("TFLite fp32 / SavedModel ms/image", fp32, saved_model, "ms", "≤ 1x", lambda r: r <= 1.0),
        *([ratio_row("bf16 SavedModel (`export --bf16`) / float32 SavedModel ms/image",
                     median(ours, "infer_ms", "saved_model_bf16"), saved_model, "ms", "< 1x", lambda r: r < 1.0,
                     "bfloat16 " + ("native" if machine.has_native_bfloat16(facts) else "emulated") + " on this CPU")]
          if all("saved_model_bf16" in r["infer_ms"] for r in ours) else []),
        ratio_row("TFLite int8 / fp32 ms/image", median(ours, "infer_ms", "tflite_int8"), fp32, "ms", "≤ 0.5x",
                  lambda r: r <= 0.5, f"fp16 {median(ours, 'infer_ms', 'tflite_fp16'):.4g} ms"),
        ratio_row("input pipeline / training images/s", median(ours, "pipeline_img_per_s"), train, "img/s",
                  "≥ 10x", lambda r: r >= 10.0),
        "",
        "Per round (ours: training img/s, SavedModel ms, TFLite fp32 / int8 ms; reference: training img/s, ms):",
        "",
    ]
    for index, result in enumerate(ours):
        line = (f"- round {index + 1}: ours {result['train_img_per_s']:.3f} img/s, "
                f"{result['infer_ms']['saved_model']:.1f} ms, {result['infer_ms']['tflite_fp32']:.1f} / "
                f"{result['infer_ms']['tflite_int8']:.1f} ms")
        if index < len(reference):
            theirs = reference[index]
            line += f"; reference {theirs['train_img_per_s']:.3f} img/s, {theirs['infer_ms']:.1f} ms"
        if index < len(best):
            line += f"; at its best {best[index]['train_img_per_s']:.3f} img/s, {best[index]['infer_ms']:.1f} ms"
        lines.append(line)
    return "\n".join(lines)


def machine_kind(facts: dict) -> str:
    """The kind of machine a table belongs to: the CPU model and its flags (`AMD EPYC, AVX2 FMA`)."""
    return f"{facts['cpu']}, {' '.join(facts['flags']) or 'no AVX2'}"


def write_section(path: str, section: str, kind: str) -> None:
    """Replaces this machine kind's side-by-side section in `path`; a new kind's goes after the others.

    One table per kind of machine is kept: a run on another CPU never overwrites this one's.
    """
    start, end = MARKER.format(kind=kind, end="start"), MARKER.format(kind=kind, end="end")
    block = f"{start}\n{section}\n{end}"
    if not os.path.exists(path):
        with open(path, "w") as out:
            out.write(block + "\n")
        return
    with open(path) as existing:
        text = existing.read()
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        ends = list(re.finditer(r"<!-- side-by-side [^>]*:end -->", text))
        if not ends:
            raise ValueError(f"{path} exists but has no side-by-side section to add to; add a pair of markers "
                             f"({start} ... {end}) or pass another --out")
        cut = ends[-1].end()
        text = text[:cut] + f"\n\nOn {kind}:\n\n" + block + text[cut:]
    with open(path, "w") as out:
        out.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (ours, reference) (default 3)")
    parser.add_argument("--size", type=int, default=256, help="image side for both (default 256)")
    parser.add_argument("--steps", type=int, default=10, help="reference training steps timed (default 10)")
    parser.add_argument("--quick", action="store_true", help="tiny model for ours, 2 reference steps: a smoke test")
    parser.add_argument("--python", default=sys.executable, help="Python with tfpix2pix installed (default: this one)")
    parser.add_argument("--torch-python", default=DEFAULT_TORCH_PYTHON,
                        help=f"Python with torch for the reference (default: {DEFAULT_TORCH_PYTHON})")
    parser.add_argument("--reference", default=os.environ.get(REFERENCE_VARIABLE), metavar="PATH",
                        help=f"the PyTorch pix2pix reference script (default: ${REFERENCE_VARIABLE})")
    parser.add_argument("--best-reference", metavar="PATH",
                        help="the reference with a PyTorch user's levers, run as a second row in float32 with "
                        "--channels-last --fused (default: torch_pix2pix_best.py beside --reference, when present)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="markdown file whose side-by-side section is replaced "
                        "(created if missing; default: docs/PERFORMANCE.md); '-' for stdout only")
    parser.add_argument("--raw", help="also write every round's JSON results to this file")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark run (default 3600)")
    parser.add_argument("--bf16", action="store_true",
                        help="ours under --precision mixed_bfloat16 against the reference at its best with --bf16 "
                        "--channels-last (the float32 reference is not run); a table of its own")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if not args.reference or not os.path.isfile(args.reference):
        found = "no reference script given" if not args.reference else f"reference script {args.reference} not found"
        parser.error(f"{found}: pass --reference PATH or set {REFERENCE_VARIABLE} to the PyTorch pix2pix "
                     "reference script")

    torch, skip_note = torch_version(args.torch_python)
    if skip_note:
        skip_note = f"reference skipped: {skip_note}"
        print(skip_note, file=sys.stderr)
    ours_command = [args.python, "-m", "tfpix2pix", "bench", "--json", "--image-size", str(args.size)]
    reference_command = [args.torch_python, args.reference, "bench", "--size", str(args.size),
                         "--steps", str(2 if args.quick else args.steps), "--norm", "instance"]
    if args.quick:
        ours_command.append("--quick")
    if args.bf16:
        ours_command += ["--precision", "mixed_bfloat16"]
    load = wait_for_quiet(BUSY_LOAD, timeout=QUIET_WAIT_SECONDS)
    load_before = " / ".join(f"{value:.1f}" for value in load)
    best_path = args.best_reference or os.path.join(os.path.dirname(args.reference), "torch_pix2pix_best.py")
    best_command = [args.torch_python, best_path, "--size", str(args.size), "--steps",
                    str(2 if args.quick else args.steps), "--norm", "instance", "--channels-last",
                    *(["--bf16"] if args.bf16 else ["--fused"])]
    run_best = bool(torch) and os.path.isfile(best_path)
    ours, reference, best = [], [], []
    for index in range(args.rounds):
        print(f"round {index + 1}/{args.rounds}: tfpix2pix bench ...", file=sys.stderr, flush=True)
        ours.append(run_json(ours_command, timeout=args.timeout, what="tfpix2pix bench"))
        if torch and not args.bf16:
            print(f"round {index + 1}/{args.rounds}: reference bench ...", file=sys.stderr, flush=True)
            reference.append(run_json(reference_command, timeout=args.timeout, what="reference bench"))
        if run_best:
            print(f"round {index + 1}/{args.rounds}: reference at its best ...", file=sys.stderr, flush=True)
            best.append(run_json(best_command, timeout=args.timeout, what="best reference"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "arguments": " ".join(sys.argv[1:] if argv is None else argv) or "(defaults)",
        "size": args.size, "rounds": args.rounds, "quick": args.quick, "bf16": args.bf16, **machine.cpu_facts(),
        "busy": load[0] >= BUSY_LOAD,
        "load_before": load_before, "load_after": " / ".join(f"{value:.1f}" for value in os.getloadavg()),
        "onednn": ours[0]["machine"].get("onednn"),
        "tensorflow": ours[0]["machine"]["tensorflow"], "keras": ours[0]["machine"]["keras"], "torch": torch,
        "torch_threads": reference[0].get("threads") if reference else None,
        "commit": commit.stdout.strip() or "unknown commit",
    }
    section = table(ours, reference, facts, skip_note, best)
    print(section)
    if args.out != "-":
        write_section(args.out, section, machine_kind(facts) + (", mixed_bfloat16" if args.bf16 else ""))
        print(f"wrote {args.out}", file=sys.stderr)
    if args.raw:
        with open(args.raw, "w") as raw:
            json.dump({"facts": facts, "ours": ours, "reference": reference, "best_reference": best}, raw, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
