"""`tfpix2pix curves`: one picture of a run's training — loss parts, D health, val metrics — with the best step marked.

The training scalars come from the run's TensorBoard event files (logs/train), the validations
from metrics.jsonl. A resumed run's event files repeat the steps it trained again after its
checkpoint; a later file's values replace an earlier file's from its first step on, so each step
appears once, as the run that continued.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tensorboard.compat.proto import event_pb2

from tfpix2pix import config as config_lib, files, workdir as workdir_lib
from tfpix2pix.errors import UsageError
from tfpix2pix.train import history

LOSS_TAGS = ("loss/d_total", "loss/g_gan", "loss/g_l1")
D_HEALTH_TAGS = ("health/p_real", "health/p_generated", "health/d_accuracy")
NORM_TAGS = ("health/g_gradient_norm", "health/d_gradient_norm")


@dataclass(frozen=True)
class Curves:
    """What `write_curves` drew.

    Attributes:
        path: the PNG.
        best: the best validation (metrics.jsonl line) by `metric`, or None without validations.
        metric: the run's `train.best_metric`.
        warnings: (step, text) of the warnings the run logged.
        last_step: the last step with training scalars.
    """

    path: str
    best: dict | None
    metric: str
    warnings: tuple[tuple[int, str], ...]
    last_step: int


def read_logs(folder: str) -> tuple[dict[str, dict[int, float]], list[tuple[int, str]]]:
    """(tag -> {step: value} of the scalar summaries, [(step, text)] of the warnings) in a TensorBoard folder."""
    scalars: dict[str, dict[int, float]] = {}
    warnings: dict[int, list[str]] = {}
    names = sorted(name for name in files.listdir(folder) if name.startswith("events.out.tfevents")) \
        if files.isdir(folder) else []
    for name in names:
        started: set[str] = set()
        try:
            for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
                event = event_pb2.Event.FromString(record.numpy())
                for value in event.summary.value:
                    tag, step = value.tag, int(event.step)
                    if tag not in started:  # a resumed run's file: it replaces this tag from its first step
                        started.add(tag)
                        if tag == "warnings":
                            warnings = {s: texts for s, texts in warnings.items() if s < step}
                        elif tag in scalars:
                            scalars[tag] = {s: v for s, v in scalars[tag].items() if s < step}
                    array = tf.make_ndarray(value.tensor) if value.HasField("tensor") else np.array(value.simple_value)
                    if tag == "warnings":
                        warnings.setdefault(step, []).append(array.item().decode("utf-8", errors="replace"))
                    elif array.dtype.kind == "f" and array.size == 1:
                        scalars.setdefault(tag, {})[step] = float(array)
        except tf.errors.DataLossError:  # the file a killed run was writing ends mid-record: keep what was read
            continue
    return scalars, [(step, text) for step in sorted(warnings) for text in warnings[step]]


def write_curves(workdir: str, *, out: str | None = None) -> Curves:
    """Draws `<workdir>/curves.png` (or `out`) from the run's logs and metrics.jsonl.

    Raises:
        UsageError: not a work dir, or no training logged yet; nothing is written then.
    """
    config = workdir_lib.load_config(files.check(workdir, "--workdir"))
    out = out or os.path.join(workdir, workdir_lib.CURVES_FILE)
    files.check(out, "--out")
    if not out.lower().endswith(".png"):
        raise UsageError(f"--out {out}: the curves are a PNG; give a path ending in .png")
    scalars, warnings = read_logs(workdir_lib.train_logs_dir(workdir))
    if not any(tag in scalars for tag in LOSS_TAGS):
        raise UsageError(f"work dir {workdir} has no training logs yet ({workdir_lib.train_logs_dir(workdir)}): "
                         "train first; nothing was written")
    metric = config.train.best_metric
    validations = history.read(workdir_lib.metrics_path(workdir))
    best = history.best(validations, metric, config_lib.BEST_METRICS[metric] == "lower")
    figure = _draw(scalars, validations, warnings, best, metric, title=f"{os.path.basename(os.path.normpath(workdir))}: {config.data.dataset or 'custom data'}, "
                   f"{config.data.direction}, {config.data.image_size} px")
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    files.write_bytes(out, buffer.getvalue())
    last_step = max(max(steps) for tag, steps in scalars.items() if tag in LOSS_TAGS)
    return Curves(path=out, best=best, metric=metric, warnings=tuple(warnings), last_step=last_step)


def _series(validations: list[dict], name: str) -> dict[int, float]:
    return {entry["step"]: entry[name] for entry in validations
            if isinstance(entry.get(name), float) and math.isfinite(entry[name])}


def _line(axes, series: dict[int, float], label: str, **style) -> None:
    if series:
        steps = sorted(series)
        axes.plot(steps, [series[step] for step in steps], label=label, linewidth=1.2, **style)


def _draw(scalars, validations, warnings, best, metric: str, *, title: str) -> Figure:
    panels = 4 if validations else 3
    figure = Figure(figsize=(10, 2.6 * panels), dpi=100, layout="constrained")
    axes = figure.subplots(panels, 1, sharex=True)
    losses, d_health, norms = axes[0], axes[1], axes[2]
    figure.suptitle(title)

    for tag in LOSS_TAGS[:2]:
        _line(losses, scalars.get(tag, {}), tag.split("/")[1])
    losses.set_ylabel("GAN loss parts")
    l1_axes = losses.twinx()
    _line(l1_axes, scalars.get("loss/g_l1", {}), "g_l1 (right)", color="tab:green")
    l1_axes.set_ylabel("L1, [-1, 1] scale")
    handles = losses.get_legend_handles_labels()[0] + l1_axes.get_legend_handles_labels()[0]
    losses.legend(handles, [handle.get_label() for handle in handles], loc="upper right", fontsize="small")

    for tag in D_HEALTH_TAGS:
        _line(d_health, scalars.get(tag, {}), tag.split("/")[1])
    d_health.set_ylim(-0.02, 1.02)
    d_health.set_ylabel("D health")
    d_health.legend(loc="upper right", fontsize="small")

    for tag in NORM_TAGS:
        _line(norms, scalars.get(tag, {}), tag.split("/")[1])
    if any(scalars.get(tag) for tag in NORM_TAGS):
        norms.set_yscale("log")
        norms.legend(loc="upper right", fontsize="small")
    norms.set_ylabel("gradient norm")

    if validations:
        val, other = axes[3], axes[3].twinx()
        second = "ssim" if metric != "ssim" else "l1"
        _line(val, _series(validations, metric), f"val {metric}", color="tab:red", marker="o", markersize=3)
        _line(other, _series(validations, second), f"val {second} (right)", color="tab:purple", marker=".",
              markersize=3)
        val.set_ylabel(f"val {metric}")
        other.set_ylabel(f"val {second}")
        handles = val.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
        val.legend(handles, [handle.get_label() for handle in handles], loc="upper right", fontsize="small")

    if best is not None:
        for panel in axes:
            panel.axvline(best["step"], color="black", linestyle="--", linewidth=0.8)
        low, high = axes[-1].get_xlim()
        right_half = best["step"] > (low + high) / 2  # the label goes on the side with room
        axes[-1].annotate(f"best val {metric} {best[metric]:.4g}\nat step {best['step']}", xy=(best["step"], 0.05),
                          xycoords=("data", "axes fraction"), xytext=(-4 if right_half else 4, 0),
                          textcoords="offset points", ha="right" if right_half else "left", fontsize="small")
    for step, _ in warnings:
        losses.axvline(step, color="tab:red", alpha=0.5, linewidth=0.8)
    if warnings:
        losses.set_title(f"{len(warnings)} warning(s), marked in red (see TensorBoard's text tab)", fontsize="small",
                         color="tab:red")
    axes[-1].set_xlabel("step")
    return figure
